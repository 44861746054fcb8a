//! Twin of shaders/elementwise.wgsl on f32 storage (family Elementwise) and on f16 storage with
//! f32 math (family ElementwiseF16: the same file after the f16 storage prelude): unary ops
//! y = f(x) and their backward, binary ops y = a op b and their backward, a broadcast row bias,
//! axpy and fill. Each op is one specialised pipeline (override `OP`).
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
mod ops;

pub use ops::{Binary, Saved, Unary};

use bytemuck::{Pod, Zeroable};

use crate::kernels::Family;
use crate::{Buf, DType};
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

// Binding numbers of shaders/elementwise.wgsl (see the file header).
const X: u32 = 1;
const B: u32 = 2;
const DY: u32 = 3;
const Y: u32 = 4;
const DB: u32 = 5;

/// The family for buffers of `dtype`: the storage prelude is what differs (F32 or F16).
fn family(dtype: DType) -> Family {
    match dtype {
        DType::F16 => Family::ElementwiseF16,
        _ => Family::Elementwise,
    }
}

/// Writes each public entry point twice from one signature: `name` on f32 buffers and
/// `name_f16` on f16 buffers, both calling the one builder `build` with `DType::F32` or
/// `DType::F16` (the builder picks the family, i.e. the storage prelude, by the dtype).
/// The matmul twin uses it too.
macro_rules! on_f32_and_f16 {
    ($($(#[doc = $doc:literal])*
       $name:ident, $name_f16:ident => $build:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[doc = $doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(gpu: &$crate::Gpu, $($arg: $ty),*) -> $crate::Result<$crate::Dispatch> {
            $build(gpu, $crate::DType::F32, $($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] on f16 buffers: the arithmetic stays f32 \
            and each result is rounded to f16 once, on store; scalar arguments stay f32. Needs \
            the adapter's SHADER_F16 (`Gpu::has_f16`), else building the dispatch returns \
            `Error::Limit`.")]
        #[allow(clippy::too_many_arguments)]
        pub fn $name_f16(gpu: &$crate::Gpu, $($arg: $ty),*) -> $crate::Result<$crate::Dispatch> {
            $build(gpu, $crate::DType::F16, $($arg),*)
        }
    )*};
}
pub(crate) use on_f32_and_f16;

on_f32_and_f16! {
    /// y = op(x).
    unary, unary_f16 => unary_in(op: Unary, x: &Buf, y: &Buf);

    /// dx = dy * op'(.) (or dx += ... when `accumulate`). `saved` is the tensor `op.saved()`
    /// names: the forward's input x or its output y.
    unary_backward, unary_backward_f16 => unary_backward_in(
        op: Unary, saved: &Buf, dy: &Buf, dx: &Buf, accumulate: bool);

    /// y = a op b.
    binary, binary_f16 => binary_in(op: Binary, a: &Buf, b: &Buf, y: &Buf);

    /// da, db of y = a op b; `accumulate[0]` for da, `[1]` for db. Add and Sub do not read a
    /// or b (`op.reads_inputs()`), but they are still length-checked.
    binary_backward, binary_backward_f16 => binary_backward_in(
        op: Binary, a: &Buf, b: &Buf, dy: &Buf, da: &Buf, db: &Buf, accumulate: [bool; 2]);

    /// y[b, f] = x[b, f] + bias[f]. Backward: dx = dy (no kernel), dbias = column sum of dy
    /// (the reduce family).
    add_row_bias, add_row_bias_f16 => add_row_bias_in(x: &Buf, bias: &Buf, y: &Buf);

    /// y = y + alpha * x.
    axpy, axpy_f16 => axpy_in(alpha: f32, x: &Buf, y: &Buf);

    /// y = value everywhere.
    fill, fill_f16 => fill_in(value: f32, y: &Buf);
}
