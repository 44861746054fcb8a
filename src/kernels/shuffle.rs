//! Twin of shaders/shuffle.wgsl: row gathers through a permutation (forward and backward) and
//! GPU-made random permutations / derangements of the batch.
//!
//! Shapes: B = rows, F = features; x, y, dy, dx: [B, F] f32; perm: [B] u32 (y[i] = x[perm[i]]);
//! scratch: [permutation_scratch_len(B)] u32.
//!
//! `permutation` is a pure function of (seed, step, B, kind): the same on every run and for any
//! workgroup size, and equal to `cpu::permutation`. Per training step, move it to the next step
//! with `gpu.set_params(d, &permutation_params(..))` on each returned dispatch.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

/// Default workgroup size (a multiple of lavapipe's SIMD width 8).
pub const WG: usize = 64;

/// Largest batch `permutation` accepts: ranking is O(B^2) (4 * 10^9 key comparisons at this
/// size); shuffle larger sets on the host and pass the permutation with `upload_permutation`.
pub const MAX_PERMUTATION_B: usize = 1 << 16;

/// Mirrors the WGSL `Params` (8 x 4 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub b: u32,
    pub f: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub step_lo: u32,
    pub step_hi: u32,
    /// 0 = uniform permutation, 1 = derangement (random B-cycle).
    pub derange: u32,
    /// Backward: 0 = write dx, 1 = accumulate into it.
    pub beta: f32,
}

/// What kind of permutation `permutation` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermKind {
    /// Uniformly random over all B! permutations: perm[i] = rank of row i's random key.
    Uniform,
    /// No fixed points (perm[i] != i): a uniformly random B-cycle, the distribution of
    /// Sattolo's algorithm, made as "the row after i in the random key order, cyclically".
    /// For Deep InfoMax negatives, which must never pair an item with itself. Needs B >= 2.
    Derangement,
}

/// Scratch (u32 elements) `permutation` needs for B rows: one 64-bit sort key per row.
pub fn permutation_scratch_len(b: usize) -> usize {
    2 * b
}

/// The params of `permutation` at (seed, step); pass to `gpu.set_params` on both returned
/// dispatches to move them to another step.
pub fn permutation_params(b: usize, seed: u64, step: u64, kind: PermKind) -> Params {
    Params {
        b: b as u32,
        f: 0,
        seed_lo: seed as u32,
        seed_hi: (seed >> 32) as u32,
        step_lo: step as u32,
        step_hi: (step >> 32) as u32,
        derange: (kind == PermKind::Derangement) as u32,
        beta: 0.0,
    }
}

/// Write a random permutation of 0..B (B = perm.len()) made from (seed, step) into `perm`.
/// Two passes (sort keys into `scratch`, then ranks), in this order.
pub fn permutation(
    gpu: &Gpu,
    perm: &Buf,
    scratch: &Buf,
    seed: u64,
    step: u64,
    kind: PermKind,
) -> Result<Vec<Dispatch>> {
    permutation_wg(gpu, perm, scratch, seed, step, kind, WG)
}

/// `permutation` with an explicit workgroup size (the result does not depend on it).
pub fn permutation_wg(
    gpu: &Gpu,
    perm: &Buf,
    scratch: &Buf,
    seed: u64,
    step: u64,
    kind: PermKind,
    wg: usize,
) -> Result<Vec<Dispatch>> {
    let b = perm.len();
    check_permutation_size(b, kind)?;
    check_dtype(
        "permutation",
        &[("perm", perm, DType::U32), ("scratch", scratch, DType::U32)],
    )?;
    if scratch.len() < permutation_scratch_len(b) {
        return shape_err!(
            "permutation: scratch has {} elements; B = {b} needs permutation_scratch_len = {}",
            scratch.len(),
            permutation_scratch_len(b)
        );
    }
    if std::ptr::eq(perm, scratch) {
        return shape_err!("permutation: perm and scratch are the same buffer");
    }
    let max = gpu
        .limits
        .max_compute_workgroup_size_x
        .min(gpu.limits.max_compute_invocations_per_workgroup) as usize;
    if wg == 0 || wg > max {
        return Err(Error::Config(format!(
            "workgroup size {wg} is outside 1..={max} for '{}'",
            gpu.info.name
        )));
    }
    let params = permutation_params(b, seed, step, kind);
    let grid = grid_1d(gpu, b, wg)?;
    let key = |entry| KernelKey::new(Family::Shuffle, entry).with("WG", wg as f64);
    Ok(vec![
        gpu.dispatch(&key("perm_keys"), &params, &[perm, scratch], grid)?,
        gpu.dispatch(&key("perm_rank"), &params, &[perm, scratch], grid)?,
    ])
}

