//! f64 references of every batchnorm entry point (the oracle of the tests). The spec's eps and
//! momentum are widened from f32, so both twins use the same values.
//!
//! Shapes as in the parent module: x, y, dy, dx [count * F]; statistics and parameters [F].

use super::BatchNormSpec;

/// Index in x of value j of feature f.
fn at(spec: &BatchNormSpec, f: usize, j: usize) -> usize {
    let (i, nf) = (spec.inner(), spec.features());
    ((j / i) * nf + f) * i + j % i
}

/// Feature of element i of x.
fn feature(spec: &BatchNormSpec, i: usize) -> usize {
    (i / spec.inner()) % spec.features()
}

/// (mean, biased variance, rstd = 1 / sqrt(var + eps)) per feature, two-pass in f64.
pub fn batch_stats(spec: &BatchNormSpec, x: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (nf, count) = (spec.features(), spec.count());
    let mut mean = vec![0.0; nf];
    let mut var = vec![0.0; nf];
    for f in 0..nf {
        let m = (0..count).map(|j| x[at(spec, f, j)]).sum::<f64>() / count as f64;
        let v = (0..count)
            .map(|j| (x[at(spec, f, j)] - m).powi(2))
            .sum::<f64>()
            / count as f64;
        mean[f] = m;
        var[f] = v;
    }
    let rstd = var.iter().map(|v| rstd_of(spec, *v)).collect();
    (mean, var, rstd)
}

fn rstd_of(spec: &BatchNormSpec, var: f64) -> f64 {
    1.0 / (var + spec.eps as f64).sqrt()
}

/// y = (x - mean) * rstd, then gamma * . + beta when `affine` = Some((gamma, beta)).
pub fn normalize(
    spec: &BatchNormSpec,
    x: &[f64],
    mean: &[f64],
    rstd: &[f64],
    affine: Option<(&[f64], &[f64])>,
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = feature(spec, i);
            let xhat = (v - mean[f]) * rstd[f];
            match affine {
                Some((g, b)) => g[f] * xhat + b[f],
                None => xhat,
            }
        })
        .collect()
}

/// Training forward as a function of x alone (statistics recomputed): what the training
/// backward differentiates.
pub fn forward_train(
    spec: &BatchNormSpec,
    x: &[f64],
    affine: Option<(&[f64], &[f64])>,
) -> Vec<f64> {
    let (mean, _, rstd) = batch_stats(spec, x);
    normalize(spec, x, &mean, &rstd, affine)
}

/// Eval forward: normalise with the running statistics.
pub fn eval(
    spec: &BatchNormSpec,
    x: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    affine: Option<(&[f64], &[f64])>,
) -> Vec<f64> {
    let rstd: Vec<f64> = running_var.iter().map(|v| rstd_of(spec, *v)).collect();
    normalize(spec, x, running_mean, &rstd, affine)
}

/// (running_mean, running_var) after one update with momentum m; the running variance takes
/// the unbiased var * n / (n - 1) and stays unchanged when n = 1 (see `running_update`).
pub fn running_update(
    spec: &BatchNormSpec,
    mean: &[f64],
    var: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let m = spec.momentum as f64;
    let n = spec.count() as f64;
    let rm = running_mean
        .iter()
        .zip(mean)
        .map(|(r, b)| (1.0 - m) * r + m * b)
        .collect();
    let rv = running_var
        .iter()
        .zip(var)
        .map(|(r, v)| match spec.count() {
            1 => *r,
            _ => (1.0 - m) * r + m * v * n / (n - 1.0),
        })
        .collect();
    (rm, rv)
}

/// Gradients of one backward: dx, and dgamma / dbeta (always computed; the layer uses them
/// when affine).
pub struct BnGrads {
    pub dx: Vec<f64>,
    pub dgamma: Vec<f64>,
    pub dbeta: Vec<f64>,
}

/// Training backward. With xhat = (x - mu) r, r = (var + eps)^(-1/2), var = mean((x - mu)^2)
/// and y = g xhat + b:
///   dxhat_i/dx_k = r (delta_ik - 1/n - xhat_i xhat_k / n), so
///   dx = g r (dy - mean(dy) - xhat mean(dy xhat)), dgamma = sum dy xhat, dbeta = sum dy.
pub fn backward(
    spec: &BatchNormSpec,
    x: &[f64],
    mean: &[f64],
    rstd: &[f64],
    dy: &[f64],
    gamma: Option<&[f64]>,
) -> BnGrads {
    grads(spec, x, mean, rstd, dy, gamma, true)
}

/// Eval backward: the running statistics are constants, so dx = g r_running dy; dgamma and
/// dbeta as in training, with xhat from the running statistics.
pub fn eval_backward(
    spec: &BatchNormSpec,
    x: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    dy: &[f64],
    gamma: Option<&[f64]>,
) -> BnGrads {
    let rstd: Vec<f64> = running_var.iter().map(|v| rstd_of(spec, *v)).collect();
    grads(spec, x, running_mean, &rstd, dy, gamma, false)
}

fn grads(
    spec: &BatchNormSpec,
    x: &[f64],
    mean: &[f64],
    rstd: &[f64],
    dy: &[f64],
    gamma: Option<&[f64]>,
    train: bool,
) -> BnGrads {
    let nf = spec.features();
    let n = spec.count() as f64;
    let xhat = |i: usize| (x[i] - mean[feature(spec, i)]) * rstd[feature(spec, i)];
    let (mut dgamma, mut dbeta) = (vec![0.0; nf], vec![0.0; nf]);
    for (i, g) in dy.iter().enumerate() {
        let f = feature(spec, i);
        dgamma[f] += g * xhat(i);
        dbeta[f] += g;
    }
    let dx = (0..x.len())
        .map(|i| {
            let f = feature(spec, i);
            let g = gamma.map_or(1.0, |g| g[f]);
            match train {
                true => g * rstd[f] * (dy[i] - dbeta[f] / n - xhat(i) * dgamma[f] / n),
                false => g * rstd[f] * dy[i],
            }
        })
        .collect();
    BnGrads { dx, dgamma, dbeta }
}
