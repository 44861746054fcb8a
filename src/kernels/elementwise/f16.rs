//! The f16 twins: the same entry points on `DType::F16` buffers (shaders/elementwise_f16.wgsl,
//! which computes in f32 and rounds once on store). Need the adapter's SHADER_F16
//! (`Gpu::has_f16`); otherwise building the dispatch returns `Error::Limit`.

use super::{Binary, Storage, Unary};
use crate::{Buf, Dispatch, Gpu, Result};

/// f16 `unary`.
pub fn unary_f16(gpu: &Gpu, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    super::unary_in(gpu, Storage::F16, op, x, y)
}

/// f16 `unary_backward`.
pub fn unary_backward_f16(
    gpu: &Gpu,
    op: Unary,
    saved: &Buf,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    super::unary_backward_in(gpu, Storage::F16, op, saved, dy, dx, accumulate)
}

/// f16 `binary`.
pub fn binary_f16(gpu: &Gpu, op: Binary, a: &Buf, b: &Buf, y: &Buf) -> Result<Dispatch> {
    super::binary_in(gpu, Storage::F16, op, a, b, y)
}

/// f16 `binary_backward`.
#[allow(clippy::too_many_arguments)]
pub fn binary_backward_f16(
    gpu: &Gpu,
    op: Binary,
    a: &Buf,
    b: &Buf,
    dy: &Buf,
    da: &Buf,
    db: &Buf,
    accumulate: [bool; 2],
) -> Result<Dispatch> {
    super::binary_backward_in(gpu, Storage::F16, op, a, b, dy, da, db, accumulate)
}

/// f16 `add_row_bias`.
pub fn add_row_bias_f16(gpu: &Gpu, x: &Buf, bias: &Buf, y: &Buf) -> Result<Dispatch> {
    super::add_row_bias_in(gpu, Storage::F16, x, bias, y)
}

/// f16 `axpy` (alpha stays f32).
pub fn axpy_f16(gpu: &Gpu, alpha: f32, x: &Buf, y: &Buf) -> Result<Dispatch> {
    super::axpy_in(gpu, Storage::F16, alpha, x, y)
}

/// f16 `fill` (value rounded to f16 on store).
pub fn fill_f16(gpu: &Gpu, value: f32, y: &Buf) -> Result<Dispatch> {
    super::fill_in(gpu, Storage::F16, value, y)
}
