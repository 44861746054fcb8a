//! Dispatch plumbing shared by the batchnorm entry points: the params struct, the named
//! binding slots, and the level dispatches of the per-feature pair sums (see the shader).

use bytemuck::{Pod, Zeroable};

use super::BatchNormSpec;
use crate::kernels::reduce::levels;
use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, Dispatch, Gpu, KernelKey, Result};

pub(super) const WG: usize = 64;

/// Mirrors the shader's `Params` field by field (meanings documented there).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
pub struct Params {
    pub feats: u32,
    pub inner: u32,
    pub count: u32,
    pub n: u32,
    pub len: u32,
    pub chunk: u32,
    pub nchunks: u32,
    pub in_off: u32,
    pub out_off: u32,
    pub eps: f32,
    pub momentum: f32,
    pub beta: f32,
    pub inv_count: f32,
}

/// The shader's bindings 1..=13 by name. A dispatch binds only what its entry point uses; the
/// others are filled with any given buffer to keep positions (they are never bound).
#[derive(Default, Clone, Copy)]
pub(super) struct Slots<'a> {
    pub(super) x: Option<&'a Buf>,
    pub(super) dy: Option<&'a Buf>,
    pub(super) mean: Option<&'a Buf>,
    pub(super) r: Option<&'a Buf>,
    pub(super) gamma: Option<&'a Buf>,
    pub(super) shift: Option<&'a Buf>,
    pub(super) out: Option<&'a Buf>,
    pub(super) s: Option<&'a Buf>,
    pub(super) var: Option<&'a Buf>,
    pub(super) run_mean: Option<&'a Buf>,
    pub(super) run_var: Option<&'a Buf>,
    pub(super) dgamma: Option<&'a Buf>,
    pub(super) dbeta: Option<&'a Buf>,
}

impl<'a> Slots<'a> {
    pub(super) fn list(&self) -> Vec<&'a Buf> {
        let all = [
            self.x,
            self.dy,
            self.mean,
            self.r,
            self.gamma,
            self.shift,
            self.out,
            self.s,
            self.var,
            self.run_mean,
            self.run_var,
            self.dgamma,
            self.dbeta,
        ];
        let filler = all.iter().flatten().next().copied();
        all.iter().filter_map(|b| b.or(filler)).collect::<Vec<_>>()
    }
}

pub(super) fn base_params(spec: &BatchNormSpec) -> Params {
    Params {
        feats: spec.features() as u32,
        inner: spec.inner() as u32,
        count: spec.count() as u32,
        n: spec.numel() as u32,
        eps: spec.eps,
        momentum: spec.momentum,
        inv_count: (1.0 / spec.count() as f64) as f32,
        ..Default::default()
    }
}

pub(super) fn key(entry: &'static str, eval: bool) -> KernelKey {
    KernelKey::new(Family::BatchNorm, entry)
        .with("WG", WG as f64)
        .with("EVAL", if eval { 1.0 } else { 0.0 })
}

pub(super) fn flag(on: bool) -> f32 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// Floats of scratch the per-feature sums need: pairs for every level, the last included (its
/// single pair per feature is what the finishing kernels read).
pub(super) fn sums_scratch_len(spec: &BatchNormSpec) -> usize {
    let chunks: usize = levels(spec.count()).iter().map(|l| l.nchunks).sum();
    2 * spec.features() * chunks
}

pub(super) fn check_scratch(what: &str, spec: &BatchNormSpec, scratch: &Buf) -> Result<()> {
    let need = sums_scratch_len(spec);
    if scratch.len() < need {
        return shape_err!(
            "{what}: scratch has {} floats but needs {need} (see *_scratch_len)",
            scratch.len()
        );
    }
    Ok(())
}

/// The level dispatches of one per-feature pair sum: `first` reads x (and friends), then
/// `bn_combine` levels. Returns them and the offset in s of the final pair per feature.
pub(super) fn pair_sums(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    first: &'static str,
    eval: bool,
    slots: Slots,
) -> Result<(Vec<Dispatch>, u32)> {
    let f = spec.features();
    let mut out = Vec::new();
    let (mut in_off, mut out_off) = (0, 0);
    for (i, l) in levels(spec.count()).iter().enumerate() {
        let params = Params {
            len: l.len as u32,
            chunk: l.chunk as u32,
            nchunks: l.nchunks as u32,
            in_off: in_off as u32,
            out_off: out_off as u32,
            ..base_params(spec)
        };
        let entry = if i == 0 { first } else { "bn_combine" };
        let groups = grid_1d(gpu, f * l.nchunks, WG)?;
        out.push(gpu.dispatch(&key(entry, eval), &params, &slots.list(), groups)?);
        in_off = out_off;
        out_off += 2 * f * l.nchunks;
    }
    Ok((out, in_off as u32))
}

/// A one-invocation-per-feature kernel reading the final pair at `pair_off`.
pub(super) fn per_feature(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    entry: &'static str,
    pair_off: u32,
    beta: f32,
    slots: Slots,
) -> Result<Dispatch> {
    let params = Params {
        in_off: pair_off,
        beta,
        ..base_params(spec)
    };
    let groups = grid_1d(gpu, spec.features(), WG)?;
    gpu.dispatch(&key(entry, false), &params, &slots.list(), groups)
}
