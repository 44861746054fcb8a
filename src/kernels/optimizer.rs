//! placeholder: the optimizer family's Rust twin, filled in by its owner.
