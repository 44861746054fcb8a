//! Twin of shaders/batchnorm.wgsl: batch normalisation with PyTorch semantics (BatchNorm1d on
//! [B, F], BatchNorm2d on NCHW).
//!
//! Shapes: F features (channels), count values per feature (B or N*H*W); x, y, dy, dx [count*F]
//! in the layout's order; mean, var, rstd, gamma, beta, running mean/var, dgamma, dbeta [F].
//!
//! A training step: `batch_stats` (mean, biased var, rstd; the forward caches mean and rstd for
//! the backward, as llm.c does), `normalize` with `Stats::Batch`, `running_update`, and later
//! `backward` with `Stats::Batch`. Evaluation: `eval` (= `normalize` with `Stats::Running`) and
//! `backward` with `Stats::Running`. Per-feature sums run as levels (see the shader) whose
//! partials live in a caller-owned scratch of `batch_stats_scratch_len` / `backward_scratch_len`
//! floats.

pub mod cpu;
mod plumbing;
mod spec;

pub use plumbing::Params;
pub use spec::{Affine, BatchNormSpec, Grads, Layout, ParamGrads, Stats};

use plumbing::{
    base_params, check_scratch, flag, key, pair_sums, per_feature, sums_scratch_len, Slots, WG,
};
use spec::{check_affine, check_distinct, check_lens};

use crate::kernels::grid_1d;
use crate::{Buf, Dispatch, Gpu, Result};

/// Floats of scratch `batch_stats` needs.
pub fn batch_stats_scratch_len(spec: &BatchNormSpec) -> usize {
    sums_scratch_len(spec)
}

/// Floats of scratch `backward` needs (either mode).
pub fn backward_scratch_len(spec: &BatchNormSpec) -> usize {
    sums_scratch_len(spec)
}

/// Per-feature batch mean, biased variance and rstd = 1 / sqrt(var + eps) of x. With one value
/// per feature the variance is 0 and rstd = 1 / sqrt(eps) (normalised output 0, or beta).
pub fn batch_stats(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    x: &Buf,
    mean: &Buf,
    var: &Buf,
    rstd: &Buf,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    let what = "batch norm statistics";
    spec.check()?;
    let f = spec.features();
    check_lens(
        what,
        &[
            ("x", x, spec.numel()),
            ("mean", mean, f),
            ("var", var, f),
            ("rstd", rstd, f),
        ],
    )?;
    check_scratch(what, spec, scratch)?;
    check_distinct(
        what,
        &[
            ("x", x),
            ("mean", mean),
            ("var", var),
            ("rstd", rstd),
            ("scratch", scratch),
        ],
    )?;
    let slots = Slots {
        x: Some(x),
        mean: Some(mean),
        r: Some(rstd),
        var: Some(var),
        s: Some(scratch),
        ..Default::default()
    };
    // Pass 1: mean. Pass 2: centred sums -> mean correction, var, rstd (same scratch region).
    let (mut out, off) = pair_sums(gpu, spec, "bn_sum_x", false, slots)?;
    out.push(per_feature(gpu, spec, "bn_finish_mean", off, 0.0, slots)?);
    let (centred, off) = pair_sums(gpu, spec, "bn_sum_centered", false, slots)?;
    out.extend(centred);
    out.push(per_feature(gpu, spec, "bn_finish_var", off, 0.0, slots)?);
    Ok(out)
}

/// y = (x - mean) * rstd, times gamma plus beta when affine. `Stats::Batch` normalises with
/// the batch statistics (training), `Stats::Running` with the running ones (eval).
pub fn normalize(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    x: &Buf,
    stats: Stats,
    affine: Option<Affine>,
    y: &Buf,
) -> Result<Dispatch> {
    let what = "batch norm normalize";
    spec.check()?;
    check_affine(what, spec, affine.is_some())?;
    let (mean, r) = stats.bufs();
    let (n, f) = (spec.numel(), spec.features());
    check_lens(
        what,
        &[
            ("x", x, n),
            ("y", y, n),
            ("mean", mean, f),
            ("rstd/var", r, f),
        ],
    )?;
    let mut named = vec![("x", x), ("y", y), ("mean", mean), ("rstd/var", r)];
    if let Some(a) = affine {
        check_lens(what, &[("gamma", a.gamma, f), ("beta", a.beta, f)])?;
        named.extend([("gamma", a.gamma), ("beta", a.beta)]);
    }
    check_distinct(what, &named)?;
    let slots = Slots {
        x: Some(x),
        mean: Some(mean),
        r: Some(r),
        gamma: affine.map(|a| a.gamma),
        shift: affine.map(|a| a.beta),
        out: Some(y),
        ..Default::default()
    };
    let entry = match affine {
        Some(_) => "bn_normalize_affine",
        None => "bn_normalize",
    };
    let groups = grid_1d(gpu, n, WG)?;
    gpu.dispatch(
        &key(entry, stats.eval()),
        &base_params(spec),
        &slots.list(),
        groups,
    )
}

