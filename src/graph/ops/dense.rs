//! Linear layers as one graph op: y = x W^T + b (PyTorch's nn.Linear, W [out, in]), with
//! an optional fused ReLU, lowered to one matmul with a bias(+ReLU) epilogue.
//!
//! Backward, with dpre = dy * relu'(y) when fused (relu'(pre) = [y > 0]):
//!   dx = dpre W     (NN: [B, out] x [out, in])
//!   dW = dpre^T x   (TN: [B, out]^T x [B, in])
//!   db = sum_rows dpre
//! Shapes: x [B, in], W [out, in], b [out], y [B, out].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::ops::pointwise::column_sum;
use crate::graph::tensor::T;
use crate::kernels::elementwise::{self as ew, Unary};
use crate::kernels::matmul::{self, Epilogue, Form, MatmulSpec};
use crate::{Error, Result};

impl Graph {
    /// y = x W^T + b, then ReLU when `relu`.
    pub fn linear(&mut self, x: T, w: T, b: T, relu: bool) -> Result<T> {
        let (rows, fan_in) = self.matrix("linear input", x)?;
        let (fan_out, w_in) = self.matrix("linear weight", w)?;
        if w_in != fan_in || self.shape(b) != [fan_out] {
            return Err(Error::Shape(format!(
                "linear: x {:?}, weight {:?}, bias {:?} do not fit ([B, in], [out, in], [out])",
                self.shape(x),
                self.shape(w),
                self.shape(b)
            )));
        }
        Ok(self.push(
            Op::Linear { relu },
            &[x, w, b],
            &[("", vec![rows, fan_out])],
        ))
    }
}

fn dims(lw: &Lowering, n: &Node) -> (usize, usize, usize) {
    let (rows, fan_in) = lw.g.info(n.inputs[0]).rows_cols();
    let fan_out = lw.g.shape(n.inputs[1])[0];
    (rows, fan_in, fan_out)
}

pub(crate) fn linear_forward(lw: &mut Lowering, n: &Node, relu: bool) -> Result<()> {
    let (x, w, bias, y) = (n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]);
    let (rows, fan_in, fan_out) = dims(lw, n);
    let epilogue = if relu {
        Epilogue::BiasRelu
    } else {
        Epilogue::Bias
    };
    let spec = MatmulSpec::new(rows, fan_out, fan_in, Form::NT).epilogue(epilogue);
    lw.emit(Instr::new(
        format!("linear {fan_in}->{fan_out}"),
        &[x, w, bias],
        &[y],
        move |gpu, b| one(matmul::matmul(gpu, &spec, b(x), b(w), Some(b(bias)), b(y))),
    ));
    Ok(())
}

pub(crate) fn linear_backward(lw: &mut Lowering, n: &Node, relu: bool) -> Result<()> {
    let (x, w, bias, y) = (n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let (rows, fan_in, fan_out) = dims(lw, n);
    let dpre = if relu {
        let dpre = lw.scratch("d(pre-relu)", &[rows, fan_out]);
        lw.emit(Instr::new(
            "relu backward",
            &[y, dy],
            &[dpre],
            move |gpu, b| {
                one(ew::unary_backward(
                    gpu,
                    Unary::Relu,
                    b(y),
                    b(dy),
                    b(dpre),
                    false,
                ))
            },
        ));
        dpre
    } else {
        dy
    };
    if let Some((dx, acc)) = lw.grad_target(x) {
        let spec = MatmulSpec::new(rows, fan_in, fan_out, Form::NN).accumulate(acc);
        lw.emit(Instr::new(
            format!("linear {fan_in}->{fan_out} dx"),
            &[dpre, w],
            &[dx],
            move |gpu, b| one(matmul::matmul(gpu, &spec, b(dpre), b(w), None, b(dx))),
        ));
    }
    if let Some((dw, acc)) = lw.grad_target(w) {
        let spec = MatmulSpec::new(fan_out, fan_in, rows, Form::TN).accumulate(acc);
        lw.emit(Instr::new(
            format!("linear {fan_in}->{fan_out} dW"),
            &[dpre, x],
            &[dw],
            move |gpu, b| one(matmul::matmul(gpu, &spec, b(dpre), b(x), None, b(dw))),
        ));
    }
    if let Some((db, acc)) = lw.grad_target(bias) {
        column_sum(lw, dpre, db, acc, rows, fan_out);
    }
    Ok(())
}
