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

pub(crate) mod args;
mod build;
pub mod cpu;
mod f16;
mod ops;

pub use f16::*;
pub use ops::{Binary, Saved, Unary};

use bytemuck::{Pod, Zeroable};

use crate::kernels::Family;
use crate::{Buf, DType, Dispatch, Gpu, Result};
use build::*;

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
enum Storage {
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
    fn dtype(self) -> DType {
        match self {
            Storage::F32 => DType::F32,
            Storage::F16 => DType::F16,
        }
    }
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
