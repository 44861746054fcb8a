//! f64 reference of every pairwise entry point: the oracle the tests compare the GPU with.
//! Same shapes as the GPU twin (flat row-major x [n, d], y [m, d]); plain loops, no tricks.

use super::{MmdEstimator, PairKernel};

fn row(x: &[f64], d: usize, i: usize) -> &[f64] {
    &x[i * d..(i + 1) * d]
}

fn sqd(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// D_ij = ||x_i - y_j||^2, [n, m].
pub fn sqdist(x: &[f64], y: &[f64], d: usize) -> Vec<f64> {
    let (n, m) = (x.len() / d, y.len() / d);
    let mut out = Vec::with_capacity(n * m);
    for i in 0..n {
        for j in 0..m {
            out.push(sqd(row(x, d, i), row(y, d, j)));
        }
    }
    out
}

/// dx_i = sum_j w_ij 2 (x_i - y_j), dy_j = sum_i w_ij 2 (y_j - x_i) for weights w [n, m].
fn weighted_grads(x: &[f64], y: &[f64], d: usize, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (x.len() / d, y.len() / d);
    let mut dx = vec![0.0; n * d];
    let mut dy = vec![0.0; m * d];
    for i in 0..n {
        for j in 0..m {
            for f in 0..d {
                let g = w[i * m + j] * 2.0 * (x[i * d + f] - y[j * d + f]);
                dx[i * d + f] += g;
                dy[j * d + f] -= g;
            }
        }
    }
    (dx, dy)
}

/// Backward of `sqdist` given dD [n, m]: (dx, dy).
pub fn sqdist_backward(x: &[f64], y: &[f64], d: usize, dd: &[f64]) -> (Vec<f64>, Vec<f64>) {
    weighted_grads(x, y, d, dd)
}

/// Backward of `sqdist(x, x)`: both arguments are x, so dx = dx-part + dy-part.
pub fn sqdist_self_backward(x: &[f64], d: usize, dd: &[f64]) -> Vec<f64> {
    let (dx, dy) = weighted_grads(x, x, d, dd);
    dx.iter().zip(&dy).map(|(a, b)| a + b).collect()
}

/// k(D).
pub fn kernel_value(kern: PairKernel, dist: f64) -> f64 {
    match kern {
        PairKernel::Gaussian { s } => (-dist / s as f64).exp(),
        PairKernel::Imq { c } => c as f64 / (c as f64 + dist),
    }
}

/// dk/dD: Gaussian -K/s, IMQ -C/(C + D)^2.
pub fn kernel_deriv(kern: PairKernel, dist: f64) -> f64 {
    match kern {
        PairKernel::Gaussian { s } => -(-dist / s as f64).exp() / s as f64,
        PairKernel::Imq { c } => -(c as f64) / ((c as f64 + dist) * (c as f64 + dist)),
    }
}

/// K_ij = k(||x_i - y_j||^2), [n, m].
pub fn kernel_matrix(kern: PairKernel, x: &[f64], y: &[f64], d: usize) -> Vec<f64> {
    sqdist(x, y, d)
        .into_iter()
        .map(|v| kernel_value(kern, v))
        .collect()
}

fn kernel_weights(kern: PairKernel, x: &[f64], y: &[f64], d: usize, dk: &[f64]) -> Vec<f64> {
    sqdist(x, y, d)
        .iter()
        .zip(dk)
        .map(|(&v, &g)| g * kernel_deriv(kern, v))
        .collect()
}

/// Backward of `kernel_matrix` given dK [n, m]: (dx, dy).
pub fn kernel_matrix_backward(
    kern: PairKernel,
    x: &[f64],
    y: &[f64],
    d: usize,
    dk: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    weighted_grads(x, y, d, &kernel_weights(kern, x, y, d, dk))
}

/// Backward of `kernel_matrix(x, x)`: both contributions in dx.
pub fn kernel_matrix_self_backward(kern: PairKernel, x: &[f64], d: usize, dk: &[f64]) -> Vec<f64> {
    let (dx, dy) = kernel_matrix_backward(kern, x, x, d, dk);
    dx.iter().zip(&dy).map(|(a, b)| a + b).collect()
}

/// (eps, idx): distance to and index of the k-th nearest other row, ties to the lower index.
pub fn knn(x: &[f64], d: usize, k: usize) -> (Vec<f64>, Vec<u32>) {
    let n = x.len() / d;
    let mut eps = Vec::with_capacity(n);
    let mut idx = Vec::with_capacity(n);
    for i in 0..n {
        let mut cand: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (sqd(row(x, d, i), row(x, d, j)), j))
            .collect();
        cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (dist, j) = cand[k - 1];
        eps.push(dist.sqrt());
        idx.push(j as u32);
    }
    (eps, idx)
}

