//! The conv family's Rust twin (issue 4): filled in by its owner.
