//! placeholder: the loss family's Rust twin, filled in by its owner.
