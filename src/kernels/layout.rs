//! placeholder: the layout family's Rust twin, filled in by its owner.
