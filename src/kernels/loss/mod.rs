//! Twin of shaders/loss.wgsl: per-sample losses and their input gradients.
//!
//! Shapes: B = batch rows, F = features per row (K = classes, D = code dimensions). Inputs are
//! row-major [B, F]; every forward writes one value per sample, loss [B]; every backward takes
//! the upstream per-sample gradient dloss [B] and writes (or, with `accumulate`, adds to) the
//! gradient of its differentiable inputs. Targets, codes and labels get no gradient.
//!
//! - `pointwise`: BCE with logits, MSE, Jensen-Shannon softplus terms.
//! - `gaussian`: Gaussian NLL with learned or unit variance.
//! - `softmax`: softmax cross-entropy with u32 labels, accuracy, probability averaging.
//! - here: the shared params, `validate_labels`, and `batch_sum` (a fixed-order batch total).
//! - `cpu`: the f64 reference of every entry point.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

pub mod cpu;
mod gaussian;
mod pointwise;
mod softmax;

pub use gaussian::*;
pub use pointwise::*;
pub use softmax::*;

/// Invocations per workgroup of every loss kernel except `batch_sum` (a multiple of 8, the
/// lavapipe SIMD width).
const WG: usize = 64;

/// Mirrors the WGSL `Params` (one struct for the whole family; each entry point reads the
/// fields it needs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Params {
    /// B (for element-wise JS terms: n, with `cols` = 1).
    pub rows: u32,
    /// F, K or D.
    pub cols: u32,
    /// 0 = overwrite, 1 = accumulate.
    pub beta: f32,
    /// MSE 1 or 1/F, softmax_accumulate weight, batch_sum 1 or 1/B; otherwise 1.
    pub scale: f32,
    /// JS term sign: -1 = softplus(-T), +1 = softplus(T).
    pub sign: f32,
}

impl Params {
    fn new(rows: usize, cols: usize) -> Self {
        Params {
            rows: rows as u32,
            cols: cols as u32,
            beta: 0.0,
            scale: 1.0,
            sign: 1.0,
        }
    }
    fn accumulate(mut self, accumulate: bool) -> Self {
        self.beta = if accumulate { 1.0 } else { 0.0 };
        self
    }
}

/// Storage bindings 1..=8 of loss.wgsl, in order.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    X,
    T,
    Labels,
    Logvar,
    Dloss,
    Out,
    Dx,
    Dlogvar,
}

/// The buffer list for `Gpu::dispatch`: `given` in their binding slots, and a filler in the
/// slots the entry point does not use (the runtime binds only used bindings, so fillers are
/// never bound).
pub(super) fn slots<'a>(given: &[(Slot, &'a Buf)]) -> Vec<&'a Buf> {
    let mut v = vec![given[0].1; 8];
    for &(s, b) in given {
        v[s as usize] = b;
    }
    v
}

/// A key for `entry` with the family's workgroup size.
pub(super) fn key(entry: &'static str) -> KernelKey {
    KernelKey::new(Family::Loss, entry).with("WG", WG as f64)
}

/// Rows and columns must be non-zero and their product must index in u32.
pub(super) fn check_dims(op: &str, rows: usize, cols: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return shape_err!("{op}: empty input ({rows} rows x {cols} columns)");
    }
    if rows.checked_mul(cols).is_none_or(|n| n > u32::MAX as usize) {
        return shape_err!("{op}: {rows} x {cols} elements exceed the 2^32 index range");
    }
    Ok(())
}

/// `buf` must hold exactly `len` elements of `dtype`.
pub(super) fn check_buf(op: &str, name: &str, buf: &Buf, len: usize, dtype: DType) -> Result<()> {
    if buf.dtype() != dtype {
        return shape_err!("{op}: {name} must be {dtype:?}, got {:?}", buf.dtype());
    }
    if buf.len() != len {
        return shape_err!("{op}: {name} has {} elements, expected {len}", buf.len());
    }
    Ok(())
}

/// Common checks of a [B, F] loss: inputs `ins` are [B, F] f32, the per-row buffer is [B].
pub(super) fn check_rows(
    op: &str,
    rows: usize,
    cols: usize,
    ins: &[(&str, &Buf)],
    row: (&str, &Buf),
) -> Result<()> {
    check_dims(op, rows, cols)?;
    for (name, b) in ins {
        check_buf(op, name, b, rows * cols, DType::F32)?;
    }
    check_buf(op, row.0, row.1, rows, DType::F32)
}

/// One invocation per row.
pub(super) fn row_grid(gpu: &Gpu, rows: usize) -> Result<[u32; 3]> {
    grid_1d(gpu, rows, WG)
}

/// One invocation per element.
pub(super) fn elem_grid(gpu: &Gpu, rows: usize, cols: usize) -> Result<[u32; 3]> {
    grid_1d(gpu, rows * cols, WG)
}

/// Check class labels before uploading them: every label must be < `k`. The shaders never read
/// out of bounds, but a bad label can only show up there as a NaN loss, so catch it here.
pub fn validate_labels(labels: &[u32], k: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= k) {
        None => Ok(()),
        Some(i) => Err(Error::Data(format!(
            "label {} at position {i} is out of range for {k} classes (labels must be 0..{k}); \
             check the dataset and the model's class count",
            labels[i]
        ))),
    }
}

/// total[0] = scale * sum_b loss[b] (plus the old total with `accumulate`), in a fixed order
/// (one workgroup). `scale` = 1 gives the sum, 1/B the batch mean.
pub fn batch_sum(
    gpu: &Gpu,
    loss: &Buf,
    total: &Buf,
    scale: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    let op = "batch_sum";
    check_dims(op, loss.len(), 1)?;
    check_buf(op, "loss", loss, loss.len(), DType::F32)?;
    check_buf(op, "total", total, 1, DType::F32)?;
    let params = Params {
        scale,
        ..Params::new(loss.len(), 1).accumulate(accumulate)
    };
    let bufs = slots(&[(Slot::X, loss), (Slot::Out, total)]);
    gpu.dispatch(&key("batch_sum"), &params, &bufs, [1, 1, 1])
}

/// dloss[b] = scale * dtotal[0] (added to the old dloss with `accumulate`).
pub fn batch_sum_backward(
    gpu: &Gpu,
    dtotal: &Buf,
    dloss: &Buf,
    scale: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    let op = "batch_sum_backward";
    check_dims(op, dloss.len(), 1)?;
    check_buf(op, "dtotal", dtotal, 1, DType::F32)?;
    check_buf(op, "dloss", dloss, dloss.len(), DType::F32)?;
    let params = Params {
        scale,
        ..Params::new(dloss.len(), 1).accumulate(accumulate)
    };
    let bufs = slots(&[(Slot::Dloss, dtotal), (Slot::Dx, dloss)]);
    gpu.dispatch(
        &key("batch_sum_backward"),
        &params,
        &bufs,
        row_grid(gpu, dloss.len())?,
    )
}
