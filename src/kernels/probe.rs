//! placeholder: the probe family's Rust twin, filled in by its owner.
