//! shadergrad: training information-theoretic representation-learning models on hand-written
//! WGSL compute shaders, dispatched through wgpu on Vulkan, Metal, DX12 or GL (and on machines
//! without a GPU through Mesa's lavapipe).
//!
//! Layout (see DESIGN.md): `gpu` owns the device, buffers, pipelines and command recording;
//! `kernels` has one Rust twin per file in `shaders/` with its f64 CPU reference.

pub mod bench;
pub mod data;
pub mod error;
pub mod eval;
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod models;
pub mod nn;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
pub use gpu::{Buf, DType, Dispatch, Gpu, GpuOptions, KernelKey};
