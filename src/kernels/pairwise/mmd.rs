//! MMD^2 between sample sets x [n, d] and y [m, d] under a `PairKernel` (InfoVAE's loss):
//! MMD^2 = mean K(x, x) + mean K(y, y) - 2 mean K(x, y).
//!
//! Shapes: x [n, d], y [m, d], mmd / dmmd [1], dx [n, d], dy [m, d].
//! `Biased` is the V-statistic of the InfoVAE reference (means over all pairs, diagonal
//! included); `Unbiased` the U-statistic (x-x and y-y means over i != j; needs n, m >= 2).
//! Deterministic: per-row kernel sums into scratch, then one fixed-order pass to the scalar.

use super::distance::{check_scratch, forward_tiles, grad, Weights};
use super::{
    expect, fits_u32, launch, rows, Binds, PairKernel, Params, FLAG_SKIP_DIAG, MODE_VALUE,
    MODE_WEIGHT_SCALAR, TILE,
};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmdEstimator {
    /// V-statistic: every mean over all pairs, i == j included (the InfoVAE reference).
    Biased,
    /// U-statistic: K(x, x) and K(y, y) averaged over i != j only.
    Unbiased,
}

/// MMD^2 = c_xx sum K(x, x) + c_yy sum K(y, y) + c_xy sum K(x, y): the three coefficients.
pub fn mmd_coefs(est: MmdEstimator, n: usize, m: usize) -> [f64; 3] {
    let (n, m) = (n as f64, m as f64);
    let (pxx, pyy) = match est {
        MmdEstimator::Biased => (n * n, m * m),
        MmdEstimator::Unbiased => (n * (n - 1.0), m * (m - 1.0)),
    };
    [1.0 / pxx, 1.0 / pyy, -2.0 / (n * m)]
}

fn mmd_shape(
    kern: PairKernel,
    est: MmdEstimator,
    x: &Buf,
    y: &Buf,
    d: usize,
) -> Result<(usize, usize)> {
    kern.check()?;
    let n = rows("x", x, d)?;
    let m = rows("y", y, d)?;
    if est == MmdEstimator::Unbiased && (n < 2 || m < 2) {
        return shape_err!("unbiased MMD needs at least 2 rows in x and y, has n = {n}, m = {m}");
    }
    Ok((n, m))
}

/// Scratch `mmd` needs: per-row kernel sums [x-x (n), y-y (m), x-y (n)].
pub fn mmd_scratch_len(n: usize, m: usize) -> usize {
    2 * n + m
}

/// mmd [1] = MMD^2(x, y). Four dispatches: three row-sum passes and the final sum.
#[allow(clippy::too_many_arguments)]
pub fn mmd(
    gpu: &Gpu,
    kern: PairKernel,
    est: MmdEstimator,
    x: &Buf,
    y: &Buf,
    d: usize,
    scratch: &Buf,
    out: &Buf,
) -> Result<Vec<Dispatch>> {
    let (n, m) = mmd_shape(kern, est, x, y, d)?;
    check_scratch(scratch, mmd_scratch_len(n, m))?;
    expect("mmd", out, 1, DType::F32)?;
    let skip = if est == MmdEstimator::Unbiased {
        FLAG_SKIP_DIAG
    } else {
        0
    };
    let rowsum = |a: &Buf, b: &Buf, flags: u32, off: usize| {
        let params = Params {
            n: (a.len() / d) as u32,
            m: (b.len() / d) as u32,
            d: d as u32,
            scale: kern.scale(),
            flags,
            out_off: off as u32,
            ..Default::default()
        };
        let binds = Binds {
            a,
            b,
            w: None,
            out: scratch,
            idx: None,
            ex: None,
        };
        let inv = (a.len() / d).div_ceil(TILE);
        launch(
            gpu,
            "pair_rowsum",
            kern.code(),
            MODE_VALUE,
            &params,
            &binds,
            inv,
        )
    };
    let [c_xx, c_yy, c_xy] = mmd_coefs(est, n, m);
    let finish = Params {
        n: n as u32,
        m: m as u32,
        c_xx: c_xx as f32,
        c_yy: c_yy as f32,
        c_xy: c_xy as f32,
        ..Default::default()
    };
    let binds = Binds {
        a: x,
        b: y,
        w: Some(scratch),
        out,
        idx: None,
        ex: None,
    };
    Ok(vec![
        rowsum(x, x, skip, 0)?,
        rowsum(y, y, skip, n)?,
        rowsum(x, y, 0, n + m)?,
        launch(
            gpu,
            "mmd_finish",
            kern.code(),
            MODE_VALUE,
            &finish,
            &binds,
            1,
        )?,
    ])
}

