//! Twin of shaders/topk.wgsl: per query, the k best-scoring candidates (largest score first,
//! ties by lower candidate index), merged over blocks of candidates; k-NN retrieval's
//! selection step.
//!
//! Shapes: s [cands, queries] f32 (candidate-major: s[c * queries + q]); vals [queries, k] f32
//! and idx [queries, k] u32, each query's list best first. Candidate c of s has the global
//! index `base + c`. Unused slots (fewer than k non-NaN candidates seen) hold `EMPTY_V` / `NONE`.
//!
//! `topk` returns one dispatch per segment of candidates, in order: each invocation (one query)
//! loops over its segment serially, and lavapipe silently stops an invocation's loops after
//! 65,535 iterations in total, so a segment is at most `segment_len(k)` candidates.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, KernelKey, Result};

/// Largest k (KMAX in the shader: the length of the private lists).
pub const KMAX: usize = 64;
/// Index of an unused slot.
pub const NONE: u32 = u32::MAX;
/// Score of an unused slot.
pub const EMPTY_V: f32 = -f32::MAX;
/// Loop iterations one invocation may run per dispatch: half of lavapipe's silent cap of
/// 65,535 (LP_MAX_TGSI_LOOP_ITERATIONS), as a margin.
pub const LOOP_BUDGET: usize = 32_768;

/// Mirrors the WGSL `Params` (8 x 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub queries: u32,
    pub k: u32,
    pub c0: u32,
    pub c1: u32,
    pub base: u32,
    pub merge: u32,
    pub _pad: [u32; 2],
}

/// One top-k selection over a block of `cands` candidates for `queries` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopkSpec {
    pub cands: usize,
    pub queries: usize,
    pub k: usize,
    /// Global index of the block's first candidate.
    pub base: usize,
    /// Continue the lists already in vals / idx (a later block); false starts empty lists.
    pub merge: bool,
}

/// Candidates one dispatch scans: an invocation runs at most 2 k + seg (k + 5/4) loop
/// iterations (list load and store; per candidate a quarter of a scan iteration, one of the
/// per-candidate loop of a group that may enter, and an insertion shift of up to k: every
/// candidate enters when the scores ascend), kept within `LOOP_BUDGET` with seg (k + 2).
pub fn segment_len(k: usize) -> usize {
    (LOOP_BUDGET - 2 * k.min(KMAX)) / (k.min(KMAX) + 2)
}

/// Invocations per workgroup: one SIMD group on CPU adapters (lavapipe runs a workgroup as a
/// loop over 8-lane groups on one thread, so small groups spread a few hundred queries over
/// every core); a full warp / wavefront elsewhere.
fn workgroup_size(gpu: &Gpu) -> usize {
    if gpu.is_cpu() {
        8
    } else {
        64
    }
}

fn check(spec: &TopkSpec, s: &Buf, vals: &Buf, idx: &Buf) -> Result<()> {
    let TopkSpec {
        cands,
        queries,
        k,
        base,
        ..
    } = *spec;
    if cands == 0 || queries == 0 {
        return shape_err!("topk: {cands} candidates x {queries} queries; both must be >= 1");
    }
    if k == 0 || k > KMAX {
        return shape_err!("topk: k = {k} must be in 1..={KMAX}");
    }
    let n = cands.saturating_mul(queries);
    if n > u32::MAX as usize || queries.saturating_mul(k) > u32::MAX as usize {
        return shape_err!(
            "topk: {cands} x {queries} scores exceed the 2^32 elements a kernel indexes; \
             split the candidates or queries into blocks"
        );
    }
    if base.saturating_add(cands) >= NONE as usize {
        return shape_err!(
            "topk: candidate indices up to {} collide with the unused-slot marker {NONE}",
            base.saturating_add(cands)
        );
    }
    for (name, buf, len, dtype) in [
        ("s", s, n, DType::F32),
        ("vals", vals, queries * k, DType::F32),
        ("idx", idx, queries * k, DType::U32),
    ] {
        if buf.len() != len || buf.dtype() != dtype {
            return shape_err!(
                "topk: {name} must be {len} {dtype:?} elements ({cands} candidates, {queries} \
                 queries, k = {k}), is {} {:?}",
                buf.len(),
                buf.dtype()
            );
        }
    }
    if vals.raw() == idx.raw() || vals.raw() == s.raw() || idx.raw() == s.raw() {
        return shape_err!("topk: s, vals and idx must be three different buffers");
    }
    Ok(())
}

