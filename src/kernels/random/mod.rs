//! Twin of shaders/random.wgsl (with the shaders/philox.wgsl prelude): counter-based samples and
//! the Gaussian latent head (reparameterisation, KL to N(0, I), fused forward, backward passes).
//!
//! Shapes: B = rows, D = latent dimension; mu, s, eps, z and their gradients are [B, D]; kl and
//! dkl are [B]; a fill writes n elements.
//!
//! Samples are a pure function of (seed, stream, element index offset + i): Philox4x32-10 with
//! key = seed and counter = ((offset + i) / 4, stream, 0), lane (offset + i) % 4. So they do not
//! depend on workgroup size or grid shape, and a model drawing eps for step s at
//! `offset = s * n` gets fresh, reproducible noise each step. The per-step `Rng` lives in the
//! params struct: update it with `gpu.set_params(&dispatch, &fill_params(n, rng))` (or
//! `reparam_kl_params`) instead of rebuilding the dispatch.
//!
//! Parts: this file (params, samples, shared checks), `head` (reparameterisation and KL),
//! `cpu` (Philox twin and f64 references of every entry point).

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

pub mod cpu;
mod head;

pub use head::*;

/// Default workgroup size (a multiple of lavapipe's SIMD width 8).
pub const WG: usize = 64;

/// Where samples come from: the key (`seed`), the element index of the first sample in the
/// stream (`offset`), and a stream id that separates tensors drawn with the same seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rng {
    pub seed: u64,
    pub offset: u64,
    pub stream: u32,
}

impl Rng {
    pub fn new(seed: u64, offset: u64) -> Self {
        Rng {
            seed,
            offset,
            stream: 0,
        }
    }

    pub fn with_stream(self, stream: u32) -> Self {
        Rng { stream, ..self }
    }
}

/// Mirrors the WGSL `Params` (8 x 4 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Params {
    /// fills: elements; elementwise kernels: B * D; row kernels: B.
    pub n: u32,
    /// D (row length).
    pub d: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub off_lo: u32,
    pub off_hi: u32,
    pub stream: u32,
    /// Backward: 0 = write the gradient, 1 = accumulate into the output.
    pub beta: f32,
}

impl Params {
    fn new(n: usize, d: usize, rng: Rng, accumulate: bool) -> Self {
        Params {
            n: n as u32,
            d: d as u32,
            seed_lo: rng.seed as u32,
            seed_hi: (rng.seed >> 32) as u32,
            off_lo: rng.offset as u32,
            off_hi: (rng.offset >> 32) as u32,
            stream: rng.stream,
            beta: if accumulate { 1.0 } else { 0.0 },
        }
    }
}

/// Which distribution a fill draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// Uniform in [0, 1): k * 2^-24 for a 24-bit k (never 1.0).
    Uniform,
    /// Standard normal by Box-Muller from two 24-bit uniforms (radius from u in (0, 1]).
    Normal,
    /// The raw Philox words (into a U32 buffer).
    Bits,
}

/// Largest element count a kernel of this family indexes (u32 indices with headroom for the
/// `n + 3` of a fill's block count).
const MAX_N: usize = (u32::MAX / 2) as usize;

/// The params of a fill of `n` elements from `rng`; pass to `gpu.set_params` to move a fill
/// built by `fill` to another step (same `n`).
pub fn fill_params(n: usize, rng: Rng) -> Params {
    Params::new(n, 1, rng, false)
}

/// Fill `out` (f32, n elements) with samples `offset .. offset + n` of the stream.
pub fn fill(gpu: &Gpu, dist: Dist, out: &Buf, rng: Rng) -> Result<Dispatch> {
    fill_wg(gpu, dist, out, rng, WG)
}

/// `fill` with an explicit workgroup size (results do not depend on it).
pub fn fill_wg(gpu: &Gpu, dist: Dist, out: &Buf, rng: Rng, wg: usize) -> Result<Dispatch> {
    let (entry, dtype, binding) = match dist {
        Dist::Uniform => ("fill_uniform", DType::F32, 1),
        Dist::Normal => ("fill_normal", DType::F32, 1),
        Dist::Bits => ("fill_bits", DType::U32, 10),
    };
    if out.dtype() != dtype {
        return shape_err!(
            "fill {dist:?}: out must be {dtype:?}, got {:?}",
            out.dtype()
        );
    }
    check_n("fill", out.len())?;
    check_stream_end("fill", rng, out.len())?;
    let wg = check_wg(gpu, wg)?;
    let key = KernelKey::new(Family::Random, entry).with("WG", wg as f64);
    // One invocation per Philox block; enough blocks for any offset % 4, so set_params may move
    // the offset without rebuilding the grid.
    let blocks = (out.len() + 6) / 4;
    gpu.dispatch(
        &key,
        &fill_params(out.len(), rng),
        &slots(&[(binding, out)]),
        grid_1d(gpu, blocks, wg)?,
    )
}

// ---- checks shared with `head` ---------------------------------------------------------------

fn check_n(what: &str, n: usize) -> Result<()> {
    if n > MAX_N {
        return shape_err!("{what}: {n} elements exceed the {MAX_N} a kernel can index");
    }
    Ok(())
}

/// The stream index offset + n must not wrap past 2^64 (the shader and twin would disagree on
/// where it goes).
fn check_stream_end(what: &str, rng: Rng, n: usize) -> Result<()> {
    if rng.offset.checked_add(n as u64).is_none() {
        return Err(Error::Config(format!(
            "{what}: offset {} + {n} samples runs past the end of the 2^64-element stream; \
             use a smaller offset or another stream",
            rng.offset
        )));
    }
    Ok(())
}

fn check_wg(gpu: &Gpu, wg: usize) -> Result<usize> {
    let max = (gpu.limits.max_compute_workgroup_size_x)
        .min(gpu.limits.max_compute_invocations_per_workgroup) as usize;
    if wg == 0 || wg > max {
        return Err(Error::Config(format!(
            "workgroup size {wg} is outside 1..={max} for '{}'",
            gpu.info.name
        )));
    }
    Ok(wg)
}

fn check_f32(what: &str, bufs: &[(&str, &Buf)]) -> Result<()> {
    for (name, b) in bufs {
        if b.dtype() != DType::F32 {
            return shape_err!("{what}: {name} must be F32, got {:?}", b.dtype());
        }
    }
    Ok(())
}

/// Reject a buffer passed twice (e.g. z = mu in place): outputs are bound read_write and may not
/// alias another binding of the same dispatch.
fn check_distinct(what: &str, bufs: &[(&str, &Buf)]) -> Result<()> {
    for (i, (a, x)) in bufs.iter().enumerate() {
        for (b, y) in &bufs[i + 1..] {
            if std::ptr::eq(*x, *y) {
                return shape_err!("{what}: {a} and {b} are the same buffer; use separate ones");
            }
        }
    }
    Ok(())
}

/// Buffers by binding number (1..): the file declares bindings 1..10 once, each entry point uses
/// a subset; the slots it does not use are filled with any buffer (they are not bound).
fn slots<'a>(bound: &[(u32, &'a Buf)]) -> Vec<&'a Buf> {
    let top = bound.iter().map(|(b, _)| *b).max().unwrap_or(0) as usize;
    let mut v = vec![bound[0].1; top];
    for (b, buf) in bound {
        v[*b as usize - 1] = buf;
    }
    v
}
