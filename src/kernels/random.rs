//! placeholder: the random family's Rust twin, filled in by its owner.
