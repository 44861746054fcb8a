//! Small dense f64 linear algebra on the host for `fcd`: products, the symmetric eigensolver
//! (cyclic Jacobi) and the square root of a positive semi-definite matrix. Sizes are a feature
//! dimension (128), so O(n^3) per call is milliseconds; no dependency is worth it.
//!
//! Shapes: matrices [n, n] row-major in a `&[f64]` of n * n; eigenvectors are the columns of V.

/// C = A B for [n, n] matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (cij, bkj) in c[i * n..(i + 1) * n].iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
    c
}

/// Sum of the diagonal.
pub fn trace(a: &[f64], n: usize) -> f64 {
    (0..n).map(|i| a[i * n + i]).sum()
}

/// (A + A^T) / 2: removes the round-off asymmetry of products like S^{1/2} T S^{1/2}.
pub fn symmetrize(a: &mut [f64], n: usize) {
    for i in 0..n {
        for j in i + 1..n {
            let m = 0.5 * (a[i * n + j] + a[j * n + i]);
            a[i * n + j] = m;
            a[j * n + i] = m;
        }
    }
}

/// Sweeps after which Jacobi stops even if not converged (it converges quadratically; a
/// 128 x 128 covariance needs about 8-10).
const MAX_SWEEPS: usize = 60;

/// Eigenvalues and eigenvectors of the symmetric [n, n] matrix `a` (only its symmetric part is
/// meaningful): returns (lambda [n], V [n, n]) with A = V diag(lambda) V^T, V orthogonal.
///
/// Cyclic Jacobi: for every pair p < q, the rotation J (J_pp = J_qq = c, J_pq = s,
/// J_qp = -s) with t = tan(phi) = sign(theta) / (|theta| + sqrt(theta^2 + 1)),
/// theta = (a_qq - a_pp) / (2 a_pq), c = 1 / sqrt(1 + t^2), s = t c, makes (J^T A J)_pq = 0;
/// sweeps repeat until the off-diagonal mass (squared) is below 1e-24 of the whole
/// (eigenvalue errors are second order in it) (or is exactly 0).
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off == 0.0 || off <= 1e-24 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Columns p and q of A J, then rows p and q of J^T (A J); V accumulates J.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The symmetric square root of a positive semi-definite matrix: V diag(sqrt(max(lambda, 0)))
/// V^T. Eigenvalues that round-off pushed below zero count as zero.
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (lambda, v) = sym_eigen(a, n);
    let root: Vec<f64> = lambda.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let x: f64 = (0..n).map(|k| v[i * n + k] * root[k] * v[j * n + k]).sum();
            out[i * n + j] = x;
            out[j * n + i] = x;
        }
    }
    out
}
