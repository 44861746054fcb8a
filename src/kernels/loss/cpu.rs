//! f64 reference of every loss.wgsl entry point: the oracle the tests compare with.
//!
//! Shapes as in the GPU twins: inputs [B, F] row-major (`rows` = B, `cols` = F, K or D);
//! per-sample losses and upstream gradients [B]. Backward functions return the fresh gradient
//! (accumulation is old + this). The same stable formulations as the shaders are used, so the
//! reference is exact in the tails (e.g. sigmoid(80) - 1) where naive f64 would round to 0.

use super::{JsTerm, Reduction};

/// log(1 + e^v) without overflow.
pub fn softplus(v: f64) -> f64 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

pub fn sigmoid(v: f64) -> f64 {
    let e = (-v.abs()).exp();
    if v >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// sum over each row of `term(j)` for j = b*cols .. (b+1)*cols.
fn row_sums(rows: usize, cols: usize, term: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..rows)
        .map(|b| (b * cols..(b + 1) * cols).map(&term).sum())
        .collect()
}

// ---- BCE with logits -------------------------------------------------------------------

pub fn bce_forward(x: &[f64], t: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    row_sums(rows, cols, |i| {
        let (v, tv) = (x[i], t[i]);
        let lin = if v > 0.0 { v * (1.0 - tv) } else { -v * tv };
        lin + (-v.abs()).exp().ln_1p()
    })
}

/// dloss/dx = sigmoid(x) - t, as (1 - t) - e/(1+e) for x >= 0 (e = e^-|x|).
pub fn bce_backward(x: &[f64], t: &[f64], dloss: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    assert_eq!(x.len(), rows * cols);
    (0..rows * cols)
        .map(|i| {
            let e = (-x[i].abs()).exp();
            let small = e / (1.0 + e);
            let g = if x[i] >= 0.0 {
                (1.0 - t[i]) - small
            } else {
                small - t[i]
            };
            dloss[i / cols] * g
        })
        .collect()
}

// ---- softmax cross-entropy and evaluation helpers ----------------------------------------

/// (max, first argmax, sum over j != argmax of e^(x_j - max)) of row b.
fn row_stats(x: &[f64], b: usize, k: usize) -> (f64, usize, f64) {
    let row = &x[b * k..(b + 1) * k];
    let mut am = 0;
    for j in 1..k {
        if row[j] > row[am] {
            am = j;
        }
    }
    let m = row[am];
    let rest = (0..k)
        .filter(|&j| j != am)
        .map(|j| (row[j] - m).exp())
        .sum();
    (m, am, rest)
}

/// logsumexp(x_b) - x_b[label]; NaN for a label >= k (as the shader).
pub fn softmax_xent_forward(x: &[f64], labels: &[u32], rows: usize, k: usize) -> Vec<f64> {
    (0..rows)
        .map(|b| {
            let l = labels[b] as usize;
            if l >= k {
                return f64::NAN;
            }
            let (m, _, rest) = row_stats(x, b, k);
            (m - x[b * k + l]) + rest.ln_1p()
        })
        .collect()
}

/// dloss[b] * (softmax(x_b) - onehot(label)); a row with a label >= k is all NaN.
pub fn softmax_xent_backward(
    x: &[f64],
    labels: &[u32],
    dloss: &[f64],
    rows: usize,
    k: usize,
) -> Vec<f64> {
    let mut dx = vec![0.0; rows * k];
    for b in 0..rows {
        let l = labels[b] as usize;
        let (m, am, rest) = row_stats(x, b, k);
        for j in 0..k {
            let p = (x[b * k + j] - m).exp() / (1.0 + rest);
            let g = match (j == l, j == am) {
                (true, true) => -rest / (1.0 + rest), // -(1 - p_am) without cancellation
                (true, false) => p - 1.0,
                _ => p,
            };
            dx[b * k + j] = if l < k { dloss[b] * g } else { f64::NAN };
        }
    }
    dx
}

