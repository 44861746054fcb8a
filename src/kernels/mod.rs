//! The kernel library: one Rust twin per file in `shaders/`.
//!
//! Each twin module owns, for its family:
//! - the `#[repr(C)]` params struct (binding 0, a uniform) that mirrors the WGSL `Params`;
//! - functions that build `Dispatch`es for the forward and backward entry points, checking
//!   shapes and choosing workgroup counts (storage buffers bind at 1.. in argument order);
//! - `pub mod cpu`: the f64 reference of every entry point, the oracle the tests compare with.
//!
//! Shape legend used across the twins: B = batch rows, F = features (columns), M x K times
//! K x N for matmul, C/H/W = channels/height/width, D = latent dimension.

pub mod batchnorm;
pub mod conv;
pub mod elementwise;
pub mod layout;
pub mod loss;
pub mod matmul;
pub mod optimizer;
pub mod pairwise;
pub mod pool;
pub mod probe;
pub mod random;
pub mod reduce;
pub mod shuffle;
pub mod topk;

use crate::{Gpu, Result};

/// The shader families. Each maps to one WGSL file (plus shared preludes it builds on); the
/// f32/f16 twins (Matmul/MatmulF16, Elementwise/ElementwiseF16) share their file and differ
/// only in the storage prelude that defines its element type `Elem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Matmul,
    MatmulF16,
    Elementwise,
    ElementwiseF16,
    Reduce,
    BatchNorm,
    Random,
    Loss,
    Pairwise,
    Shuffle,
    Optimizer,
    Layout,
    Probe,
    Conv,
    Pool,
    Topk,
}

const PHILOX: &str = include_str!("../../shaders/philox.wgsl");
const STORAGE_F32: &str = include_str!("../../shaders/storage_f32.wgsl");
const STORAGE_F16: &str = include_str!("../../shaders/storage_f16.wgsl");

impl Family {
    pub const ALL: [Family; 16] = [
        Family::Matmul,
        Family::MatmulF16,
        Family::Elementwise,
        Family::ElementwiseF16,
        Family::Reduce,
        Family::BatchNorm,
        Family::Random,
        Family::Loss,
        Family::Pairwise,
        Family::Shuffle,
        Family::Optimizer,
        Family::Layout,
        Family::Probe,
        Family::Conv,
        Family::Pool,
        Family::Topk,
    ];

    /// The family's own file under shaders/ (shared by the f32 and f16 twins).
    pub fn file(self) -> &'static str {
        match self {
            Family::Matmul | Family::MatmulF16 => "matmul.wgsl",
            Family::Elementwise | Family::ElementwiseF16 => "elementwise.wgsl",
            Family::Reduce => "reduce.wgsl",
            Family::BatchNorm => "batchnorm.wgsl",
            Family::Random => "random.wgsl",
            Family::Loss => "loss.wgsl",
            Family::Pairwise => "pairwise.wgsl",
            Family::Shuffle => "shuffle.wgsl",
            Family::Optimizer => "optimizer.wgsl",
            Family::Layout => "layout.wgsl",
            Family::Probe => "probe.wgsl",
            Family::Conv => "conv.wgsl",
            Family::Pool => "pool.wgsl",
            Family::Topk => "topk.wgsl",
        }
    }

    fn own_source(self) -> &'static str {
        match self {
            Family::Matmul | Family::MatmulF16 => include_str!("../../shaders/matmul.wgsl"),
            Family::Elementwise | Family::ElementwiseF16 => {
                include_str!("../../shaders/elementwise.wgsl")
            }
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Family::Random => include_str!("../../shaders/random.wgsl"),
            Family::Loss => include_str!("../../shaders/loss.wgsl"),
            Family::Pairwise => include_str!("../../shaders/pairwise.wgsl"),
            Family::Shuffle => include_str!("../../shaders/shuffle.wgsl"),
            Family::Optimizer => include_str!("../../shaders/optimizer.wgsl"),
            Family::Layout => include_str!("../../shaders/layout.wgsl"),
            Family::Probe => include_str!("../../shaders/probe.wgsl"),
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::Pool => include_str!("../../shaders/pool.wgsl"),
            Family::Topk => include_str!("../../shaders/topk.wgsl"),
        }
    }

    /// Shared WGSL the family's file builds on (WGSL has no #include; we prepend). The f16
    /// storage prelude opens with `enable f16;`, which must be the module's first text, so it
    /// always comes first.
    pub fn preludes(self) -> &'static [&'static str] {
        match self {
            Family::Matmul | Family::Elementwise => &[STORAGE_F32],
            Family::MatmulF16 | Family::ElementwiseF16 => &[STORAGE_F16],
            Family::Random | Family::Shuffle => &[PHILOX],
            _ => &[],
        }
    }

    /// The complete WGSL handed to the compiler: preludes, then the family's file.
    pub fn source(self) -> String {
        let mut s: String = self.preludes().concat();
        s.push_str(self.own_source());
        s
    }

    /// Device features the family's shaders need.
    pub fn required_features(self) -> wgpu::Features {
        match self {
            Family::MatmulF16 | Family::ElementwiseF16 => wgpu::Features::SHADER_F16,
            _ => wgpu::Features::empty(),
        }
    }
}

/// Workgroup count for a 1-D kernel over `n` elements with `per_group` elements per workgroup,
/// folded into a grid the adapter can launch (see `Gpu::grid`).
pub fn grid_1d(gpu: &Gpu, n: usize, per_group: usize) -> Result<[u32; 3]> {
    gpu.grid((n as u64).div_ceil(per_group as u64))
}
