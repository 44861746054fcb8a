//! Datasets: IDX readers (MNIST, Fashion-MNIST), the CIFAR-10 binary reader, format
//! detection (`dataset::load`) and batching.

pub mod batch;
pub mod cifar;
pub mod dataset;
pub mod idx;
pub mod mnist;
