//! Datasets: IDX readers (MNIST, Fashion-MNIST) and batching.

pub mod batch;
pub mod idx;
pub mod mnist;
