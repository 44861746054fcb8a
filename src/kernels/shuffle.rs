//! placeholder: the shuffle family's Rust twin, filled in by its owner.
