//! Losses that are sums of independent per-element terms: BCE with logits, MSE and the
//! Jensen-Shannon softplus terms. Forward: one invocation per row, loss [B]. Backward: one
//! invocation per element, reading dloss[b].
//!
//! Shapes: x, t, scores and their gradients [B, F]; loss, dloss [B].

use super::{check_rows, elem_grid, key, row_grid, slots, Params, Slot};
use crate::{Buf, Dispatch, Gpu, Result};

/// How MSE combines a row's squared errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// sum_f (x - t)^2
    Sum,
    /// (1/F) sum_f (x - t)^2
    Mean,
}

impl Reduction {
    pub(super) fn scale(self, cols: usize) -> f32 {
        match self {
            Reduction::Sum => 1.0,
            Reduction::Mean => (1.0 / cols as f64) as f32,
        }
    }
}

/// Which Jensen-Shannon term (Deep InfoMax, softplus form): the bound is
/// E_pos[-softplus(-T)] - E_neg[softplus(T)], so the loss minimises the sum of both terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsTerm {
    /// softplus(-T), for scores of positive (joint) pairs.
    Positive,
    /// softplus(T), for scores of negative (shuffled) pairs.
    Negative,
}

impl JsTerm {
    pub(super) fn sign(self) -> f32 {
        match self {
            JsTerm::Positive => -1.0,
            JsTerm::Negative => 1.0,
        }
    }
}

/// loss[b] = sum_f max(x,0) - x t + log1p(exp(-|x|)) (binary cross-entropy of sigmoid(x)
/// against t in [0, 1], without overflow for any |x|).
pub fn bce_forward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    x: &Buf,
    t: &Buf,
    loss: &Buf,
) -> Result<Dispatch> {
    check_rows(
        "bce_forward",
        rows,
        cols,
        &[("x", x), ("t", t)],
        ("loss", loss),
    )?;
    let bufs = slots(&[(Slot::X, x), (Slot::T, t), (Slot::Out, loss)]);
    gpu.dispatch(
        &key("bce_forward"),
        &Params::new(rows, cols),
        &bufs,
        row_grid(gpu, rows)?,
    )
}

/// dx = dloss[b] * (sigmoid(x) - t).
#[allow(clippy::too_many_arguments)]
pub fn bce_backward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    x: &Buf,
    t: &Buf,
    dloss: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    check_rows(
        "bce_backward",
        rows,
        cols,
        &[("x", x), ("t", t), ("dx", dx)],
        ("dloss", dloss),
    )?;
    let bufs = slots(&[
        (Slot::X, x),
        (Slot::T, t),
        (Slot::Dloss, dloss),
        (Slot::Dx, dx),
    ]);
    let params = Params::new(rows, cols).accumulate(accumulate);
    gpu.dispatch(
        &key("bce_backward"),
        &params,
        &bufs,
        elem_grid(gpu, rows, cols)?,
    )
}

/// loss[b] = s * sum_f (x - t)^2 with s = 1 (`Sum`) or 1/F (`Mean`).
#[allow(clippy::too_many_arguments)]
pub fn mse_forward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    x: &Buf,
    t: &Buf,
    loss: &Buf,
    reduction: Reduction,
) -> Result<Dispatch> {
    check_rows(
        "mse_forward",
        rows,
        cols,
        &[("x", x), ("t", t)],
        ("loss", loss),
    )?;
    let params = Params {
        scale: reduction.scale(cols),
        ..Params::new(rows, cols)
    };
    let bufs = slots(&[(Slot::X, x), (Slot::T, t), (Slot::Out, loss)]);
    gpu.dispatch(&key("mse_forward"), &params, &bufs, row_grid(gpu, rows)?)
}

/// dx = 2 s (x - t) dloss[b].
#[allow(clippy::too_many_arguments)]
pub fn mse_backward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    x: &Buf,
    t: &Buf,
    dloss: &Buf,
    dx: &Buf,
    reduction: Reduction,
    accumulate: bool,
) -> Result<Dispatch> {
    check_rows(
        "mse_backward",
        rows,
        cols,
        &[("x", x), ("t", t), ("dx", dx)],
        ("dloss", dloss),
    )?;
    let params = Params {
        scale: reduction.scale(cols),
        ..Params::new(rows, cols).accumulate(accumulate)
    };
    let bufs = slots(&[
        (Slot::X, x),
        (Slot::T, t),
        (Slot::Dloss, dloss),
        (Slot::Dx, dx),
    ]);
    gpu.dispatch(
        &key("mse_backward"),
        &params,
        &bufs,
        elem_grid(gpu, rows, cols)?,
    )
}

/// out[b] = sum_f softplus(-T) (`Positive`) or softplus(T) (`Negative`) over the row. With
/// `cols` = 1 and `rows` = n this is the element-wise term over n scores.
pub fn js_forward(
    gpu: &Gpu,
    term: JsTerm,
    rows: usize,
    cols: usize,
    scores: &Buf,
    out: &Buf,
) -> Result<Dispatch> {
    check_rows(
        "js_forward",
        rows,
        cols,
        &[("scores", scores)],
        ("out", out),
    )?;
    let params = Params {
        sign: term.sign(),
        ..Params::new(rows, cols)
    };
    let bufs = slots(&[(Slot::X, scores), (Slot::Out, out)]);
    gpu.dispatch(&key("js_forward"), &params, &bufs, row_grid(gpu, rows)?)
}

/// dscores = dout[b] * (-sigmoid(-T)) (`Positive`) or dout[b] * sigmoid(T) (`Negative`).
#[allow(clippy::too_many_arguments)]
pub fn js_backward(
    gpu: &Gpu,
    term: JsTerm,
    rows: usize,
    cols: usize,
    scores: &Buf,
    dout: &Buf,
    dscores: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let ins = [("scores", scores), ("dscores", dscores)];
    check_rows("js_backward", rows, cols, &ins, ("dout", dout))?;
    let params = Params {
        sign: term.sign(),
        ..Params::new(rows, cols).accumulate(accumulate)
    };
    let bufs = slots(&[(Slot::X, scores), (Slot::Dloss, dout), (Slot::Dx, dscores)]);
    gpu.dispatch(
        &key("js_backward"),
        &params,
        &bufs,
        elem_grid(gpu, rows, cols)?,
    )
}
