//! Per-sample losses as graph ops. Each gives loss [B] (summed over features), so a model
//! writes its objective as arithmetic on per-sample terms and takes a batch mean last.
//!
//! Shapes: logits/targets [B, F]; labels [B] u32; loss [B].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::loss;
use crate::{DType, Error, Result};

/// Which per-sample loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// sum_f BCE(sigmoid(x), t), from logits.
    BceLogits,
    /// -log softmax(x)[label].
    SoftmaxXent,
}

impl Graph {
    /// Binary cross-entropy of `logits` against `target` in [0, 1], summed per sample.
    pub fn bce_with_logits(&mut self, logits: T, target: T) -> Result<T> {
        self.same_shape("bce_with_logits", logits, target)?;
        let (b, _) = self.info(logits).rows_cols();
        Ok(self.push(
            Op::Loss(LossKind::BceLogits),
            &[logits, target],
            &[("", vec![b])],
        ))
    }

    /// Softmax cross-entropy of `logits` [B, K] with integer `labels` [B].
    pub fn softmax_xent(&mut self, logits: T, labels: T) -> Result<T> {
        let (b, _) = self.matrix("softmax_xent logits", logits)?;
        if self.shape(labels) != [b] || self.info(labels).dtype != DType::U32 {
            return Err(Error::Shape(format!(
                "labels must be [{b}] u32, got {:?}",
                self.shape(labels)
            )));
        }
        Ok(self.push(
            Op::Loss(LossKind::SoftmaxXent),
            &[logits, labels],
            &[("", vec![b])],
        ))
    }
}

pub(crate) fn loss_forward(lw: &mut Lowering, n: &Node, kind: LossKind) -> Result<()> {
    let (x, t, out) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let (rows, cols) = lw.g.info(x).rows_cols();
    lw.emit(Instr::new(
        format!("{kind:?}"),
        &[x, t],
        &[out],
        move |gpu, b| match kind {
            LossKind::BceLogits => one(loss::bce_forward(gpu, rows, cols, b(x), b(t), b(out))),
            LossKind::SoftmaxXent => one(loss::softmax_xent_forward(
                gpu,
                rows,
                cols,
                b(x),
                b(t),
                b(out),
            )),
        },
    ));
    Ok(())
}

/// dx = dloss[b] * (sigmoid(x) - t) for BCE; dloss[b] * (softmax(x) - onehot) for xent.
pub(crate) fn loss_backward(lw: &mut Lowering, n: &Node, kind: LossKind) -> Result<()> {
    let (x, t, out) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let Some(dout) = lw.grad_of(out) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    let (rows, cols) = lw.g.info(x).rows_cols();
    lw.emit(Instr::new(
        format!("{kind:?} backward"),
        &[x, t, dout],
        &[dx],
        move |gpu, b| match kind {
            LossKind::BceLogits => one(loss::bce_backward(
                gpu,
                rows,
                cols,
                b(x),
                b(t),
                b(dout),
                b(dx),
                acc,
            )),
            LossKind::SoftmaxXent => one(loss::softmax_xent_backward(
                gpu,
                rows,
                cols,
                b(x),
                b(t),
                b(dout),
                b(dx),
                acc,
            )),
        },
    ));
    Ok(())
}

impl Graph {
    /// The mean of softmax(logits_s) over samples s (VIB's test-time average). No gradient.
    pub fn softmax_mean(&mut self, logits: &[T]) -> Result<T> {
        let Some(&first) = logits.first() else {
            return Err(Error::Shape(
                "softmax_mean needs at least one logits tensor".into(),
            ));
        };
        for &l in logits {
            self.same_shape("softmax_mean", first, l)?;
        }
        let shape = self.shape(first).to_vec();
        Ok(self.push(Op::SoftmaxMean, logits, &[("", shape)]))
    }

    /// 1 where argmax(scores[b]) == labels[b], else 0: [B]. No gradient.
    pub fn correct(&mut self, scores: T, labels: T) -> Result<T> {
        let (b, _) = self.matrix("correct scores", scores)?;
        if self.shape(labels) != [b] || self.info(labels).dtype != DType::U32 {
            return Err(Error::Shape(format!(
                "labels must be [{b}] u32, got {:?}",
                self.shape(labels)
            )));
        }
        Ok(self.push(Op::Correct, &[scores, labels], &[("", vec![b])]))
    }
}

pub(crate) fn softmax_mean_forward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let probs = n.outputs[0];
    let (rows, k) = lw.g.info(probs).rows_cols();
    let weight = 1.0 / n.inputs.len() as f32;
    for (s, &l) in n.inputs.iter().enumerate() {
        let reads = if s == 0 { vec![l] } else { vec![l, probs] };
        lw.emit(Instr::new(
            "softmax mean",
            &reads,
            &[probs],
            move |gpu, b| {
                one(loss::softmax_accumulate(
                    gpu,
                    rows,
                    k,
                    b(l),
                    b(probs),
                    weight,
                    s > 0,
                ))
            },
        ));
    }
    Ok(())
}

pub(crate) fn correct_forward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (scores, labels, out) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let (rows, k) = lw.g.info(scores).rows_cols();
    lw.emit(Instr::new(
        "correct",
        &[scores, labels],
        &[out],
        move |gpu, b| one(loss::correct(gpu, rows, k, b(scores), b(labels), b(out))),
    ));
    Ok(())
}
