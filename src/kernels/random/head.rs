//! The Gaussian latent head of random.wgsl: z = mu + sigma * eps and
//! KL(N(mu, sigma^2) || N(0, I)) per row, separately or fused, with their backward passes.
//!
//! Shapes: mu, s, eps, z, dz, dmu, ds: [B, D]; kl, dkl: [B]. `s` is logvar or sigma (`Scale`).
//! Bindings (random.wgsl): 1 eps, 2 mu, 3 s, 4 z, 5 kl, 6 dz, 7 dkl, 8 dmu, 9 ds.

use super::{
    check_distinct, check_f32, check_n, check_stream_end, check_wg, slots, Params, Rng, WG,
};
use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, Dispatch, Gpu, KernelKey, Result};

/// How the head's scale parameter `s` encodes sigma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// s = log sigma^2 (the VAE's logvar): sigma = exp(s / 2).
    LogVar,
    /// s = sigma > 0 (VIB: sigma = softplus(rho - 5)).
    Sigma,
}

impl Scale {
    fn code(self) -> u32 {
        match self {
            Scale::LogVar => 0,
            Scale::Sigma => 1,
        }
    }
}

/// Shape and parameterisation of a latent head: B rows of D dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latent {
    pub b: usize,
    pub d: usize,
    pub scale: Scale,
}

impl Latent {
    pub fn new(b: usize, d: usize, scale: Scale) -> Self {
        Latent { b, d, scale }
    }

    fn key(&self, entry: &'static str, wg: usize) -> KernelKey {
        KernelKey::new(Family::Random, entry)
            .with("WG", wg as f64)
            .with("SCALE", self.scale.code() as f64)
    }

    /// Check `d >= 1`, B * D addressable, and every buffer's type and length: `full` ones are
    /// [B, D], `rows` ones [B].
    fn check(&self, what: &str, full: &[(&str, &Buf)], rows: &[(&str, &Buf)]) -> Result<()> {
        if self.d == 0 {
            return shape_err!("{what}: D = 0; a latent needs at least one dimension");
        }
        let n = self.b.saturating_mul(self.d);
        check_n(what, n)?;
        check_f32(what, full)?;
        check_f32(what, rows)?;
        for (name, buf) in full {
            if buf.len() != n {
                return shape_err!(
                    "{what}: {name} has {} elements, expected B * D = {} * {} = {n}",
                    buf.len(),
                    self.b,
                    self.d
                );
            }
        }
        for (name, buf) in rows {
            if buf.len() != self.b {
                return shape_err!(
                    "{what}: {name} has {} elements, expected one per row (B = {})",
                    buf.len(),
                    self.b
                );
            }
        }
        let all: Vec<_> = full.iter().chain(rows).copied().collect();
        check_distinct(what, &all)
    }

    fn n(&self) -> usize {
        self.b * self.d
    }
}

/// z = mu + sigma(s) * eps.
pub fn reparam(gpu: &Gpu, l: Latent, mu: &Buf, s: &Buf, eps: &Buf, z: &Buf) -> Result<Dispatch> {
    l.check(
        "reparam",
        &[("mu", mu), ("s", s), ("eps", eps), ("z", z)],
        &[],
    )?;
    let params = Params::new(l.n(), l.d, Rng::default(), false);
    let bufs = slots(&[(1, eps), (2, mu), (3, s), (4, z)]);
    gpu.dispatch(
        &l.key("reparam_forward", WG),
        &params,
        &bufs,
        grid_1d(gpu, l.n(), WG)?,
    )
}

/// Backward of `reparam`: dmu = dz; ds = dz * eps * exp(s / 2) / 2 (logvar) or dz * eps
/// (sigma). Writes (or with `accumulate` adds to) dmu and ds.
#[allow(clippy::too_many_arguments)]
pub fn reparam_backward(
    gpu: &Gpu,
    l: Latent,
    s: &Buf,
    eps: &Buf,
    dz: &Buf,
    dmu: &Buf,
    ds: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    l.check(
        "reparam_backward",
        &[("s", s), ("eps", eps), ("dz", dz), ("dmu", dmu), ("ds", ds)],
        &[],
    )?;
    let params = Params::new(l.n(), l.d, Rng::default(), accumulate);
    let bufs = slots(&[(1, eps), (3, s), (6, dz), (8, dmu), (9, ds)]);
    gpu.dispatch(
        &l.key("reparam_backward", WG),
        &params,
        &bufs,
        grid_1d(gpu, l.n(), WG)?,
    )
}

