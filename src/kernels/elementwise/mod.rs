//! Twin of shaders/elementwise.wgsl (f32) and shaders/elementwise_f16.wgsl (f16 storage, f32
//! math): unary ops y = f(x) and their backward, binary ops y = a op b and their backward, a
//! broadcast row bias, axpy and fill. Each op is one specialised pipeline (override `OP`).
//!
//! Shapes: every buffer is [n] (any tensor, flattened), except `add_row_bias`: x, y [B, F],
//! bias [F]. The f16 twins (`unary_f16`, ...) take the same arguments on `DType::F16` buffers.
//!
//! Backward entry points write or accumulate their gradients (`accumulate`, one flag per
//! gradient they produce), so the graph can sum the gradients of a tensor with several
//! consumers without extra add kernels.

pub mod cpu;
mod f16;
mod ops;

pub use f16::*;
pub use ops::{Binary, Saved, Unary};

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

/// Threads per workgroup, one element each (a multiple of lavapipe's 8-wide SIMD).
const WG: usize = 64;

/// Mirrors the WGSL `Params` (binding 0).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Params {
    pub n: u32,
    /// add_row_bias: F.
    pub cols: u32,
    /// Op argument: leaky slope, scale factor, axpy factor, fill value.
    pub alpha: f32,
    /// 0 or 1: accumulate into the first gradient (dx / da).
    pub beta: f32,
    /// 0 or 1: accumulate into db.
    pub beta2: f32,
}

// Binding numbers of shaders/elementwise*.wgsl (see the file header).
const X: u32 = 1;
const B: u32 = 2;
const DY: u32 = 3;
const Y: u32 = 4;
const DB: u32 = 5;

/// Which storage a dispatch runs on: picks the family (shader file) and the buffers' dtype.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Storage {
    F32,
    F16,
}

impl Storage {
    fn family(self) -> Family {
        match self {
            Storage::F32 => Family::Elementwise,
            Storage::F16 => Family::ElementwiseF16,
        }
    }
    pub(crate) fn dtype(self) -> DType {
        match self {
            Storage::F32 => DType::F32,
            Storage::F16 => DType::F16,
        }
    }
}

/// One buffer argument of a dispatch: its name (for errors), binding, expected length, and
/// whether the kernel writes it.
pub(crate) struct Arg<'a> {
    pub name: &'static str,
    pub binding: u32,
    pub buf: &'a Buf,
    pub len: usize,
    pub written: bool,
}

pub(crate) fn read<'a>(name: &'static str, binding: u32, buf: &'a Buf, len: usize) -> Arg<'a> {
    Arg {
        name,
        binding,
        buf,
        len,
        written: false,
    }
}

pub(crate) fn write<'a>(name: &'static str, binding: u32, buf: &'a Buf, len: usize) -> Arg<'a> {
    Arg {
        name,
        binding,
        buf,
        len,
        written: true,
    }
}

/// Check lengths, dtypes and aliasing of a dispatch's buffers, then order them by binding for
/// `gpu.dispatch` (slots an entry point does not bind are never read, so they repeat the first
/// buffer). A written buffer may not also be bound elsewhere in the same dispatch: wgpu rejects
/// a buffer that is both read-only and read-write storage in one dispatch.
pub(crate) fn bind<'a>(what: &str, dtype: DType, args: &[Arg<'a>]) -> Result<Vec<&'a Buf>> {
    for a in args {
        if a.buf.len() != a.len {
            return shape_err!(
                "{what}: {} has {} elements, expected {}",
                a.name,
                a.buf.len(),
                a.len
            );
        }
        if a.buf.dtype() != dtype {
            return shape_err!(
                "{what}: {} holds {:?} but this kernel works on {dtype:?} buffers",
                a.name,
                a.buf.dtype()
            );
        }
    }
    for (i, a) in args.iter().enumerate() {
        for o in &args[i + 1..] {
            if (a.written || o.written) && std::ptr::eq(a.buf, o.buf) {
                return Err(Error::Config(format!(
                    "{what}: {} and {} are the same buffer, but a kernel cannot write a buffer \
                     it also reads or writes through another argument; use a separate output",
                    a.name, o.name
                )));
            }
        }
    }
    let top = args.iter().map(|a| a.binding).max().unwrap_or(0) as usize;
    let mut slots = vec![args[0].buf; top];
    for a in args {
        slots[a.binding as usize - 1] = a.buf;
    }
    Ok(slots)
}

/// Element count as the shader's u32 (buffers this large are refused earlier by the adapter's
/// limits, but the conversion stays checked).
pub(crate) fn count(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        Error::Limit(format!(
            "{what}: {n} elements exceed the 2^32 a kernel can index"
        ))
    })
}

/// The WGSL beta of the accumulate convention.
pub(crate) fn beta(accumulate: bool) -> f32 {
    if accumulate {
        1.0
    } else {
        0.0
    }
}

