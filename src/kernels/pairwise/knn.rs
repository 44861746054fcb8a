//! k-th nearest neighbour distance per row, self excluded: the Kozachenko-Leonenko entropy
//! estimate H ~ (d/n) sum_i log eps_i + const of the entropic autoencoder.
//!
//! Shapes: x [n, d], eps [n] (f32, Euclidean distance, not squared), idx [n] (u32, the
//! neighbour's row), deps / dx like eps / x.
//! Ties in distance break by lower index, so idx is deterministic. At eps_i = 0 (x_i has a
//! duplicate) the distance is not differentiable and the pair's gradient is 0 (a valid
//! subgradient); the estimator's log eps is then -inf, which the caller must avoid anyway.
//! A row whose distances are all NaN (NaN input) finds no neighbour: idx = u32::MAX, eps
//! ~1.7e19, and the backward skips it; the NaN itself is the caller's signal (loss check).

use super::{beta, expect, launch, rows, Binds, Params, KIND_SQDIST, KNN_MAX_K, MODE_VALUE};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

fn knn_shape(x: &Buf, d: usize, k: usize) -> Result<usize> {
    let n = rows("x", x, d)?;
    if k == 0 || k >= n {
        return shape_err!("kNN: k = {k} must satisfy 1 <= k < n = {n} (self is excluded)");
    }
    if k > KNN_MAX_K {
        return shape_err!("kNN: k = {k} is above the supported maximum {KNN_MAX_K}");
    }
    Ok(n)
}

/// eps_i = ||x_i - x_j|| for j = idx_i, the k-th nearest other row of x [n, d].
pub fn knn(gpu: &Gpu, x: &Buf, d: usize, k: usize, eps: &Buf, idx: &Buf) -> Result<Dispatch> {
    let n = knn_shape(x, d, k)?;
    expect("eps", eps, n, DType::F32)?;
    expect("idx", idx, n, DType::U32)?;
    let params = Params {
        n: n as u32,
        d: d as u32,
        k: k as u32,
        ..Default::default()
    };
    let binds = Binds {
        a: x,
        b: x,
        w: None,
        out: eps,
        idx: Some(idx),
        ex: None,
    };
    let inv = n.div_ceil(super::TILE);
    launch(
        gpu,
        "knn_forward",
        KIND_SQDIST,
        MODE_VALUE,
        &params,
        &binds,
        inv,
    )
}

/// Given deps [n] and the forward's eps and idx: d eps_i/d x_i = (x_i - x_j)/eps_i and
/// d eps_i/d x_j = -(x_i - x_j)/eps_i for j = idx_i; both land in dx [n, d] (written or
/// accumulated). Each row gathers the terms aimed at it in index order: no atomics.
#[allow(clippy::too_many_arguments)]
pub fn knn_backward(
    gpu: &Gpu,
    x: &Buf,
    d: usize,
    eps: &Buf,
    idx: &Buf,
    deps: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let n = rows("x", x, d)?;
    expect("eps", eps, n, DType::F32)?;
    expect("idx", idx, n, DType::U32)?;
    expect("deps", deps, n, DType::F32)?;
    expect("dx", dx, n * d, DType::F32)?;
    let params = Params {
        n: n as u32,
        d: d as u32,
        beta: beta(accumulate),
        ..Default::default()
    };
    let binds = Binds {
        a: x,
        b: x,
        w: Some(deps),
        out: dx,
        idx: Some(idx),
        ex: Some(eps),
    };
    let inv = n * d.div_ceil(4);
    launch(
        gpu,
        "knn_backward",
        KIND_SQDIST,
        MODE_VALUE,
        &params,
        &binds,
        inv,
    )
}
