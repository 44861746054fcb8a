//! Random cases: standard normal fills (the VAE's eps [128, 20] and a large 1M) and the fused
//! latent head reparam_kl drawing its own eps, at [128, 20] (VAE) and [128, 256].
//!
//! FLOPs per normal sample: about 16 (Box-Muller per pair: our polynomial log ~24, sqrt,
//! cos, sin and ~6 multiplies and conversions, halved). The Philox rounds behind each 4
//! samples are integer work and not counted, so these cases are integer-bound below the
//! roofline. reparam_kl per element: the sample, z = mu + exp(s / 2) eps (4) and the KL term
//! mu^2 + exp(s) - 1 - s plus its sum (6): about 26.
//! Bytes: fill writes 4 per sample; reparam_kl reads mu, s and writes eps, z (16 per
//! element) plus kl [B].

use super::{f32s, out, Case, Data};
use crate::kernels::random::{self, Dist, Latent, Rng, Scale};

fn fill(rows: usize, cols: usize) -> Case {
    let n = rows * cols;
    Case::new(
        "random fill_normal",
        format!("[{rows}, {cols}]"),
        16.0 * n as f64,
        f32s(n),
        move |gpu| {
            let y = out(gpu, n)?;
            let d = random::fill(gpu, Dist::Normal, &y, Rng::new(7, 0))?;
            Ok((vec![d], vec![y]))
        },
    )
}

fn reparam_kl(b: usize, dim: usize) -> Case {
    let n = b * dim;
    Case::new(
        "random reparam_kl (draws eps)",
        format!("[{b}, {dim}]"),
        26.0 * n as f64,
        f32s(4 * n + b),
        move |gpu| {
            let mut data = Data::new();
            let mu = data.f32(gpu, n, -2.0, 2.0)?;
            let logvar = data.f32(gpu, n, -3.0, 1.0)?;
            let (eps, z, kl) = (out(gpu, n)?, out(gpu, n)?, out(gpu, b)?);
            let l = Latent::new(b, dim, Scale::LogVar);
            let draw = Some(Rng::new(7, 0));
            let d = random::reparam_kl(gpu, l, &mu, &logvar, &eps, &z, &kl, draw)?;
            Ok((vec![d], vec![mu, logvar, eps, z, kl]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        fill(128, 20),
        fill(1024, 1024),
        reparam_kl(128, 20),
        reparam_kl(128, 256),
    ]
}