/// Build a 1-D dispatch of `entry` (one thread per element) over `params.n` elements.
fn launch(
    gpu: &Gpu,
    st: Storage,
    entry: &'static str,
    op: Option<u32>,
    params: Params,
    args: &[Arg],
) -> Result<Dispatch> {
    let bufs = bind(entry, st.dtype(), args)?;
    let mut key = KernelKey::new(st.family(), entry).with("WG", WG as f64);
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

pub(crate) fn unary_in(gpu: &Gpu, st: Storage, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    let n = x.len();
    let p = Params {
        alpha: op.alpha(),
        ..params("unary_forward", n)?
    };
    let args = [read("x", X, x, n), write("y", Y, y, n)];
    launch(gpu, st, "unary_forward", Some(op.code()), p, &args)
}

pub(crate) fn unary_backward_in(
    gpu: &Gpu,
    st: Storage,
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
    launch(gpu, st, "unary_backward", Some(op.code()), p, &args)
}

pub(crate) fn binary_in(
    gpu: &Gpu,
    st: Storage,
    op: Binary,
    a: &Buf,
    b: &Buf,
    y: &Buf,
) -> Result<Dispatch> {
    let n = a.len();
    let args = [read("a", X, a, n), read("b", B, b, n), write("y", Y, y, n)];
    let p = params("binary_forward", n)?;
    launch(gpu, st, "binary_forward", Some(op.code()), p, &args)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn binary_backward_in(
    gpu: &Gpu,
    st: Storage,
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
            bind("binary_backward", st.dtype(), &args)?;
            args.drain(..2);
            "binary_backward_linear"
        }
        Binary::Mul => "binary_backward_mul",
    };
    launch(gpu, st, entry, Some(op.code()), p, &args)
}

pub(crate) fn add_row_bias_in(
    gpu: &Gpu,
    st: Storage,
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
    launch(gpu, st, "add_row_bias", None, p, &args)
}

pub(crate) fn axpy_in(gpu: &Gpu, st: Storage, alpha: f32, x: &Buf, y: &Buf) -> Result<Dispatch> {
    let n = x.len();
    let p = Params {
        alpha,
        ..params("axpy", n)?
    };
    launch(
        gpu,
        st,
        "axpy",
        None,
        p,
        &[read("x", X, x, n), write("y", Y, y, n)],
    )
}

pub(crate) fn fill_in(gpu: &Gpu, st: Storage, value: f32, y: &Buf) -> Result<Dispatch> {
    let n = y.len();
    let p = Params {
        alpha: value,
        ..params("fill", n)?
    };
    launch(gpu, st, "fill", None, p, &[write("y", Y, y, n)])
}

/// y = op(x).
pub fn unary(gpu: &Gpu, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    unary_in(gpu, Storage::F32, op, x, y)
}

/// dx = dy * op'(.) (or dx += ... when `accumulate`). `saved` is the tensor `op.saved()` names:
/// the forward's input x or its output y.
pub fn unary_backward(
    gpu: &Gpu,
    op: Unary,
    saved: &Buf,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    unary_backward_in(gpu, Storage::F32, op, saved, dy, dx, accumulate)
}

/// y = a op b.
pub fn binary(gpu: &Gpu, op: Binary, a: &Buf, b: &Buf, y: &Buf) -> Result<Dispatch> {
    binary_in(gpu, Storage::F32, op, a, b, y)
}

/// da, db of y = a op b; `accumulate[0]` for da, `[1]` for db. Add and Sub do not read a or b
/// (`op.reads_inputs()`), but they are still length-checked.
#[allow(clippy::too_many_arguments)]
pub fn binary_backward(
    gpu: &Gpu,
    op: Binary,
    a: &Buf,
    b: &Buf,
    dy: &Buf,
    da: &Buf,
    db: &Buf,
    accumulate: [bool; 2],
) -> Result<Dispatch> {
    binary_backward_in(gpu, Storage::F32, op, a, b, dy, da, db, accumulate)
}

/// y[b, f] = x[b, f] + bias[f]. Backward: dx = dy (no kernel), dbias = column sum of dy (the
/// reduce family).
pub fn add_row_bias(gpu: &Gpu, x: &Buf, bias: &Buf, y: &Buf) -> Result<Dispatch> {
    add_row_bias_in(gpu, Storage::F32, x, bias, y)
}

/// y = y + alpha * x.
pub fn axpy(gpu: &Gpu, alpha: f32, x: &Buf, y: &Buf) -> Result<Dispatch> {
    axpy_in(gpu, Storage::F32, alpha, x, y)
}

/// y = value everywhere.
pub fn fill(gpu: &Gpu, value: f32, y: &Buf) -> Result<Dispatch> {
    fill_in(gpu, Storage::F32, value, y)
}