fn check_permutation_size(b: usize, kind: PermKind) -> Result<()> {
    if b == 0 {
        return shape_err!("permutation: B = 0; there is nothing to permute");
    }
    if b == 1 && kind == PermKind::Derangement {
        return Err(Error::Config(
            "a derangement of a batch of 1 is impossible (its only row would have to pair with \
             itself); use B >= 2 for shuffled negatives"
                .into(),
        ));
    }
    if b > MAX_PERMUTATION_B {
        return Err(Error::Limit(format!(
            "permutation: B = {b} exceeds {MAX_PERMUTATION_B} (the GPU ranking is O(B^2)); \
             shuffle on the host and use upload_permutation"
        )));
    }
    Ok(())
}

fn check_dtype(what: &str, bufs: &[(&str, &Buf, DType)]) -> Result<()> {
    for (name, buf, dtype) in bufs {
        if buf.dtype() != *dtype {
            return shape_err!("{what}: {name} must be {dtype:?}, got {:?}", buf.dtype());
        }
    }
    Ok(())
}

/// Upload a host permutation after checking it is one (each of 0..len exactly once): the
/// gather's backward relies on that to scatter without collisions.
pub fn upload_permutation(gpu: &Gpu, perm: &[u32]) -> Result<Buf> {
    cpu::check_permutation(perm)?;
    gpu.upload(perm)
}

/// Shared checks of gather and its backward: shapes, types, no aliasing, u32 indexing.
fn check_gather(what: &str, perm: &Buf, a: &Buf, b_out: &Buf, b: usize, f: usize) -> Result<()> {
    check_dtype(
        what,
        &[
            ("perm", perm, DType::U32),
            ("input", a, DType::F32),
            ("output", b_out, DType::F32),
        ],
    )?;
    let n = b.saturating_mul(f);
    if n > u32::MAX as usize {
        return shape_err!("{what}: B * F = {b} * {f} exceeds the 2^32 elements a kernel indexes");
    }
    if perm.len() != b {
        return shape_err!("{what}: perm has {} entries for B = {b} rows", perm.len());
    }
    for (name, buf) in [("input", a), ("output", b_out)] {
        if buf.len() != n {
            return shape_err!(
                "{what}: {name} has {} elements, expected B * F = {b} * {f} = {n}",
                buf.len()
            );
        }
    }
    if std::ptr::eq(a, b_out) {
        return shape_err!(
            "{what}: input and output are the same buffer (a gather cannot run in place)"
        );
    }
    Ok(())
}

fn gather_params(b: usize, f: usize, accumulate: bool) -> Params {
    Params {
        b: b as u32,
        f: f as u32,
        beta: if accumulate { 1.0 } else { 0.0 },
        ..Params::zeroed()
    }
}

/// y[i, :] = x[perm[i], :] for x, y: [B, F].
pub fn gather(gpu: &Gpu, perm: &Buf, x: &Buf, y: &Buf, b: usize, f: usize) -> Result<Dispatch> {
    check_gather("gather", perm, x, y, b, f)?;
    let key = KernelKey::new(Family::Shuffle, "gather_forward").with("WG", WG as f64);
    // Bindings 1 perm, 3 x, 4 y (binding 2 is not used; any buffer fills its slot).
    gpu.dispatch(
        &key,
        &gather_params(b, f, false),
        &[perm, perm, x, y],
        grid_1d(gpu, b * f, WG)?,
    )
}