/// Merge the candidates of `s` into every query's top-k list: one dispatch per segment of
/// `segment_len(k)` candidates, to run in the returned order (the first starts empty lists
/// unless `spec.merge`).
pub fn topk(gpu: &Gpu, spec: &TopkSpec, s: &Buf, vals: &Buf, idx: &Buf) -> Result<Vec<Dispatch>> {
    topk_segments(gpu, spec, segment_len(spec.k), s, vals, idx)
}

/// `topk` with an explicit segment length (tests; at most `segment_len(k)`).
pub fn topk_segments(
    gpu: &Gpu,
    spec: &TopkSpec,
    seg: usize,
    s: &Buf,
    vals: &Buf,
    idx: &Buf,
) -> Result<Vec<Dispatch>> {
    check(spec, s, vals, idx)?;
    if seg == 0 || seg > segment_len(spec.k) {
        return shape_err!(
            "topk: segment of {seg} candidates; use 1..={} for k = {} (lavapipe's loop cap)",
            segment_len(spec.k),
            spec.k
        );
    }
    let wg = workgroup_size(gpu);
    let key = KernelKey::new(Family::Topk, "topk_merge").with("WG", wg as f64);
    let grid = grid_1d(gpu, spec.queries, wg)?;
    (0..spec.cands)
        .step_by(seg)
        .enumerate()
        .map(|(i, c0)| {
            let params = Params {
                queries: spec.queries as u32,
                k: spec.k as u32,
                c0: c0 as u32,
                c1: (c0 + seg).min(spec.cands) as u32,
                base: spec.base as u32,
                merge: (spec.merge || i > 0) as u32,
                _pad: [0; 2],
            };
            gpu.dispatch(&key, &params, &[s, vals, idx], grid)
        })
        .collect()
}

/// f64 reference of `topk_merge` (over all candidates at once: the result does not depend on
/// the segments).
pub mod cpu {
    use super::{EMPTY_V, NONE};

    /// The lists after merging the scores s [cands, queries] (global index base + c) into
    /// `init` (vals, idx) [queries, k], or into empty lists. Returns (vals, idx).
    pub fn topk(
        s: &[f64],
        cands: usize,
        queries: usize,
        k: usize,
        base: usize,
        init: Option<(&[f64], &[u32])>,
    ) -> (Vec<f64>, Vec<u32>) {
        assert_eq!(s.len(), cands * queries, "s is [cands, queries]");
        let mut vals = Vec::with_capacity(queries * k);
        let mut idx = Vec::with_capacity(queries * k);
        for q in 0..queries {
            let mut list: Vec<(f64, u32)> = (0..cands)
                .map(|c| (s[c * queries + q], (base + c) as u32))
                .filter(|(v, _)| !v.is_nan())
                .collect();
            if let Some((v0, i0)) = init {
                list.extend(
                    (0..k)
                        .map(|j| (v0[q * k + j], i0[q * k + j]))
                        .filter(|&(_, i)| i != NONE),
                );
            }
            // Larger first, then lower index first (NaN is filtered out; -0 == 0 as in f32).
            list.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            for j in 0..k {
                let (v, i) = list.get(j).copied().unwrap_or((EMPTY_V as f64, NONE));
                vals.push(v);
                idx.push(i);
            }
        }
        (vals, idx)
    }
}
