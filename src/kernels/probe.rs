//! Twin of shaders/probe.wgsl: the kernels that measure an adapter's ceilings (memory
//! bandwidth, arithmetic rate) for the benchmark tables. See `crate::bench`.
//!
//! Shapes: src, dst: [n] f32 copied as ceil(n / 4) vec4 (buffers are padded to 16 bytes);
//! out: [n] f32, one value per FMA-probe invocation.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, KernelKey, Result};

/// `fma_peak` workgroup size. On lavapipe 8, 32, 64 and 256 ran within 3% of each other (the
/// work per invocation dwarfs the per-workgroup cost); 64 is a safe size everywhere.
const WG: usize = 64;

/// FMA chain constants: acc = fma(acc, A, B) converges to B / (1 - A) = 1, so values stay near
/// [0, 2] for any iteration count and nothing overflows or denormalises.
pub const FMA_A: f32 = 0.999;
pub const FMA_B: f32 = 0.001;

/// FMA steps each chain runs per iteration of the shader's main loop (its `STEPS`).
pub const FMA_STEPS: u32 = 16;

/// Most steps per chain `fma_peak` accepts. lavapipe silently ends any invocation's loops
/// after 65,535 iterations in total (LP_MAX_TGSI_LOOP_ITERATIONS); the shader runs
/// iters / 16 + iters mod 16 iterations, so this keeps well clear of that.
pub const FMA_MAX_ITERS: u32 = FMA_STEPS * 60_000;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    pub n: u32,
    pub iters: u32,
    pub a: f32,
    pub b: f32,
}

/// Workgroup shape of `copy_vec4`: `wg` invocations each copying `per` vec4s.
/// On lavapipe (2 cores) 256 x 4 copied about twice as fast as 64 x 1: fewer, fuller
/// workgroups amortise its per-workgroup cost. 256 is WebGPU's default invocation limit.
pub const COPY_WG: u32 = 256;
pub const COPY_PER: u32 = 4;

/// dst = src as ceil(n / 4) vec4 (buffers are padded to 16 bytes, so the tail vec4 is whole),
/// by workgroups of `wg` invocations (a multiple of 8) each copying `per` vec4s.
pub fn copy_vec4(gpu: &Gpu, src: &Buf, dst: &Buf, wg: u32, per: u32) -> Result<Dispatch> {
    if src.len() != dst.len() || src.dtype() != dst.dtype() || src.dtype() == DType::F16 {
        return shape_err!(
            "copy_vec4: src is {} {:?}, dst {} {:?}; need equal lengths of a 4-byte type",
            src.len(),
            src.dtype(),
            dst.len(),
            dst.dtype()
        );
    }
    let max_wg = gpu.limits.max_compute_invocations_per_workgroup;
    if wg == 0 || !wg.is_multiple_of(8) || wg > max_wg.min(gpu.limits.max_compute_workgroup_size_x)
    {
        return shape_err!("copy_vec4: workgroup size {wg} must be a multiple of 8 up to {max_wg}");
    }
    if per == 0 {
        return shape_err!("copy_vec4: each invocation must copy at least one vec4");
    }
    let n4 = src.len().div_ceil(4).max(1);
    if n4 + (wg * per) as usize > u32::MAX as usize {
        return shape_err!("copy_vec4: {n4} vec4 exceed the u32 index range");
    }
    let key = KernelKey::new(Family::Probe, "copy_vec4")
        .with("WG", wg as f64)
        .with("PER", per as f64);
    let params = Params {
        n: n4 as u32,
        iters: 0,
        a: 0.0,
        b: 0.0,
    };
    let grid = grid_1d(gpu, n4, (wg * per) as usize)?;
    gpu.dispatch(&key, &params, &[src, dst], grid)
}

/// One invocation per element of `out`, each running `chains` (1..=8) vec4 FMA chains
/// acc = fma(acc, FMA_A, FMA_B) for `iters` steps (at most `FMA_MAX_ITERS`).
pub fn fma_peak(gpu: &Gpu, chains: u32, iters: u32, out: &Buf) -> Result<Dispatch> {
    fma_chains(gpu, chains, iters, FMA_A, FMA_B, out)
}

/// `fma_peak` with the chain's constants chosen by the caller: acc = fma(acc, a, b).
/// (a = 1 and b = 2^-10 keep every value exact in f32, which the tests use to count steps.)
pub fn fma_chains(
    gpu: &Gpu,
    chains: u32,
    iters: u32,
    a: f32,
    b: f32,
    out: &Buf,
) -> Result<Dispatch> {
    if !(1..=8).contains(&chains) {
        return shape_err!("fma_peak: {chains} chains; the shader has 1 to 8");
    }
    if iters > FMA_MAX_ITERS {
        return shape_err!(
            "fma_peak: {iters} steps per chain; at most {FMA_MAX_ITERS} (lavapipe stops loops \
             after 65,535 iterations)"
        );
    }
    if out.dtype() != DType::F32 || out.len() > u32::MAX as usize {
        return shape_err!("fma_peak: out must be F32 with < 2^32 elements");
    }
    let key = KernelKey::new(Family::Probe, "fma_peak")
        .with("WG", WG as f64)
        .with("CHAINS", chains as f64);
    let params = Params {
        n: out.len() as u32,
        iters,
        a,
        b,
    };
    // Bindings 1 and 2 are unused by fma_peak; the runtime binds only what the entry uses.
    gpu.dispatch(
        &key,
        &params,
        &[out, out, out],
        grid_1d(gpu, out.len(), WG)?,
    )
}

/// Floating-point operations of one `fma_peak` dispatch (an FMA counts as 2).
pub fn fma_flops(n: usize, chains: u32, iters: u32) -> f64 {
    n as f64 * chains as f64 * 4.0 * 2.0 * iters as f64
}

pub mod cpu {
    use super::{FMA_A, FMA_B};

    pub fn copy(src: &[f64]) -> Vec<f64> {
        src.to_vec()
    }

    /// What invocation i of `fma_peak` writes: the sum over its 4 * chains lanes of
    /// x_{k+1} = a x_k + b started at (i mod 1024) / 1024 + lane / 32.
    pub fn fma_peak(n: usize, chains: u32, iters: u32) -> Vec<f64> {
        fma_chains(n, chains, iters, FMA_A as f64, FMA_B as f64)
    }

    /// `fma_peak` with the chain's constants given.
    pub fn fma_chains(n: usize, chains: u32, iters: u32, a: f64, b: f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let base = (i % 1024) as f64 / 1024.0;
                (0..4 * chains)
                    .map(|lane| {
                        let mut x = base + lane as f64 / 32.0;
                        for _ in 0..iters {
                            x = x * a + b;
                        }
                        x
                    })
                    .sum()
            })
            .collect()
    }
}