/// 1.0 where the first argmax of the row equals the label, else 0.0.
pub fn correct(scores: &[f64], labels: &[u32], rows: usize, k: usize) -> Vec<f64> {
    (0..rows)
        .map(|b| {
            let (_, am, _) = row_stats(scores, b, k);
            if am as u32 == labels[b] {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// softmax of each row.
pub fn softmax(x: &[f64], rows: usize, k: usize) -> Vec<f64> {
    let mut p = vec![0.0; rows * k];
    for b in 0..rows {
        let (m, _, rest) = row_stats(x, b, k);
        for j in 0..k {
            p[b * k + j] = (x[b * k + j] - m).exp() / (1.0 + rest);
        }
    }
    p
}

/// -ln(max(p[label], f32::MIN_POSITIVE)); NaN for a label >= k.
pub fn probs_nll(probs: &[f64], labels: &[u32], rows: usize, k: usize) -> Vec<f64> {
    let floor = f32::MIN_POSITIVE as f64;
    (0..rows)
        .map(|b| match labels[b] as usize {
            l if l < k => -probs[b * k + l].max(floor).ln(),
            _ => f64::NAN,
        })
        .collect()
}

// ---- MSE ---------------------------------------------------------------------------------

fn mse_scale(reduction: Reduction, cols: usize) -> f64 {
    match reduction {
        Reduction::Sum => 1.0,
        Reduction::Mean => 1.0 / cols as f64,
    }
}

pub fn mse_forward(x: &[f64], t: &[f64], rows: usize, cols: usize, r: Reduction) -> Vec<f64> {
    let s = mse_scale(r, cols);
    row_sums(rows, cols, |i| s * (x[i] - t[i]).powi(2))
}

/// dloss/dx = 2 s (x - t)
pub fn mse_backward(
    x: &[f64],
    t: &[f64],
    dloss: &[f64],
    rows: usize,
    cols: usize,
    r: Reduction,
) -> Vec<f64> {
    let s = mse_scale(r, cols);
    assert_eq!(x.len(), rows * cols);
    (0..rows * cols)
        .map(|i| dloss[i / cols] * 2.0 * s * (x[i] - t[i]))
        .collect()
}

// ---- Jensen-Shannon softplus terms ------------------------------------------------------

fn js_sign(term: JsTerm) -> f64 {
    match term {
        JsTerm::Positive => -1.0,
        JsTerm::Negative => 1.0,
    }
}

/// Row sums of softplus(-T) (`Positive`) or softplus(T) (`Negative`).
pub fn js_forward(term: JsTerm, scores: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let s = js_sign(term);
    row_sums(rows, cols, |i| softplus(s * scores[i]))
}

/// d softplus(sT)/dT = s sigmoid(sT)
pub fn js_backward(
    term: JsTerm,
    scores: &[f64],
    dout: &[f64],
    rows: usize,
    cols: usize,
) -> Vec<f64> {
    let s = js_sign(term);
    assert_eq!(scores.len(), rows * cols);
    (0..rows * cols)
        .map(|i| dout[i / cols] * s * sigmoid(s * scores[i]))
        .collect()
}

// ---- Gaussian NLL -----------------------------------------------------------------------

const HALF_LOG_2PI: f64 = 0.918_938_533_204_672_8;

/// sum_d 0.5 ln(2 pi) + 0.5 lv + 0.5 (c - mu)^2 e^-lv; `logvar` None means lv = 0.
pub fn gaussian_nll_forward(
    mu: &[f64],
    logvar: Option<&[f64]>,
    c: &[f64],
    rows: usize,
    cols: usize,
) -> Vec<f64> {
    row_sums(rows, cols, |i| {
        let lv = logvar.map_or(0.0, |l| l[i]);
        HALF_LOG_2PI + 0.5 * lv + 0.5 * (c[i] - mu[i]).powi(2) * (-lv).exp()
    })
}

/// (dmu, dlogvar): dmu = (mu - c) e^-lv, dlv = 0.5 - 0.5 (c - mu)^2 e^-lv, times dnll[b];
/// dlogvar is None for unit variance.
pub fn gaussian_nll_backward(
    mu: &[f64],
    logvar: Option<&[f64]>,
    c: &[f64],
    dnll: &[f64],
    rows: usize,
    cols: usize,
) -> (Vec<f64>, Option<Vec<f64>>) {
    assert_eq!(mu.len(), rows * cols);
    let lv = |i: usize| logvar.map_or(0.0, |l| l[i]);
    let dmu = (0..rows * cols)
        .map(|i| dnll[i / cols] * (mu[i] - c[i]) * (-lv(i)).exp())
        .collect();
    let dlv = logvar.map(|_| {
        (0..rows * cols)
            .map(|i| dnll[i / cols] * (0.5 - 0.5 * (c[i] - mu[i]).powi(2) * (-lv(i)).exp()))
            .collect()
    });
    (dmu, dlv)
}

// ---- batch total ------------------------------------------------------------------------

pub fn batch_sum(loss: &[f64], scale: f64) -> f64 {
    scale * loss.iter().sum::<f64>()
}

/// dtotal/dloss[b] = scale
pub fn batch_sum_backward(dtotal: f64, rows: usize, scale: f64) -> Vec<f64> {
    vec![scale * dtotal; rows]
}
