//! Distance and kernel matrices: D_ij = ||x_i - y_j||^2, K_ij = k(D_ij), and their gradients.
//!
//! Shapes: x [n, d], y [m, d], D / K / dD / dK [n, m], dx [n, d], dy [m, d].
//! Backward: dx_i = sum_j dD_ij * 2 (x_i - y_j), dy_j = sum_i dD_ij * 2 (y_j - x_i); for a
//! kernel, dD_ij = dK_ij * dk/dD (D_ij), materialised as a weight matrix W in scratch first
//! (one O(n m d) pass), so the gradient pass needs no distances.

use super::{
    beta, expect, fits_u32, launch, rows, Binds, PairKernel, Params, FLAG_SYM, KIND_SQDIST,
    MODE_VALUE, MODE_WEIGHT_MAT, TILE,
};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

/// Rows of x and y, checked against each other and the [n, m] matrix `mat`.
fn pair_shape(x: &Buf, y: &Buf, d: usize, mat: &Buf, what: &str) -> Result<(usize, usize)> {
    let n = rows("x", x, d)?;
    let m = rows("y", y, d)?;
    fits_u32(what, n * m)?;
    expect(what, mat, n * m, DType::F32)?;
    Ok((n, m))
}

/// pair_forward over x [n, d] x y [m, d]: k(D) or a weight into `out` at `out_off`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_tiles(
    gpu: &Gpu,
    kind: u32,
    scale: f32,
    mode: u32,
    coef: f32,
    x: &Buf,
    y: &Buf,
    d: usize,
    w: Option<(&Buf, usize)>,
    out: (&Buf, usize),
) -> Result<Dispatch> {
    let (n, m) = (x.len() / d, y.len() / d);
    let params = Params {
        n: n as u32,
        m: m as u32,
        d: d as u32,
        scale,
        coef,
        w_off: w.map_or(0, |w| w.1) as u32,
        out_off: out.1 as u32,
        ..Default::default()
    };
    let binds = Binds {
        a: x,
        b: y,
        w: w.map(|w| w.0),
        out: out.0,
        idx: None,
        ex: None,
    };
    let tiles = n.div_ceil(TILE) * m.div_ceil(TILE);
    launch(gpu, "pair_forward", kind, mode, &params, &binds, tiles)
}

/// How pair_grad reads its weights: W(r, s) = w[off + r * rs + s * ss] (+ W(s, r) if sym).
pub(super) struct Weights<'a> {
    pub buf: &'a Buf,
    pub off: usize,
    pub rs: usize,
    pub ss: usize,
    pub sym: bool,
}

/// g_r = [g_r] + 2 sum_s W(r, s) (a_r - b_s) for a [ra, d], b [rb, d], g [ra, d].
pub(super) fn grad(
    gpu: &Gpu,
    a: &Buf,
    b: &Buf,
    d: usize,
    w: Weights,
    g: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let (ra, rb) = (a.len() / d, b.len() / d);
    expect("gradient", g, ra * d, DType::F32)?;
    let params = Params {
        n: ra as u32,
        m: rb as u32,
        d: d as u32,
        beta: beta(accumulate),
        flags: if w.sym { FLAG_SYM } else { 0 },
        w_rs: w.rs as u32,
        w_ss: w.ss as u32,
        w_off: w.off as u32,
        ..Default::default()
    };
    let binds = Binds {
        a,
        b,
        w: Some(w.buf),
        out: g,
        idx: None,
        ex: None,
    };
    let inv = ra.div_ceil(TILE) * d.div_ceil(4).div_ceil(2);
    launch(
        gpu,
        "pair_grad",
        KIND_SQDIST,
        MODE_VALUE,
        &params,
        &binds,
        inv,
    )
}

/// dx from weights W [n, m] (x side) and dy from the same W read transposed (y side).
#[allow(clippy::too_many_arguments)]
fn grads_xy(
    gpu: &Gpu,
    x: &Buf,
    y: &Buf,
    d: usize,
    w: &Buf,
    dx: Option<&Buf>,
    dy: Option<&Buf>,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    let m = y.len() / d;
    let mut out = Vec::new();
    if let Some(dx) = dx {
        let wx = Weights {
            buf: w,
            off: 0,
            rs: m,
            ss: 1,
            sym: false,
        };
        out.push(grad(gpu, x, y, d, wx, dx, accumulate)?);
    }
    if let Some(dy) = dy {
        let wy = Weights {
            buf: w,
            off: 0,
            rs: 1,
            ss: m,
            sym: false,
        };
        out.push(grad(gpu, y, x, d, wy, dy, accumulate)?);
    }
    Ok(out)
}

