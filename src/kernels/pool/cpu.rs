//! f64 references of every pooling entry point (the multi-pass global pools as one function
//! each: the passes only change the summation order). Max semantics as on the GPU: the first
//! maximum in row-major order wins and NaN beats every number.

use super::{GlobalPoolSpec, MaxPoolSpec};

/// Does v beat the best so far m? (Scans visit positions in increasing order, so the first
/// maximum, and the first NaN, stays.)
fn beats(v: f64, m: f64) -> bool {
    if v.is_nan() || m.is_nan() {
        return v.is_nan() && !m.is_nan();
    }
    v > m
}

/// (y, arg) of `max_pool`: per window the max and its position ih * W + iw in the plane.
pub fn max_pool(spec: &MaxPoolSpec, x: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let (oh, ow) = spec.out_hw();
    let (h, w, k, s) = (spec.h, spec.w, spec.k, spec.s);
    let mut y = Vec::with_capacity(spec.out_len());
    let mut arg = Vec::with_capacity(spec.out_len());
    for plane in x.chunks(h * w).take(spec.planes()) {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for r in i * s..i * s + k {
                    for c in j * s..j * s + k {
                        let v = plane[r * w + c];
                        if best.1 == usize::MAX || beats(v, best.0) {
                            best = (v, r * w + c);
                        }
                    }
                }
                y.push(best.0);
                arg.push(best.1 as u32);
            }
        }
    }
    (y, arg)
}

/// dx of `max_pool`: each output's dy added at its argmax (dmax/dx_j = [j = argmax]).
pub fn max_pool_backward(spec: &MaxPoolSpec, arg: &[u32], dy: &[f64]) -> Vec<f64> {
    let (oh, ow) = spec.out_hw();
    let hw = spec.h * spec.w;
    let mut dx = vec![0.0; spec.in_len()];
    for (o, (&a, &g)) in arg.iter().zip(dy).enumerate() {
        let plane = o / (oh * ow);
        dx[plane * hw + a as usize] += g;
    }
    dx
}

/// y[n, c] = mean over the plane.
pub fn global_avg_pool(spec: &GlobalPoolSpec, x: &[f64]) -> Vec<f64> {
    let hw = spec.hw();
    x.chunks(hw)
        .take(spec.planes())
        .map(|p| p.iter().sum::<f64>() / hw as f64)
        .collect()
}

/// dx = dy / HW broadcast over each plane (d mean / dx_j = 1 / HW).
pub fn global_avg_pool_backward(spec: &GlobalPoolSpec, dy: &[f64]) -> Vec<f64> {
    let hw = spec.hw();
    dy.iter()
        .flat_map(|&g| std::iter::repeat_n(g / hw as f64, hw))
        .collect()
}

/// (y, arg): the max of each plane and its position ih * W + iw.
pub fn global_max_pool(spec: &GlobalPoolSpec, x: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let mut y = Vec::with_capacity(spec.planes());
    let mut arg = Vec::with_capacity(spec.planes());
    for p in x.chunks(spec.hw()).take(spec.planes()) {
        let mut best = (p[0], 0);
        for (j, &v) in p.iter().enumerate().skip(1) {
            if beats(v, best.0) {
                best = (v, j);
            }
        }
        y.push(best.0);
        arg.push(best.1 as u32);
    }
    (y, arg)
}

/// dx = dy[n, c] at arg[n, c], 0 elsewhere in the plane.
pub fn global_max_pool_backward(spec: &GlobalPoolSpec, arg: &[u32], dy: &[f64]) -> Vec<f64> {
    let hw = spec.hw();
    let mut dx = vec![0.0; spec.in_len()];
    for (plane, (&a, &g)) in arg.iter().zip(dy).enumerate() {
        dx[plane * hw + a as usize] = g;
    }
    dx
}
