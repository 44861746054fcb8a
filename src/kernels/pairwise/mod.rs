//! Twin of shaders/pairwise.wgsl: squared Euclidean distances, Gaussian / inverse-multiquadric
//! kernel matrices, MMD^2 and the k-th nearest neighbour distance, with their backward passes.
//! The entropic autoencoder's k-NN entropy uses `knn`; InfoVAE uses `mmd`.
//!
//! Shapes: x [n, d], y [m, d] row-major (flat buffers; n and m follow from the length and d),
//! D / K [n, m], eps / idx [n], mmd [1]. Self case: x against itself, D [n, n].
//!
//! Parts: `distance` (D and K matrices and their gradients), `knn`, `mmd`, `cpu` (the f64
//! reference of every entry point).

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

pub mod cpu;
mod distance;
mod knn;
mod mmd;

pub use distance::*;
pub use knn::*;
pub use mmd::*;

/// Rows (and columns) per register tile: pair_forward owns TILE x TILE entries of D, the
/// other kernels TILE rows.
pub const TILE: usize = 4;
/// Largest k the kNN kernel keeps in its per-row list (KMAX in the shader).
pub const KNN_MAX_K: usize = 16;

/// Invocations per workgroup. lavapipe runs a workgroup as a loop over 8-lane SIMD chunks on
/// one thread: measured there, 8 ties 64 at n = 1024 and is up to 2x faster for the
/// row-parallel kernels at n <= 256 (kNN, MMD row sums), whose few 64-wide groups left a
/// core idle. Real GPUs want at least a full warp / wavefront.
pub fn workgroup_size(gpu: &Gpu) -> usize {
    if gpu.is_cpu() {
        8
    } else {
        64
    }
}

/// The pair function of a kernel matrix, of the squared distance D = ||x_i - y_j||^2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairKernel {
    /// K = exp(-D / s). InfoVAE's reference divides the mean over features by dim, i.e.
    /// s = dim^2 in terms of the summed D; its paper text reads as s = dim. The caller picks.
    Gaussian { s: f32 },
    /// Inverse multiquadric K = C / (C + D) (C = 2 dim sigma^2 in the WAE paper).
    Imq { c: f32 },
}

impl PairKernel {
    fn code(self) -> u32 {
        match self {
            PairKernel::Gaussian { .. } => 1,
            PairKernel::Imq { .. } => 2,
        }
    }
    fn scale(self) -> f32 {
        match self {
            PairKernel::Gaussian { s } => s,
            PairKernel::Imq { c } => c,
        }
    }
    fn check(self) -> Result<()> {
        let v = self.scale();
        if v.is_finite() && v > 0.0 {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{self:?}: the kernel's scale must be a positive finite number"
        )))
    }
}

const KIND_SQDIST: u32 = 0;
const MODE_VALUE: u32 = 0;
const MODE_WEIGHT_MAT: u32 = 1;
const MODE_WEIGHT_SCALAR: u32 = 2;
const FLAG_SKIP_DIAG: u32 = 1;
const FLAG_SYM: u32 = 2;

/// Mirrors the WGSL `Params` field by field (all 4-byte scalars: no alignment gaps).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
pub struct Params {
    pub n: u32,
    pub m: u32,
    pub d: u32,
    pub k: u32,
    pub scale: f32,
    pub coef: f32,
    pub beta: f32,
    pub flags: u32,
    pub w_rs: u32,
    pub w_ss: u32,
    pub w_off: u32,
    pub out_off: u32,
    pub c_xx: f32,
    pub c_yy: f32,
    pub c_xy: f32,
    pub _pad: u32,
}

/// Rows of a flat [rows, d] matrix, checked.
fn rows(what: &str, buf: &Buf, d: usize) -> Result<usize> {
    if buf.dtype() != DType::F32 {
        return shape_err!("{what} must be f32, is {:?}", buf.dtype());
    }
    if d == 0 {
        return shape_err!("{what}: the feature dimension d must be at least 1");
    }
    if buf.is_empty() || !buf.len().is_multiple_of(d) {
        return shape_err!(
            "{what} has {} elements, not a positive multiple of d = {d}",
            buf.len()
        );
    }
    Ok(buf.len() / d)
}

/// `buf` must hold exactly `len` elements of `dtype`.
fn expect(what: &str, buf: &Buf, len: usize, dtype: DType) -> Result<()> {
    if buf.len() != len || buf.dtype() != dtype {
        return shape_err!(
            "{what} must be {len} {dtype:?} elements, is {} {:?}",
            buf.len(),
            buf.dtype()
        );
    }
    Ok(())
}

/// Scratch or matrix sizes are indexed with u32 in the shader.
fn fits_u32(what: &str, len: usize) -> Result<()> {
    if len > u32::MAX as usize {
        return shape_err!("{what} needs {len} elements, more than a shader can index (2^32)");
    }
    Ok(())
}

fn beta(accumulate: bool) -> f32 {
    if accumulate {
        1.0
    } else {
        0.0
    }
}

/// Buffers of one dispatch by role; `list` lays them out in binding order 1.. (a, b, a as
/// vec4, b as vec4, w, out, idx, ex). A slot the entry point does not use is never bound, so
/// it is filled with `a`.
struct Binds<'a> {
    a: &'a Buf,
    b: &'a Buf,
    w: Option<&'a Buf>,
    out: &'a Buf,
    idx: Option<&'a Buf>,
    ex: Option<&'a Buf>,
}

impl<'a> Binds<'a> {
    fn list(&self) -> Vec<&'a Buf> {
        let f = self.a;
        vec![
            self.a,
            self.b,
            self.a,
            self.b,
            self.w.unwrap_or(f),
            self.out,
            self.idx.unwrap_or(f),
            self.ex.unwrap_or(f),
        ]
    }
}

/// Build one dispatch of `entry` over `invocations` invocations.
fn launch(
    gpu: &Gpu,
    entry: &'static str,
    kind: u32,
    mode: u32,
    params: &Params,
    binds: &Binds,
    invocations: usize,
) -> Result<Dispatch> {
    let wg = workgroup_size(gpu);
    let key = KernelKey::new(Family::Pairwise, entry)
        .with("WG", wg as f64)
        .with("V4", params.d.is_multiple_of(4) as u32 as f64)
        .with("KIND", kind as f64)
        .with("MODE", mode as f64);
    gpu.dispatch(&key, params, &binds.list(), grid_1d(gpu, invocations, wg)?)
}