/// D = squared distances of x [n, d] to y [m, d], [n, m]. Self case: pass x as y.
pub fn sqdist(gpu: &Gpu, x: &Buf, y: &Buf, d: usize, dist: &Buf) -> Result<Dispatch> {
    pair_shape(x, y, d, dist, "D")?;
    forward_tiles(
        gpu,
        KIND_SQDIST,
        0.0,
        MODE_VALUE,
        0.0,
        x,
        y,
        d,
        None,
        (dist, 0),
    )
}

/// Given dD [n, m]: dx_i = sum_j dD_ij 2 (x_i - y_j) and dy_j = sum_i dD_ij 2 (y_j - x_i),
/// each written (or accumulated) when asked for. One dispatch per gradient.
#[allow(clippy::too_many_arguments)]
pub fn sqdist_backward(
    gpu: &Gpu,
    x: &Buf,
    y: &Buf,
    d: usize,
    ddist: &Buf,
    dx: Option<&Buf>,
    dy: Option<&Buf>,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    pair_shape(x, y, d, ddist, "dD")?;
    grads_xy(gpu, x, y, d, ddist, dx, dy, accumulate)
}

/// Self case D = sqdist(x, x): x is both arguments, so both contributions land in dx:
/// dx_i = sum_j (dD_ij + dD_ji) 2 (x_i - x_j).
pub fn sqdist_self_backward(
    gpu: &Gpu,
    x: &Buf,
    d: usize,
    ddist: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let (n, _) = pair_shape(x, x, d, ddist, "dD")?;
    let w = Weights {
        buf: ddist,
        off: 0,
        rs: n,
        ss: 1,
        sym: true,
    };
    grad(gpu, x, x, d, w, dx, accumulate)
}

/// K = k(D) for x [n, d] against y [m, d], [n, m]. Self case: pass x as y.
pub fn kernel_matrix(
    gpu: &Gpu,
    kern: PairKernel,
    x: &Buf,
    y: &Buf,
    d: usize,
    k: &Buf,
) -> Result<Dispatch> {
    kern.check()?;
    pair_shape(x, y, d, k, "K")?;
    let (kind, s) = (kern.code(), kern.scale());
    forward_tiles(gpu, kind, s, MODE_VALUE, 0.0, x, y, d, None, (k, 0))
}

/// Scratch `kernel_matrix_backward` and `kernel_matrix_self_backward` need: W [n, m].
pub fn kernel_matrix_backward_scratch_len(n: usize, m: usize) -> usize {
    n * m
}

pub(super) fn check_scratch(scratch: &Buf, need: usize) -> Result<()> {
    if scratch.dtype() != DType::F32 || scratch.len() < need {
        return shape_err!(
            "scratch must hold at least {need} f32 elements, has {} {:?}",
            scratch.len(),
            scratch.dtype()
        );
    }
    Ok(())
}

/// Given dK [n, m]: W = dK * dk/dD into scratch, then dx_i = sum_j W_ij 2 (x_i - y_j) and
/// dy_j = sum_i W_ij 2 (y_j - x_i), each when asked for.
#[allow(clippy::too_many_arguments)]
pub fn kernel_matrix_backward(
    gpu: &Gpu,
    kern: PairKernel,
    x: &Buf,
    y: &Buf,
    d: usize,
    dk: &Buf,
    scratch: &Buf,
    dx: Option<&Buf>,
    dy: Option<&Buf>,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    kern.check()?;
    let (n, m) = pair_shape(x, y, d, dk, "dK")?;
    check_scratch(scratch, kernel_matrix_backward_scratch_len(n, m))?;
    let (kind, s) = (kern.code(), kern.scale());
    let mut out = vec![forward_tiles(
        gpu,
        kind,
        s,
        MODE_WEIGHT_MAT,
        1.0,
        x,
        y,
        d,
        Some((dk, 0)),
        (scratch, 0),
    )?];
    out.extend(grads_xy(gpu, x, y, d, scratch, dx, dy, accumulate)?);
    Ok(out)
}

/// Self case K = kernel_matrix(x, x): dx_i = sum_j (W_ij + W_ji) 2 (x_i - x_j).
#[allow(clippy::too_many_arguments)]
pub fn kernel_matrix_self_backward(
    gpu: &Gpu,
    kern: PairKernel,
    x: &Buf,
    d: usize,
    dk: &Buf,
    scratch: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    kern.check()?;
    let (n, _) = pair_shape(x, x, d, dk, "dK")?;
    check_scratch(scratch, kernel_matrix_backward_scratch_len(n, n))?;
    let (kind, s) = (kern.code(), kern.scale());
    let weights = forward_tiles(
        gpu,
        kind,
        s,
        MODE_WEIGHT_MAT,
        1.0,
        x,
        x,
        d,
        Some((dk, 0)),
        (scratch, 0),
    )?;
    let w = Weights {
        buf: scratch,
        off: 0,
        rs: n,
        ss: 1,
        sym: true,
    };
    Ok(vec![weights, grad(gpu, x, x, d, w, dx, accumulate)?])
}