/// Scratch `mmd_backward` needs: weight matrices W_xx [n, n], W_xy [n, m], W_yy [m, m].
pub fn mmd_backward_scratch_len(n: usize, m: usize) -> usize {
    n * n + n * m + m * m
}

/// Given dmmd [1]: dx (and dy when asked for; y needs it only when learned), written or
/// accumulated. With k' = dk/dD and dD_ab/dx_a = 2 (x_a - y_b):
///   dMMD/dx_i = dmmd [2 c_xx sum_b k'(D(x_i, x_b)) 2 (x_i - x_b)
///                     + c_xy sum_b k'(D(x_i, y_b)) 2 (x_i - y_b)]
///   dMMD/dy_j = dmmd [2 c_yy sum_b k'(D(y_j, y_b)) 2 (y_j - y_b)
///                     + c_xy sum_a k'(D(x_a, y_j)) 2 (y_j - x_a)]
/// (the x-x and y-y sums count each pair twice, as (i, b) and (b, i); their diagonal adds 0,
/// so the U-statistic differs only in c_xx and c_yy). Weights go to scratch first.
#[allow(clippy::too_many_arguments)]
pub fn mmd_backward(
    gpu: &Gpu,
    kern: PairKernel,
    est: MmdEstimator,
    x: &Buf,
    y: &Buf,
    d: usize,
    dmmd: &Buf,
    scratch: &Buf,
    dx: &Buf,
    dy: Option<&Buf>,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    let (n, m) = mmd_shape(kern, est, x, y, d)?;
    fits_u32("MMD backward scratch", mmd_backward_scratch_len(n, m))?;
    check_scratch(scratch, mmd_backward_scratch_len(n, m))?;
    expect("dmmd", dmmd, 1, DType::F32)?;
    expect("dx", dx, n * d, DType::F32)?;
    if let Some(dy) = dy {
        expect("dy", dy, m * d, DType::F32)?;
    }
    let [c_xx, c_yy, c_xy] = mmd_coefs(est, n, m);
    let (kind, s) = (kern.code(), kern.scale());
    let (off_xy, off_yy) = (n * n, n * n + n * m);
    let weights = |a: &Buf, b: &Buf, coef: f64, off: usize| {
        let w = Some((dmmd, 0));
        forward_tiles(
            gpu,
            kind,
            s,
            MODE_WEIGHT_SCALAR,
            coef as f32,
            a,
            b,
            d,
            w,
            (scratch, off),
        )
    };
    let w = |off: usize, rs: usize, ss: usize| Weights {
        buf: scratch,
        off,
        rs,
        ss,
        sym: false,
    };
    let mut out = vec![
        weights(x, x, 2.0 * c_xx, 0)?,
        weights(x, y, c_xy, off_xy)?,
        grad(gpu, x, x, d, w(0, n, 1), dx, accumulate)?,
        grad(gpu, x, y, d, w(off_xy, m, 1), dx, true)?,
    ];
    if let Some(dy) = dy {
        out.push(weights(y, y, 2.0 * c_yy, off_yy)?);
        out.push(grad(gpu, y, y, d, w(off_yy, m, 1), dy, accumulate)?);
        out.push(grad(gpu, y, x, d, w(off_xy, 1, m), dy, true)?);
    }
    Ok(out)
}
