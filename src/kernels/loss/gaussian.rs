//! Gaussian negative log-likelihood, for InfoGAN's continuous codes: the Q head predicts a
//! mean and (optionally) a log-variance per code dimension. Forward: one invocation per row,
//! nll [B]. Backward: one invocation per element, gradients for mu and logvar (not for c).
//!
//! Shapes: mu, logvar, c, dmu, dlogvar [B, D]; nll, dnll [B].

use super::{check_buf, check_rows, elem_grid, key, row_grid, slots, Params, Slot};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

/// nll[b] = sum_d 0.5 log(2 pi) + 0.5 logvar + (c - mu)^2 / (2 exp(logvar)). `logvar` None
/// means unit variance (logvar = 0, no buffer bound).
#[allow(clippy::too_many_arguments)]
pub fn gaussian_nll_forward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    mu: &Buf,
    logvar: Option<&Buf>,
    c: &Buf,
    nll: &Buf,
) -> Result<Dispatch> {
    let op = "gaussian_nll_forward";
    check_rows(op, rows, cols, &[("mu", mu), ("c", c)], ("nll", nll))?;
    let mut given = vec![(Slot::X, mu), (Slot::T, c), (Slot::Out, nll)];
    let entry = match logvar {
        Some(lv) => {
            check_buf(op, "logvar", lv, rows * cols, DType::F32)?;
            given.push((Slot::Logvar, lv));
            "gnll_forward"
        }
        None => "gnll_unit_forward",
    };
    gpu.dispatch(
        &key(entry),
        &Params::new(rows, cols),
        &slots(&given),
        row_grid(gpu, rows)?,
    )
}

/// dmu = dnll[b] (mu - c) exp(-logvar); dlogvar = dnll[b] (0.5 - 0.5 (c - mu)^2 exp(-logvar)).
/// `logvar` and `dlogvar` are both Some (learned variance) or both None (unit variance).
#[allow(clippy::too_many_arguments)]
pub fn gaussian_nll_backward(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    mu: &Buf,
    logvar: Option<&Buf>,
    c: &Buf,
    dnll: &Buf,
    dmu: &Buf,
    dlogvar: Option<&Buf>,
    accumulate: bool,
) -> Result<Dispatch> {
    let op = "gaussian_nll_backward";
    let ins = [("mu", mu), ("c", c), ("dmu", dmu)];
    check_rows(op, rows, cols, &ins, ("dnll", dnll))?;
    let mut given = vec![
        (Slot::X, mu),
        (Slot::T, c),
        (Slot::Dloss, dnll),
        (Slot::Dx, dmu),
    ];
    let entry = match (logvar, dlogvar) {
        (Some(lv), Some(dlv)) => {
            check_buf(op, "logvar", lv, rows * cols, DType::F32)?;
            check_buf(op, "dlogvar", dlv, rows * cols, DType::F32)?;
            given.extend([(Slot::Logvar, lv), (Slot::Dlogvar, dlv)]);
            "gnll_backward"
        }
        (None, None) => "gnll_unit_backward",
        _ => {
            return shape_err!(
                "{op}: pass both logvar and dlogvar (learned variance) or neither (unit variance)"
            )
        }
    };
    let params = Params::new(rows, cols).accumulate(accumulate);
    gpu.dispatch(
        &key(entry),
        &params,
        &slots(&given),
        elem_grid(gpu, rows, cols)?,
    )
}
