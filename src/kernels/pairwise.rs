//! placeholder: the pairwise family's Rust twin, filled in by its owner.
