//! References for random.wgsl: Philox4x32-10 bit for bit (u32 arithmetic, as the shader), the
//! exact sample construction, and the f64 head (reparameterisation, KL and their backward).
//!
//! Shapes as in the parent: mu, s, eps, z, dz: [B, D] flattened, kl, dkl: [B].

use super::{Rng, Scale};

/// One Philox4x32-10 block (Random123's philox4x32_10): 10 rounds of two 32x32->64 products
/// with M0 = 0xD2511F53 (word 0) and M1 = 0xCD9E8D57 (word 2), the key bumped by the Weyl
/// constants 0x9E3779B9, 0xBB67AE85 between rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    const M0: u64 = 0xD251_1F53;
    const M1: u64 = 0xCD9E_8D57;
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(0x9E37_79B9);
            k1 = k1.wrapping_add(0xBB67_AE85);
        }
        let p0 = M0 * c0 as u64;
        let p1 = M1 * c2 as u64;
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// The Philox block holding stream elements 4g .. 4g + 3 of `rng`'s seed and stream.
pub fn block(rng: Rng, g: u64) -> [u32; 4] {
    philox4x32_10(
        [g as u32, (g >> 32) as u32, rng.stream, 0],
        [rng.seed as u32, (rng.seed >> 32) as u32],
    )
}

/// The raw 32-bit word of stream element e.
pub fn word(rng: Rng, e: u64) -> u32 {
    block(rng, e / 4)[(e % 4) as usize]
}

/// The raw words of stream elements offset .. offset + n (what `Dist::Bits` fills).
pub fn bits(rng: Rng, n: usize) -> Vec<u32> {
    (0..n as u64).map(|i| word(rng, rng.offset + i)).collect()
}

/// Uniform in [0, 1): the top 24 bits times 2^-24 (exact in f32; at most 1 - 2^-24).
pub fn uniform01(w: u32) -> f32 {
    (w >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in (0, 1]: (top 24 bits + 1) * 2^-24, the radius input of Box-Muller.
pub fn uniform01_open0(w: u32) -> f32 {
    ((w >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// Box-Muller in f64 from the same two words the shader uses: r = sqrt(-2 ln u), u in (0, 1]
/// from `a`; angle 2 pi v, v in [0, 1) from `b`. Returns (r cos, r sin).
pub fn box_muller(a: u32, b: u32) -> (f64, f64) {
    let r = (-2.0 * (uniform01_open0(a) as f64).ln()).max(0.0).sqrt();
    let theta = 2.0 * std::f64::consts::PI * uniform01(b) as f64;
    (r * theta.cos(), r * theta.sin())
}

/// Elements offset .. offset + n of the uniform stream (exact: equal to the GPU's bits).
pub fn uniform(rng: Rng, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| uniform01(word(rng, rng.offset + i)) as f64)
        .collect()
}

/// Elements offset .. offset + n of the normal stream: block g gives box_muller(w0, w1) for
/// lanes 0, 1 and box_muller(w2, w3) for lanes 2, 3.
pub fn normal(rng: Rng, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let e = rng.offset + i;
            let w = block(rng, e / 4);
            let lane = (e % 4) as usize;
            let (c, s) = box_muller(w[lane & 2], w[(lane & 2) + 1]);
            if lane & 1 == 0 {
                c
            } else {
                s
            }
        })
        .collect()
}

fn sigma(scale: Scale, s: f64) -> f64 {
    match scale {
        Scale::LogVar => (0.5 * s).exp(),
        Scale::Sigma => s,
    }
}

/// z = mu + sigma(s) * eps.
pub fn reparam(scale: Scale, mu: &[f64], s: &[f64], eps: &[f64]) -> Vec<f64> {
    (0..mu.len())
        .map(|i| mu[i] + sigma(scale, s[i]) * eps[i])
        .collect()
}

/// dz/ds: logvar: d/ds [exp(s/2) eps] = eps exp(s/2) / 2; sigma: eps.
fn z_dscale(scale: Scale, e: f64, s: f64) -> f64 {
    match scale {
        Scale::LogVar => 0.5 * e * (0.5 * s).exp(),
        Scale::Sigma => e,
    }
}

/// (dmu, ds) for z = reparam(mu, s, eps): dmu = dz, ds = dz * dz/ds.
pub fn reparam_backward(scale: Scale, s: &[f64], eps: &[f64], dz: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let ds = (0..s.len())
        .map(|i| dz[i] * z_dscale(scale, eps[i], s[i]))
        .collect();
    (dz.to_vec(), ds)
}

/// log sigma^2 from the scale parameter.
fn logvar(scale: Scale, s: f64) -> f64 {
    match scale {
        Scale::LogVar => s,
        Scale::Sigma => 2.0 * s.ln(),
    }
}

/// kl[b] = 0.5 * sum_d (mu^2 + sigma^2 - 1 - log sigma^2), rows of length d.
pub fn kl(scale: Scale, mu: &[f64], s: &[f64], d: usize) -> Vec<f64> {
    mu.chunks(d)
        .zip(s.chunks(d))
        .map(|(m, s)| {
            let sum: f64 = m
                .iter()
                .zip(s)
                .map(|(&m, &s)| {
                    let t = logvar(scale, s);
                    m * m + (t.exp_m1() - t)
                })
                .sum();
            0.5 * sum
        })
        .collect()
}

/// dKL/ds per element: logvar: (exp(s) - 1) / 2; sigma: sigma - 1 / sigma.
fn kl_dscale(scale: Scale, s: f64) -> f64 {
    match scale {
        Scale::LogVar => 0.5 * s.exp_m1(),
        Scale::Sigma => s - 1.0 / s,
    }
}

/// (dmu, ds) for kl = kl(mu, s): dKL/dmu = mu, dKL/ds = kl_dscale, scaled by dkl[b].
pub fn kl_backward(
    scale: Scale,
    mu: &[f64],
    s: &[f64],
    dkl: &[f64],
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let dmu = (0..mu.len()).map(|i| dkl[i / d] * mu[i]).collect();
    let ds = (0..s.len())
        .map(|i| dkl[i / d] * kl_dscale(scale, s[i]))
        .collect();
    (dmu, ds)
}

/// The fused head: (z, kl).
pub fn reparam_kl(
    scale: Scale,
    mu: &[f64],
    s: &[f64],
    eps: &[f64],
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    (reparam(scale, mu, s, eps), kl(scale, mu, s, d))
}

/// Backward of the fused head: the sums of `reparam_backward` and `kl_backward`.
pub fn reparam_kl_backward(
    scale: Scale,
    mu: &[f64],
    s: &[f64],
    eps: &[f64],
    dz: &[f64],
    dkl: &[f64],
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (dmu_z, ds_z) = reparam_backward(scale, s, eps, dz);
    let (dmu_k, ds_k) = kl_backward(scale, mu, s, dkl, d);
    let add = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(x, y)| x + y).collect();
    (add(dmu_z, dmu_k), add(ds_z, ds_k))
}