/// Eval-mode forward: `normalize` with the running statistics.
pub fn eval(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    x: &Buf,
    running_mean: &Buf,
    running_var: &Buf,
    affine: Option<Affine>,
    y: &Buf,
) -> Result<Dispatch> {
    let stats = Stats::Running {
        mean: running_mean,
        var: running_var,
    };
    normalize(gpu, spec, x, stats, affine, y)
}

/// running_mean = (1 - m) running_mean + m mean and
/// running_var = (1 - m) running_var + m var * count / (count - 1)
/// (PyTorch's unbiased running variance). With count = 1 the
/// unbiased variance is undefined (PyTorch refuses to train then); the running variance is
/// left unchanged and only the running mean is updated.
pub fn running_update(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    mean: &Buf,
    var: &Buf,
    running_mean: &Buf,
    running_var: &Buf,
) -> Result<Dispatch> {
    let what = "batch norm running update";
    spec.check()?;
    let f = spec.features();
    let named = [
        ("mean", mean),
        ("var", var),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ];
    check_lens(what, &named.map(|(n, b)| (n, b, f)))?;
    check_distinct(what, &named)?;
    let slots = Slots {
        mean: Some(mean),
        var: Some(var),
        run_mean: Some(running_mean),
        run_var: Some(running_var),
        ..Default::default()
    };
    per_feature(gpu, spec, "bn_running", 0, 0.0, slots)
}

/// Backward of `normalize`. With `Stats::Batch` the statistics are x's own:
///   dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat));
/// with `Stats::Running` they are constants: dx = gamma rstd_running dy (gamma = 1 without
/// affine). Affine: dgamma = sum dy xhat, dbeta = sum dy (over each feature's values).
pub fn backward(
    gpu: &Gpu,
    spec: &BatchNormSpec,
    x: &Buf,
    stats: Stats,
    gamma: Option<&Buf>,
    grads: &Grads,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    let what = "batch norm backward";
    spec.check()?;
    check_affine(what, spec, gamma.is_some())?;
    check_affine(what, spec, grads.params.is_some())?;
    let (mean, r) = stats.bufs();
    let (n, f) = (spec.numel(), spec.features());
    let lens = [
        ("x", x, n),
        ("dy", grads.dy, n),
        ("dx", grads.dx, n),
        ("mean", mean, f),
    ];
    check_lens(what, &lens)?;
    check_lens(what, &[("rstd/var", r, f)])?;
    check_scratch(what, spec, scratch)?;
    let mut named = vec![
        ("x", x),
        ("dy", grads.dy),
        ("dx", grads.dx),
        ("mean", mean),
        ("rstd/var", r),
        ("scratch", scratch),
    ];
    if let (Some(g), Some(pg)) = (gamma, grads.params) {
        check_lens(
            what,
            &[
                ("gamma", g, f),
                ("dgamma", pg.dgamma, f),
                ("dbeta", pg.dbeta, f),
            ],
        )?;
        named.extend([("gamma", g), ("dgamma", pg.dgamma), ("dbeta", pg.dbeta)]);
    }
    check_distinct(what, &named)?;
    let slots = Slots {
        x: Some(x),
        dy: Some(grads.dy),
        mean: Some(mean),
        r: Some(r),
        gamma,
        out: Some(grads.dx),
        s: Some(scratch),
        dgamma: grads.params.map(|p| p.dgamma),
        dbeta: grads.params.map(|p| p.dbeta),
        ..Default::default()
    };
    let eval = stats.eval();
    let mut out = Vec::new();
    let mut pair_off = 0;
    // The sums of dy and dy * xhat: needed by the training dx and by the parameter gradients.
    if !eval || grads.params.is_some() {
        let (sums, off) = pair_sums(gpu, spec, "bn_sum_grad", eval, slots)?;
        out.extend(sums);
        pair_off = off;
    }
    if let Some(pg) = grads.params {
        let params = Params {
            in_off: pair_off,
            beta: flag(pg.accumulate),
            ..base_params(spec)
        };
        let groups = grid_1d(gpu, f, WG)?;
        out.push(gpu.dispatch(
            &key("bn_param_grads", false),
            &params,
            &slots.list(),
            groups,
        )?);
    }
    let entry = match gamma {
        Some(_) => "bn_dx_affine",
        None => "bn_dx",
    };
    let params = Params {
        in_off: pair_off,
        beta: flag(grads.accumulate_dx),
        ..base_params(spec)
    };
    out.push(gpu.dispatch(
        &key(entry, eval),
        &params,
        &slots.list(),
        grid_1d(gpu, n, WG)?,
    )?);
    Ok(out)
}
