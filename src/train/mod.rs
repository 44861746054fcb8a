//! Training support: checkpoints (and, with the training loop, metrics, image grids and
//! evaluation).

pub mod checkpoint;
pub mod images;