/// Backward of `knn` given deps [n]: for j = idx_i, d eps_i/d x_i = (x_i - x_j)/eps_i and
/// d eps_i/d x_j = -(x_i - x_j)/eps_i; a pair at eps_i = 0 contributes 0 (subgradient).
pub fn knn_backward(x: &[f64], d: usize, eps: &[f64], idx: &[u32], deps: &[f64]) -> Vec<f64> {
    let n = x.len() / d;
    let mut dx = vec![0.0; n * d];
    for i in 0..n {
        let j = idx[i] as usize;
        if j >= n || eps[i] <= 0.0 {
            continue;
        }
        for f in 0..d {
            let g = deps[i] / eps[i] * (x[i * d + f] - x[j * d + f]);
            dx[i * d + f] += g;
            dx[j * d + f] -= g;
        }
    }
    dx
}

/// The three means of MMD^2 = t[0] + t[1] - 2 t[2]: K(x, x), K(y, y) (over i != j when
/// unbiased) and K(x, y).
pub fn mmd_terms(kern: PairKernel, est: MmdEstimator, x: &[f64], y: &[f64], d: usize) -> [f64; 3] {
    let self_mean = |z: &[f64]| {
        let r = z.len() / d;
        let k = kernel_matrix(kern, z, z, d);
        let mut sum = 0.0;
        for i in 0..r {
            for j in 0..r {
                if est == MmdEstimator::Biased || i != j {
                    sum += k[i * r + j];
                }
            }
        }
        match est {
            MmdEstimator::Biased => sum / (r * r) as f64,
            MmdEstimator::Unbiased => sum / (r * (r - 1)) as f64,
        }
    };
    let kxy = kernel_matrix(kern, x, y, d);
    let mean_xy = kxy.iter().sum::<f64>() / kxy.len() as f64;
    [self_mean(x), self_mean(y), mean_xy]
}

/// MMD^2(x, y).
pub fn mmd(kern: PairKernel, est: MmdEstimator, x: &[f64], y: &[f64], d: usize) -> f64 {
    let [xx, yy, xy] = mmd_terms(kern, est, x, y, d);
    xx + yy - 2.0 * xy
}

/// Backward of `mmd` given the upstream scalar dmmd: (dx, dy), through the kernel-matrix
/// backward with dK constant per block (the diagonal's gradient is 0, so the U-statistic
/// only rescales).
pub fn mmd_backward(
    kern: PairKernel,
    est: MmdEstimator,
    x: &[f64],
    y: &[f64],
    d: usize,
    dmmd: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (x.len() / d, y.len() / d);
    let [c_xx, c_yy, c_xy] = super::mmd_coefs(est, n, m);
    let dxx = kernel_matrix_self_backward(kern, x, d, &vec![dmmd * c_xx; n * n]);
    let dyy = kernel_matrix_self_backward(kern, y, d, &vec![dmmd * c_yy; m * m]);
    let (dxy_x, dxy_y) = kernel_matrix_backward(kern, x, y, d, &vec![dmmd * c_xy; n * m]);
    let add = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(p, q)| p + q).collect();
    (add(dxx, dxy_x), add(dyy, dxy_y))
}