/// kl[b] = 0.5 * sum_d (mu^2 + sigma^2 - 1 - log sigma^2).
pub fn kl(gpu: &Gpu, l: Latent, mu: &Buf, s: &Buf, kl: &Buf) -> Result<Dispatch> {
    l.check("kl", &[("mu", mu), ("s", s)], &[("kl", kl)])?;
    let params = Params::new(l.b, l.d, Rng::default(), false);
    let bufs = slots(&[(2, mu), (3, s), (5, kl)]);
    gpu.dispatch(
        &l.key("kl_forward", WG),
        &params,
        &bufs,
        grid_1d(gpu, l.b, WG)?,
    )
}

/// Backward of `kl`: dmu = dkl[b] * mu; ds = dkl[b] * (exp(logvar) - 1) / 2 (logvar) or
/// dkl[b] * (sigma - 1 / sigma) (sigma). Writes (or with `accumulate` adds to) dmu and ds.
#[allow(clippy::too_many_arguments)]
pub fn kl_backward(
    gpu: &Gpu,
    l: Latent,
    mu: &Buf,
    s: &Buf,
    dkl: &Buf,
    dmu: &Buf,
    ds: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    l.check(
        "kl_backward",
        &[("mu", mu), ("s", s), ("dmu", dmu), ("ds", ds)],
        &[("dkl", dkl)],
    )?;
    let params = Params::new(l.n(), l.d, Rng::default(), accumulate);
    let bufs = slots(&[(2, mu), (3, s), (7, dkl), (8, dmu), (9, ds)]);
    gpu.dispatch(
        &l.key("kl_backward", WG),
        &params,
        &bufs,
        grid_1d(gpu, l.n(), WG)?,
    )
}

/// The params of a fused head drawing from `draw` (None: eps is read); pass to
/// `gpu.set_params` to move a `reparam_kl` dispatch to the next step's noise.
pub fn reparam_kl_params(l: Latent, draw: Option<Rng>) -> Params {
    Params::new(l.b, l.d, draw.unwrap_or_default(), false)
}

/// Fused head: z = mu + sigma * eps and kl[b] in one pass. With `draw = Some(rng)`, eps is drawn
/// from rng (equal to `fill(Dist::Normal)` of B * D elements at rng) and written to `eps` for the
/// backward; with None, eps is read.
#[allow(clippy::too_many_arguments)]
pub fn reparam_kl(
    gpu: &Gpu,
    l: Latent,
    mu: &Buf,
    s: &Buf,
    eps: &Buf,
    z: &Buf,
    kl: &Buf,
    draw: Option<Rng>,
) -> Result<Dispatch> {
    reparam_kl_wg(gpu, l, mu, s, eps, z, kl, draw, WG)
}

/// `reparam_kl` with an explicit workgroup size (results do not depend on it).
#[allow(clippy::too_many_arguments)]
pub fn reparam_kl_wg(
    gpu: &Gpu,
    l: Latent,
    mu: &Buf,
    s: &Buf,
    eps: &Buf,
    z: &Buf,
    kl: &Buf,
    draw: Option<Rng>,
    wg: usize,
) -> Result<Dispatch> {
    l.check(
        "reparam_kl",
        &[("mu", mu), ("s", s), ("eps", eps), ("z", z)],
        &[("kl", kl)],
    )?;
    if let Some(rng) = draw {
        check_stream_end("reparam_kl", rng, l.n())?;
    }
    let wg = check_wg(gpu, wg)?;
    let key = l
        .key("reparam_kl_forward", wg)
        .with("DRAW", if draw.is_some() { 1.0 } else { 0.0 });
    let bufs = slots(&[(1, eps), (2, mu), (3, s), (4, z), (5, kl)]);
    gpu.dispatch(
        &key,
        &reparam_kl_params(l, draw),
        &bufs,
        grid_1d(gpu, l.b, wg)?,
    )
}

/// Backward of the fused head for a loss of (z, kl): dmu = dz + dkl[b] * mu,
/// ds = dz * dz/ds + dkl[b] * dKL/ds (see `reparam_backward`, `kl_backward`).
#[allow(clippy::too_many_arguments)]
pub fn reparam_kl_backward(
    gpu: &Gpu,
    l: Latent,
    mu: &Buf,
    s: &Buf,
    eps: &Buf,
    dz: &Buf,
    dkl: &Buf,
    dmu: &Buf,
    ds: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    l.check(
        "reparam_kl_backward",
        &[
            ("mu", mu),
            ("s", s),
            ("eps", eps),
            ("dz", dz),
            ("dmu", dmu),
            ("ds", ds),
        ],
        &[("dkl", dkl)],
    )?;
    let params = Params::new(l.n(), l.d, Rng::default(), accumulate);
    let bufs = slots(&[
        (1, eps),
        (2, mu),
        (3, s),
        (6, dz),
        (7, dkl),
        (8, dmu),
        (9, ds),
    ]);
    gpu.dispatch(
        &l.key("reparam_kl_backward", WG),
        &params,
        &bufs,
        grid_1d(gpu, l.n(), WG)?,
    )
}
