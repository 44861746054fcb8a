//! Training: the loop (`trainer`), the compiled model programs it drives (`session`), run
//! configuration, checkpoints, metrics and images.

pub mod adam_groups;
pub mod checkpoint;
pub mod commands;
pub mod config;
pub mod ema;
pub mod grids;
pub mod images;
pub mod readback;
pub mod session;
pub mod trainer;
