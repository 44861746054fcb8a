//! Batch-norm cases: BatchNorm1d without affine on a [128, 20] latent (BN-VAE's mu and sigma
//! heads, the EAE latent) and affine BatchNorm2d on an NCHW [128, 64, 14, 14] conv map.
//!
//! FLOPs per element: statistics 4 (the sum of x, then the centred sum of squares: sub and
//! FMA), normalize 2 ((x - mean) * rstd; affine adds an FMA: 4), backward 12 (xhat, the sums
//! of dy and dy * xhat, then dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat))).
//! Bytes: x (and dy, dx, y) once; per-feature vectors once. The statistics read x twice and
//! the backward reads x and dy twice (two passes): the counts take the minimum, once.

use super::{f32s, out, Case, Data};
use crate::kernels::batchnorm::{self as bn, Affine, BatchNormSpec, Grads, ParamGrads, Stats};
use crate::{Buf, Gpu, Result};

/// The per-feature buffers a case needs, with plausible values (rstd around 1).
struct Feats {
    mean: Buf,
    rstd: Buf,
    var: Buf,
    gamma: Buf,
    beta: Buf,
}

impl Feats {
    fn new(gpu: &Gpu, data: &mut Data, f: usize) -> Result<Feats> {
        Ok(Feats {
            mean: data.f32(gpu, f, -0.1, 0.1)?,
            rstd: data.f32(gpu, f, 0.5, 2.0)?,
            var: data.f32(gpu, f, 0.25, 4.0)?,
            gamma: data.f32(gpu, f, 0.5, 1.5)?,
            beta: data.f32(gpu, f, -0.5, 0.5)?,
        })
    }
    fn into_vec(self) -> Vec<Buf> {
        vec![self.mean, self.rstd, self.var, self.gamma, self.beta]
    }
}

fn stats(spec: BatchNormSpec, shape: &str) -> Case {
    let (n, f) = (spec.numel(), spec.features());
    Case::new(
        "batchnorm stats",
        shape.into(),
        4.0 * n as f64,
        f32s(n + 3 * f),
        move |gpu| {
            let x = Data::new().f32(gpu, n, -2.0, 2.0)?;
            let (mean, var, rstd) = (out(gpu, f)?, out(gpu, f)?, out(gpu, f)?);
            let scratch = out(gpu, bn::batch_stats_scratch_len(&spec).max(1))?;
            let ds = bn::batch_stats(gpu, &spec, &x, &mean, &var, &rstd, &scratch)?;
            Ok((ds, vec![x, mean, var, rstd, scratch]))
        },
    )
}

fn normalize(spec: BatchNormSpec, shape: &str) -> Case {
    let (n, f) = (spec.numel(), spec.features());
    let (flops, vecs) = match spec.affine {
        true => (4.0, 4),
        false => (2.0, 2),
    };
    Case::new(
        "batchnorm normalize",
        shape.into(),
        flops * n as f64,
        f32s(2 * n + vecs * f),
        move |gpu| {
            let mut data = Data::new();
            let x = data.f32(gpu, n, -2.0, 2.0)?;
            let p = Feats::new(gpu, &mut data, f)?;
            let y = out(gpu, n)?;
            let stats = Stats::Batch {
                mean: &p.mean,
                rstd: &p.rstd,
            };
            let affine = spec.affine.then_some(Affine {
                gamma: &p.gamma,
                beta: &p.beta,
            });
            let d = bn::normalize(gpu, &spec, &x, stats, affine, &y)?;
            let mut bufs = p.into_vec();
            bufs.extend([x, y]);
            Ok((vec![d], bufs))
        },
    )
}

fn backward(spec: BatchNormSpec, shape: &str) -> Case {
    let (n, f) = (spec.numel(), spec.features());
    // mean and rstd in; with affine also gamma in, dgamma and dbeta out.
    let vecs = if spec.affine { 5 } else { 2 };
    Case::new(
        "batchnorm backward",
        shape.into(),
        12.0 * n as f64,
        f32s(3 * n + vecs * f),
        move |gpu| {
            let mut data = Data::new();
            let x = data.f32(gpu, n, -2.0, 2.0)?;
            let dy = data.f32(gpu, n, -1.0, 1.0)?;
            let p = Feats::new(gpu, &mut data, f)?;
            let (dx, dgamma, dbeta) = (out(gpu, n)?, out(gpu, f)?, out(gpu, f)?);
            let scratch = out(gpu, bn::backward_scratch_len(&spec).max(1))?;
            let stats = Stats::Batch {
                mean: &p.mean,
                rstd: &p.rstd,
            };
            let grads = Grads {
                dy: &dy,
                dx: &dx,
                accumulate_dx: false,
                params: spec.affine.then_some(ParamGrads {
                    dgamma: &dgamma,
                    dbeta: &dbeta,
                    accumulate: false,
                }),
            };
            let gamma = spec.affine.then_some(&p.gamma);
            let ds = bn::backward(gpu, &spec, &x, stats, gamma, &grads, &scratch)?;
            let mut bufs = p.into_vec();
            bufs.extend([x, dy, dx, dgamma, dbeta, scratch]);
            Ok((ds, bufs))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    let latent = BatchNormSpec::rows(128, 20).with_affine(false);
    let conv = BatchNormSpec::nchw(128, 64, 14, 14);
    let (l, c) = ("[128, 20] no affine", "[128, 64, 14, 14] affine");
    vec![
        stats(latent, l),
        stats(conv, c),
        normalize(latent, l),
        normalize(conv, c),
        backward(latent, l),
        backward(conv, c),
    ]
}
