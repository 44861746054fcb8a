//! Twin of shaders/pool.wgsl (issue 4: Deep InfoMax's conv encoder and feature maps), NCHW:
//! - `max_pool` / `max_pool_backward`: k x k max pooling at stride s with PyTorch MaxPool2d
//!   semantics (no padding, floor mode), the argmax saved for the backward;
//! - `global_avg_pool`, `global_max_pool` ([N, C, H, W] -> [N, C]) and their backward.
//!
//! Shapes: x, dx [N, C, H, W]; max_pool's y, arg, dy [N, C, OH, OW] with
//! OH = floor((H - k) / s) + 1 (OW likewise); global pooling's y, arg, dy [N, C]. P = N*C
//! planes, HW = H*W. `arg` (u32) holds the argmax's position inside its input plane,
//! ih * W + iw (PyTorch's `return_indices`): the first maximum in row-major order wins, NaN
//! beats every number.
//!
//! Backward entry points write or accumulate dx (`accumulate`); inputs that get no gradient
//! are written 0, or left unchanged when accumulating.

pub mod cpu;
mod global;
mod max;

pub use global::{
    global_avg_pool, global_avg_pool_backward, global_avg_pool_scratch_len, global_max_pool,
    global_max_pool_backward, global_max_pool_scratch_len, GlobalPoolSpec,
};
pub use max::{max_pool, max_pool_backward, MaxPoolSpec};

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, KernelKey, Result};

/// Threads per workgroup (a multiple of lavapipe's 8-wide SIMD).
const WG: usize = 64;

/// Mirrors the WGSL `Params` (binding 0); fields an entry point does not use stay 0.
#[repr(C)]
#[derive(Clone, Copy, Default, Pod, Zeroable)]
struct Params {
    n: u32,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    k: u32,
    s: u32,
    seg: u32,
    nseg: u32,
    hw: u32,
    chunk: u32,
    nchunks: u32,
    scale: f32,
    beta: f32,
}

// Binding numbers of shaders/pool.wgsl (see the file header).
const X: u32 = 1;
const X2: u32 = 2;
const X4: u32 = 3;
const Y: u32 = 4;
const ARG: u32 = 5;
const S: u32 = 6;
const DY: u32 = 7;
const ARGR: u32 = 8;
const DX: u32 = 9;
const DX4: u32 = 10;
const DX2: u32 = 11;

/// One buffer argument: name (for errors), expected length and dtype, written or not.
struct Arg<'a> {
    name: &'static str,
    buf: &'a Buf,
    len: usize,
    dtype: DType,
    written: bool,
}

fn arg<'a>(name: &'static str, buf: &'a Buf, len: usize, dtype: DType) -> Arg<'a> {
    Arg {
        name,
        buf,
        len,
        dtype,
        written: false,
    }
}

fn out<'a>(name: &'static str, buf: &'a Buf, len: usize, dtype: DType) -> Arg<'a> {
    Arg {
        written: true,
        ..arg(name, buf, len, dtype)
    }
}

/// Check lengths, dtypes and that no written buffer shares memory with another argument, then
/// build the dispatch with the buffers in binding order (an argument may fill several
/// bindings: its f32, vec2 and vec4 views; the entry point binds only the one it uses).
fn launch(
    gpu: &Gpu,
    what: &str,
    key: KernelKey,
    params: &Params,
    args: &[(Arg, &[u32])],
) -> Result<Dispatch> {
    for (a, _) in args {
        if a.buf.len() != a.len || a.buf.dtype() != a.dtype {
            return shape_err!(
                "{what}: {} is {} {:?} elements, expected {} {:?}",
                a.name,
                a.buf.len(),
                a.buf.dtype(),
                a.len,
                a.dtype
            );
        }
    }
    for (i, (a, _)) in args.iter().enumerate() {
        for (o, _) in &args[i + 1..] {
            if (a.written || o.written) && a.buf.raw() == o.buf.raw() {
                return shape_err!(
                    "{what}: {} and {} share a buffer, but a kernel cannot write a buffer it \
                     also reads or writes through another argument; give each its own",
                    a.name,
                    o.name
                );
            }
        }
    }
    let top = args
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .max()
        .unwrap_or(1) as usize;
    let mut slots = vec![args[0].0.buf; top];
    for (a, bindings) in args {
        for &b in *bindings {
            slots[b as usize - 1] = a.buf;
        }
    }
    let groups = grid_1d(gpu, params.n as usize, WG)?;
    gpu.dispatch(&key.with("WG", WG as f64), params, &slots, groups)
}

fn key(entry: &'static str) -> KernelKey {
    KernelKey::new(Family::Pool, entry)
}

fn beta(accumulate: bool) -> f32 {
    if accumulate {
        1.0
    } else {
        0.0
    }
}

/// Element counts the shader indexes with u32.
fn fits_u32(what: &str, n: usize) -> Result<u32> {
    match u32::try_from(n) {
        Ok(v) => Ok(v),
        Err(_) => shape_err!("{what}: {n} elements exceed the 2^32 a kernel can index"),
    }
}
