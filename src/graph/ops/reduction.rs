//! Reductions as graph ops: sum or mean over rows, columns or everything of x seen as
//! [rows, cols] = [B, prod(rest)].
//!
//! Shapes: Rows: [B, F] -> [F]; Cols: [B, F] -> [B]; All: anything -> [1].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::reduce::{self, Axis, Op as ReduceOp, ReduceSpec};
use crate::Result;

impl Graph {
    pub fn reduce(&mut self, x: T, axis: Axis, op: ReduceOp) -> T {
        let (rows, cols) = self.info(x).rows_cols();
        let shape = match axis {
            Axis::Rows => vec![cols],
            Axis::Cols => vec![rows],
            Axis::All => vec![1],
        };
        self.push(Op::Reduce(axis, op), &[x], &[("", shape)])
    }
    /// The mean of every element: a scalar [1].
    pub fn mean(&mut self, x: T) -> T {
        self.reduce(x, Axis::All, ReduceOp::Mean)
    }
    /// Per-row sums: [B, F] -> [B].
    pub fn sum_rows_of(&mut self, x: T) -> T {
        self.reduce(x, Axis::Cols, ReduceOp::Sum)
    }
}

fn spec(lw: &Lowering, x: T, axis: Axis, op: ReduceOp) -> ReduceSpec {
    let (rows, cols) = lw.g.info(x).rows_cols();
    ReduceSpec::new(rows, cols, axis, op)
}

pub(crate) fn reduce_forward(lw: &mut Lowering, n: &Node, axis: Axis, op: ReduceOp) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let spec = spec(lw, x, axis, op);
    let scratch = lw.scratch(
        "reduce partials",
        &[reduce::reduce_scratch_len(&spec).max(1)],
    );
    lw.emit(Instr::new(
        format!("{op:?} over {axis:?}"),
        &[x],
        &[y, scratch],
        move |gpu, b| reduce::reduce(gpu, &spec, b(x), b(y), b(scratch), false),
    ));
    Ok(())
}

/// d sum/dx = 1 and d mean/dx = 1/count, broadcast back over the reduced axis.
pub(crate) fn reduce_backward(lw: &mut Lowering, n: &Node, axis: Axis, op: ReduceOp) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    let spec = spec(lw, x, axis, op);
    lw.emit(Instr::new(
        format!("{op:?} over {axis:?} backward"),
        &[dy],
        &[dx],
        move |gpu, b| one(reduce::reduce_backward(gpu, &spec, b(dy), b(dx), acc)),
    ));
    Ok(())
}