/// Backward of `gather`: dx[perm[i], :] = dy[i, :] (or += with `accumulate`).
pub fn gather_backward(
    gpu: &Gpu,
    perm: &Buf,
    dy: &Buf,
    dx: &Buf,
    b: usize,
    f: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    check_gather("gather_backward", perm, dy, dx, b, f)?;
    let key = KernelKey::new(Family::Shuffle, "gather_backward").with("WG", WG as f64);
    // Bindings 1 perm, 5 dy, 6 dx.
    gpu.dispatch(
        &key,
        &gather_params(b, f, accumulate),
        &[perm, perm, perm, perm, dy, dx],
        grid_1d(gpu, b * f, WG)?,
    )
}

/// References: the permutation by sorting (an independent route to the GPU's O(B^2) ranking),
/// and the f64 gather and its backward.
pub mod cpu {
    use super::{check_permutation_size, PermKind};
    use crate::kernels::random::cpu::philox4x32_10;
    use crate::{Error, Result};

    /// Counter word 3 of shuffle draws (shuffle.wgsl's SHUFFLE_TAG).
    pub const SHUFFLE_TAG: u32 = 0x5368_7566;

    /// Row i's 64-bit sort key at (seed, step).
    pub fn sort_key(seed: u64, step: u64, i: u32) -> u64 {
        let w = philox4x32_10(
            [i, step as u32, (step >> 32) as u32, SHUFFLE_TAG],
            [seed as u32, (seed >> 32) as u32],
        );
        ((w[0] as u64) << 32) | w[1] as u64
    }

    /// The permutation `super::permutation` makes: rows sorted by (key, index); Uniform gives
    /// each row its rank, Derangement the row after it (the last row wraps to the first).
    pub fn permutation(b: usize, seed: u64, step: u64, kind: PermKind) -> Result<Vec<u32>> {
        check_permutation_size(b, kind)?;
        let mut order: Vec<u32> = (0..b as u32).collect();
        order.sort_by_key(|&i| (sort_key(seed, step, i), i));
        let mut perm = vec![0u32; b];
        for (r, &i) in order.iter().enumerate() {
            perm[i as usize] = match kind {
                PermKind::Uniform => r as u32,
                PermKind::Derangement => order[(r + 1) % b],
            };
        }
        Ok(perm)
    }

    /// Ok if `perm` holds each of 0..len exactly once.
    pub fn check_permutation(perm: &[u32]) -> Result<()> {
        let mut seen = vec![false; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            let slot = seen.get_mut(p as usize).ok_or_else(|| {
                Error::Shape(format!(
                    "perm[{i}] = {p} is outside 0..{} (not a permutation)",
                    perm.len()
                ))
            })?;
            if *slot {
                return Err(Error::Shape(format!(
                    "perm[{i}] = {p} appears twice (not a permutation)"
                )));
            }
            *slot = true;
        }
        Ok(())
    }

    /// y[i, :] = x[perm[i], :], rows of length f.
    pub fn gather(perm: &[u32], x: &[f64], f: usize) -> Vec<f64> {
        perm.iter()
            .flat_map(|&p| &x[p as usize * f..(p as usize + 1) * f])
            .copied()
            .collect()
    }

    /// dx[perm[i], :] = dy[i, :]  (d y[i, c] / d x[j, c] = [perm[i] == j]).
    pub fn gather_backward(perm: &[u32], dy: &[f64], f: usize) -> Vec<f64> {
        let mut dx = vec![0.0; dy.len()];
        for (i, &p) in perm.iter().enumerate() {
            for c in 0..f {
                dx[p as usize * f + c] += dy[i * f + c];
            }
        }
        dx
    }
}
