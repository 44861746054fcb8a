//! The dispatch builders behind the f32 and f16 twins: one per entry point, taking the buffers'
//! dtype (F32 or F16), which also picks the family, i.e. the storage prelude.

use super::args::{beta, bind, count, read, write, Arg};
use super::{family, Binary, Params, Unary, B, DB, DY, WG, X, Y};
use crate::kernels::grid_1d;
use crate::{shape_err, Buf, DType, Dispatch, Gpu, KernelKey, Result};

/// Build a 1-D dispatch of `entry` (one thread per element) over `params.n` elements.
fn launch(
    gpu: &Gpu,
    dtype: DType,
    entry: &'static str,
    op: Option<u32>,
    params: Params,
    args: &[Arg],
) -> Result<Dispatch> {
    let bufs = bind(entry, dtype, args)?;
    let mut key = KernelKey::new(family(dtype), entry).with("WG", WG as f64);
    if let Some(op) = op {
        key = key.with("OP", op as f64);
    }
    gpu.dispatch(&key, &params, &bufs, grid_1d(gpu, params.n as usize, WG)?)
}

fn params(what: &str, n: usize) -> Result<Params> {
    Ok(Params {
        n: count(what, n)?,
        cols: 1,
        alpha: 0.0,
        beta: 0.0,
        beta2: 0.0,
    })
}

pub(super) fn unary_in(gpu: &Gpu, dtype: DType, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    let n = x.len();
    let p = Params {
        alpha: op.alpha(),
        ..params("unary_forward", n)?
    };
    let args = [read("x", X, x, n), write("y", Y, y, n)];
    launch(gpu, dtype, "unary_forward", Some(op.code()), p, &args)
}

pub(super) fn unary_backward_in(
    gpu: &Gpu,
    dtype: DType,
    op: Unary,
    saved: &Buf,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let n = dy.len();
    let p = Params {
        alpha: op.alpha(),
        beta: beta(accumulate),
        ..params("unary_backward", n)?
    };
    let args = [
        read("saved", X, saved, n),
        read("dy", DY, dy, n),
        write("dx", Y, dx, n),
    ];
    launch(gpu, dtype, "unary_backward", Some(op.code()), p, &args)
}

pub(super) fn binary_in(
    gpu: &Gpu,
    dtype: DType,
    op: Binary,
    a: &Buf,
    b: &Buf,
    y: &Buf,
) -> Result<Dispatch> {
    let n = a.len();
    let args = [read("a", X, a, n), read("b", B, b, n), write("y", Y, y, n)];
    let p = params("binary_forward", n)?;
    launch(gpu, dtype, "binary_forward", Some(op.code()), p, &args)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn binary_backward_in(
    gpu: &Gpu,
    dtype: DType,
    op: Binary,
    a: &Buf,
    b: &Buf,
    dy: &Buf,
    da: &Buf,
    db: &Buf,
    accumulate: [bool; 2],
) -> Result<Dispatch> {
    let n = dy.len();
    let p = Params {
        beta: beta(accumulate[0]),
        beta2: beta(accumulate[1]),
        ..params("binary_backward", n)?
    };
    let mut args = vec![
        read("a", X, a, n),
        read("b", B, b, n),
        read("dy", DY, dy, n),
        write("da", Y, da, n),
        write("db", DB, db, n),
    ];
    let entry = match op {
        Binary::Add | Binary::Sub => {
            // Reads neither a nor b: they are only length-checked, never bound.
            bind("binary_backward", dtype, &args)?;
            args.drain(..2);
            "binary_backward_linear"
        }
        Binary::Mul => "binary_backward_mul",
    };
    launch(gpu, dtype, entry, Some(op.code()), p, &args)
}

pub(super) fn add_row_bias_in(
    gpu: &Gpu,
    dtype: DType,
    x: &Buf,
    bias: &Buf,
    y: &Buf,
) -> Result<Dispatch> {
    let (n, f) = (x.len(), bias.len());
    if (f == 0 && n != 0) || (f != 0 && n % f != 0) {
        return shape_err!(
            "add_row_bias: x has {n} elements, not a whole number of rows of bias's {f}"
        );
    }
    let p = Params {
        cols: count("add_row_bias", f.max(1))?,
        ..params("add_row_bias", n)?
    };
    let args = [
        read("x", X, x, n),
        read("bias", B, bias, f),
        write("y", Y, y, n),
    ];
    launch(gpu, dtype, "add_row_bias", None, p, &args)
}

pub(super) fn axpy_in(gpu: &Gpu, dtype: DType, alpha: f32, x: &Buf, y: &Buf) -> Result<Dispatch> {
    let n = x.len();
    let p = Params {
        alpha,
        ..params("axpy", n)?
    };
    launch(
        gpu,
        dtype,
        "axpy",
        None,
        p,
        &[read("x", X, x, n), write("y", Y, y, n)],
    )
}

pub(super) fn fill_in(gpu: &Gpu, dtype: DType, value: f32, y: &Buf) -> Result<Dispatch> {
    let n = y.len();
    let p = Params {
        alpha: value,
        ..params("fill", n)?
    };
    launch(gpu, dtype, "fill", None, p, &[write("y", Y, y, n)])
}
