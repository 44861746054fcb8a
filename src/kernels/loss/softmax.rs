//! Classification: softmax cross-entropy with u32 labels (forward and backward), and the
//! evaluation helpers without gradient: accuracy (`correct`), averaging softmax over several
//! stochastic forward passes (`softmax_accumulate`, VIB's 12-sample test rule) and the
//! cross-entropy of those averaged probabilities (`probs_nll`). One invocation per row.
//!
//! Shapes: logits, scores, probs, dlogits [B, K]; labels u32 [B]; loss, dloss, correct [B].
//! Labels should pass `validate_labels` on the host; the shaders clamp their reads and turn a
//! label >= K into a NaN loss and NaN gradients for that row (never an out-of-bounds read).

use super::{check_buf, check_dims, key, row_grid, slots, Params, Slot};
use crate::{Buf, DType, Dispatch, Gpu, Result};

/// Shared checks: `mats` are [B, K] f32, `labels` u32 [B], `rows_f32` are [B] f32.
fn check(
    op: &str,
    rows: usize,
    k: usize,
    mats: &[(&str, &Buf)],
    labels: Option<&Buf>,
    rows_f32: &[(&str, &Buf)],
) -> Result<()> {
    check_dims(op, rows, k)?;
    for (name, b) in mats {
        check_buf(op, name, b, rows * k, DType::F32)?;
    }
    if let Some(l) = labels {
        check_buf(op, "labels", l, rows, DType::U32)?;
    }
    for (name, b) in rows_f32 {
        check_buf(op, name, b, rows, DType::F32)?;
    }
    Ok(())
}

/// loss[b] = logsumexp(logits_b) - logits_b[label_b].
pub fn softmax_xent_forward(
    gpu: &Gpu,
    rows: usize,
    k: usize,
    logits: &Buf,
    labels: &Buf,
    loss: &Buf,
) -> Result<Dispatch> {
    let op = "softmax_xent_forward";
    check(
        op,
        rows,
        k,
        &[("logits", logits)],
        Some(labels),
        &[("loss", loss)],
    )?;
    let bufs = slots(&[(Slot::X, logits), (Slot::Labels, labels), (Slot::Out, loss)]);
    gpu.dispatch(&key(op), &Params::new(rows, k), &bufs, row_grid(gpu, rows)?)
}

/// dlogits = dloss[b] * (softmax(logits_b) - onehot(label_b)).
#[allow(clippy::too_many_arguments)]
pub fn softmax_xent_backward(
    gpu: &Gpu,
    rows: usize,
    k: usize,
    logits: &Buf,
    labels: &Buf,
    dloss: &Buf,
    dlogits: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let op = "softmax_xent_backward";
    let mats = [("logits", logits), ("dlogits", dlogits)];
    check(op, rows, k, &mats, Some(labels), &[("dloss", dloss)])?;
    let bufs = slots(&[
        (Slot::X, logits),
        (Slot::Labels, labels),
        (Slot::Dloss, dloss),
        (Slot::Dx, dlogits),
    ]);
    let params = Params::new(rows, k).accumulate(accumulate);
    gpu.dispatch(&key(op), &params, &bufs, row_grid(gpu, rows)?)
}

/// correct[b] = 1.0 if argmax_j scores[b, j] (first index on ties) == label_b else 0.0.
/// `scores` may be logits or (averaged) probabilities. The mean of `correct` is the accuracy.
pub fn correct(
    gpu: &Gpu,
    rows: usize,
    k: usize,
    scores: &Buf,
    labels: &Buf,
    correct: &Buf,
) -> Result<Dispatch> {
    let op = "correct";
    check(
        op,
        rows,
        k,
        &[("scores", scores)],
        Some(labels),
        &[("correct", correct)],
    )?;
    let bufs = slots(&[
        (Slot::X, scores),
        (Slot::Labels, labels),
        (Slot::Out, correct),
    ]);
    gpu.dispatch(&key(op), &Params::new(rows, k), &bufs, row_grid(gpu, rows)?)
}

/// probs = weight * softmax(logits) (added to the old probs with `accumulate`). For the mean of
/// S samples' softmax: weight = 1/S, accumulate = false for the first sample, true after.
pub fn softmax_accumulate(
    gpu: &Gpu,
    rows: usize,
    k: usize,
    logits: &Buf,
    probs: &Buf,
    weight: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    let op = "softmax_accumulate";
    check(
        op,
        rows,
        k,
        &[("logits", logits), ("probs", probs)],
        None,
        &[],
    )?;
    let params = Params {
        scale: weight,
        ..Params::new(rows, k).accumulate(accumulate)
    };
    let bufs = slots(&[(Slot::X, logits), (Slot::Out, probs)]);
    gpu.dispatch(&key(op), &params, &bufs, row_grid(gpu, rows)?)
}

/// loss[b] = -log(max(probs[b, label_b], f32::MIN_POSITIVE)): cross-entropy of probabilities
/// (e.g. averaged by `softmax_accumulate`); the floor keeps a vanished probability finite.
pub fn probs_nll(
    gpu: &Gpu,
    rows: usize,
    k: usize,
    probs: &Buf,
    labels: &Buf,
    loss: &Buf,
) -> Result<Dispatch> {
    let op = "probs_nll";
    check(
        op,
        rows,
        k,
        &[("probs", probs)],
        Some(labels),
        &[("loss", loss)],
    )?;
    let bufs = slots(&[(Slot::X, probs), (Slot::Labels, labels), (Slot::Out, loss)]);
    gpu.dispatch(&key(op), &Params::new(rows, k), &bufs, row_grid(gpu, rows)?)
}
