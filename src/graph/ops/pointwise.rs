//! Elementwise graph ops: unary functions, binary arithmetic, row-broadcast bias.
//!
//! Shapes: unary/binary keep the input shape; add_row_bias: x [B, F] + bias [F] -> [B, F].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::elementwise::{self as ew, Binary, Saved, Unary};
use crate::kernels::reduce::{self, Axis, Op as ReduceOp, ReduceSpec};
use crate::{Error, Result};

impl Graph {
    pub fn unary(&mut self, op: Unary, x: T) -> T {
        let shape = self.shape(x).to_vec();
        self.push(Op::Unary(op), &[x], &[("", shape)])
    }
    pub fn relu(&mut self, x: T) -> T {
        self.unary(Unary::Relu, x)
    }
    /// y = x for x > 0, alpha x otherwise (PyTorch's LeakyReLU(negative_slope = alpha)).
    pub fn leaky_relu(&mut self, x: T, alpha: f32) -> T {
        self.unary(Unary::LeakyRelu(alpha), x)
    }
    pub fn scale(&mut self, x: T, alpha: f32) -> T {
        self.unary(Unary::Scale(alpha), x)
    }

    /// 2x - 1: values in [0, 1] (pixels, uniform draws) moved to [-1, 1].
    pub fn to_signed(&mut self, x: T) -> T {
        let doubled = self.scale(x, 2.0);
        self.unary(Unary::AddScalar(-1.0), doubled)
    }

    pub fn binary(&mut self, op: Binary, a: T, b: T) -> Result<T> {
        self.same_shape(&format!("{op:?}"), a, b)?;
        let shape = self.shape(a).to_vec();
        Ok(self.push(Op::Binary(op), &[a, b], &[("", shape)]))
    }
    pub fn add(&mut self, a: T, b: T) -> Result<T> {
        self.binary(Binary::Add, a, b)
    }

    pub fn add_row_bias(&mut self, x: T, bias: T) -> Result<T> {
        let (_, f) = self.matrix("add_row_bias x", x)?;
        if self.shape(bias) != [f] {
            return Err(Error::Shape(format!(
                "bias of shape {:?} for {f} features",
                self.shape(bias)
            )));
        }
        let shape = self.shape(x).to_vec();
        Ok(self.push(Op::AddRowBias, &[x, bias], &[("", shape)]))
    }
}

pub(crate) fn unary_forward(lw: &mut Lowering, n: &Node, op: Unary) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    lw.emit(Instr::new(format!("{op:?}"), &[x], &[y], move |gpu, b| {
        one(ew::unary(gpu, op, b(x), b(y)))
    }));
    Ok(())
}

pub(crate) fn unary_backward(lw: &mut Lowering, n: &Node, op: Unary) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    let saved = match op.saved() {
        Saved::Input => x,
        Saved::Output => y,
    };
    lw.emit(Instr::new(
        format!("{op:?} backward"),
        &[saved, dy],
        &[dx],
        move |gpu, b| one(ew::unary_backward(gpu, op, b(saved), b(dy), b(dx), acc)),
    ));
    Ok(())
}

pub(crate) fn binary_forward(lw: &mut Lowering, n: &Node, op: Binary) -> Result<()> {
    let (a, b_, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    lw.emit(Instr::new(
        format!("{op:?}"),
        &[a, b_],
        &[y],
        move |gpu, b| one(ew::binary(gpu, op, b(a), b(b_), b(y))),
    ));
    Ok(())
}

/// A gradient target for `t`, or a throw-away scratch when no gradient flows there (the
/// binary backward kernel always writes both sides).
pub(crate) fn target_or_scratch(lw: &mut Lowering, t: T, what: &str) -> (T, bool) {
    lw.grad_target(t).unwrap_or_else(|| {
        let shape = lw.g.shape(t).to_vec();
        (lw.scratch(what, &shape), false)
    })
}

pub(crate) fn binary_backward(lw: &mut Lowering, n: &Node, op: Binary) -> Result<()> {
    let (a, b_, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let (da, acc_a) = target_or_scratch(lw, a, "unused da");
    // x op x: both sides' gradients go to one tensor; route b's through a scratch and add it,
    // so one invocation never writes the same element twice.
    let same = a == b_;
    let (db, acc_b) = if same {
        let shape = lw.g.shape(a).to_vec();
        (lw.scratch("db (same input)", &shape), false)
    } else {
        target_or_scratch(lw, b_, "unused db")
    };
    let reads = if op.reads_inputs() {
        vec![a, b_, dy]
    } else {
        vec![dy]
    };
    lw.emit(Instr::new(
        format!("{op:?} backward"),
        &reads,
        &[da, db],
        move |gpu, b| {
            one(ew::binary_backward(
                gpu,
                op,
                b(a),
                b(b_),
                b(dy),
                b(da),
                b(db),
                [acc_a, acc_b],
            ))
        },
    ));
    if same {
        lw.emit(Instr::new(
            "sum both sides",
            &[db, da],
            &[da],
            move |gpu, b| one(ew::axpy(gpu, 1.0, b(db), b(da))),
        ));
    }
    Ok(())
}

pub(crate) fn add_row_bias_forward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (x, bias, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    lw.emit(Instr::new(
        "add_row_bias",
        &[x, bias],
        &[y],
        move |gpu, b| one(ew::add_row_bias(gpu, b(x), b(bias), b(y))),
    ));
    Ok(())
}

/// dx = dy (a copy, or an add when accumulating); dbias = column sums of dy.
pub(crate) fn add_row_bias_backward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (x, bias, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    if let Some((dx, acc)) = lw.grad_target(x) {
        pass_through(lw, dy, dx, acc);
    }
    if let Some((db, acc)) = lw.grad_target(bias) {
        let (rows, cols) = lw.g.info(x).rows_cols();
        column_sum(lw, dy, db, acc, rows, cols);
    }
    Ok(())
}

/// dst = src (or dst += src).
pub(crate) fn pass_through(lw: &mut Lowering, src: T, dst: T, acc: bool) {
    lw.emit(Instr::new(
        "copy gradient",
        &[src],
        &[dst],
        move |gpu, b| {
            one(ew::unary_backward(
                gpu,
                Unary::Scale(1.0),
                b(src),
                b(src),
                b(dst),
                acc,
            ))
        },
    ));
}

/// dst[c] (+)= sum_r src[r, c]: a bias gradient.
pub(crate) fn column_sum(lw: &mut Lowering, src: T, dst: T, acc: bool, rows: usize, cols: usize) {
    let spec = ReduceSpec::new(rows, cols, Axis::Rows, ReduceOp::Sum);
    let scratch = lw.scratch(
        "column sum partials",
        &[reduce::reduce_scratch_len(&spec).max(1)],
    );
    lw.emit(Instr::new(
        "column sum",
        &[src],
        &[dst, scratch],
        move |gpu, b| reduce::reduce(gpu, &spec, b(src), b(dst), b(scratch), acc),
    ));
}
