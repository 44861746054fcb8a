//! placeholder: the reduce family's Rust twin, filled in by its owner.
