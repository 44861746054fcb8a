//! Layout graph ops: reshape, detach (a view without gradient), concatenation along features, and a feature map concatenated
//! with a vector broadcast over its positions (Deep InfoMax's local discriminator input).
//!
//! reshape is zero-copy: its output is a view of the input's buffer (`Graph::aliases`; the
//! memory plan gives both one lifetime), so it lowers to no kernel. Its backward makes d(x) a
//! view of d(y) when d(x) is fresh and transient, else copies or adds dy into d(x).
//! Derivatives:
//!   concat_features:  da = dy[:, :Fa], db = dy[:, Fa:]
//!   concat_map_vec:   dm = dy[:, :C], dv[n, d] = sum_{h, w} dy[n, C + d, h, w]
//! Shapes: concat_features a [B, Fa], b [B, Fb] -> [B, Fa + Fb]; concat_map_vec
//! m [N, C, H, W], v [N, D] -> [N, C + D, H, W]; reshape keeps the element count.

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::ops::conv::shape4;
use crate::graph::ops::pointwise::{pass_through, target_or_scratch};
use crate::graph::tensor::T;
use crate::kernels::elementwise as ew;
use crate::kernels::layout::{self, Features, MapVec};
use crate::{Error, Result};

impl Graph {
    /// The same elements, row-major, seen with `shape` (no copy).
    pub fn reshape(&mut self, x: T, shape: &[usize]) -> Result<T> {
        let from = self.shape(x).to_vec();
        let count: usize = shape.iter().product();
        if shape.is_empty() || count != from.iter().product::<usize>() {
            return Err(Error::Shape(format!(
                "reshape: cannot view {from:?} ({} elements) as {shape:?} ({count} elements); \
                 the element count must stay the same",
                from.iter().product::<usize>()
            )));
        }
        let y = self.push(Op::Reshape, &[x], &[("", shape.to_vec())]);
        self.tensors[y.0].dtype = self.info(x).dtype;
        self.make_alias(y, x);
        Ok(y)
    }

    /// The same elements with no gradient flowing back to `x` (PyTorch's `detach`). No copy.
    /// A GAN uses it to give each loss term only its own players' parameters.
    pub fn detach(&mut self, x: T) -> T {
        let shape = self.shape(x).to_vec();
        let y = self.push(Op::Detach, &[x], &[("", shape)]);
        self.tensors[y.0].dtype = self.info(x).dtype;
        self.make_alias(y, x);
        y
    }

    /// [a | b] along features: [B, Fa], [B, Fb] -> [B, Fa + Fb].
    pub fn concat_features(&mut self, a: T, b: T) -> Result<T> {
        let (rows, fa) = self.matrix("concat_features a", a)?;
        let (rows_b, fb) = self.matrix("concat_features b", b)?;
        if rows != rows_b {
            return Err(Error::Shape(format!(
                "concat_features: a has {rows} rows but b has {rows_b}"
            )));
        }
        Ok(self.push(Op::ConcatFeatures, &[a, b], &[("", vec![rows, fa + fb])]))
    }

    /// The map's C channels, then v's D values each broadcast over H x W:
    /// [N, C, H, W], [N, D] -> [N, C + D, H, W].
    pub fn concat_map_vec(&mut self, m: T, v: T) -> Result<T> {
        let [n, c, h, w] = self.nchw("concat_map_vec map", m)?;
        let (rows, d) = self.matrix("concat_map_vec vector", v)?;
        if rows != n {
            return Err(Error::Shape(format!(
                "concat_map_vec: the map has batch {n} but the vector has {rows} rows"
            )));
        }
        Ok(self.push(Op::ConcatMapVec, &[m, v], &[("", vec![n, c + d, h, w])]))
    }
}

/// dx = dy seen with x's shape: a view when possible, else a copy (or an add).
pub(crate) fn reshape_backward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    if lw.alias_grad(x, dy) {
        return Ok(());
    }
    if let Some((dx, acc)) = lw.grad_target(x) {
        pass_through(lw, dy, dx, acc);
    }
    Ok(())
}

fn features(lw: &Lowering, n: &Node) -> Features {
    let (rows, fa) = lw.g.info(n.inputs[0]).rows_cols();
    let (_, fb) = lw.g.info(n.inputs[1]).rows_cols();
    Features { rows, fa, fb }
}

fn map_vec(lw: &Lowering, n: &Node) -> MapVec {
    let [b, c, h, w] = shape4(lw, n.inputs[0]);
    let d = lw.g.shape(n.inputs[1])[1];
    MapVec {
        n: b,
        c,
        d,
        hw: h * w,
    }
}

pub(crate) fn concat_forward(lw: &mut Lowering, n: &Node, map: bool) -> Result<()> {
    let (a, b_, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    if map {
        let s = map_vec(lw, n);
        lw.emit(Instr::new(
            "concat_map_vec",
            &[a, b_],
            &[y],
            move |gpu, b| one(layout::concat_map_vec(gpu, s, b(a), b(b_), b(y))),
        ));
    } else {
        let s = features(lw, n);
        lw.emit(Instr::new(
            "concat_features",
            &[a, b_],
            &[y],
            move |gpu, b| one(layout::concat_features(gpu, s, b(a), b(b_), b(y))),
        ));
    }
    Ok(())
}

/// Both gradients in one kernel; a side that needs none writes a throw-away scratch.
pub(crate) fn concat_backward(lw: &mut Lowering, n: &Node, map: bool) -> Result<()> {
    let (a, b_, y) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let (da, acc_a) = target_or_scratch(lw, a, "unused d(first)");
    // concat_features(x, x): route b's half through a scratch and add it, so the kernel
    // never writes one buffer through two arguments.
    let same = a == b_;
    let (db, acc_b) = if same {
        let shape = lw.g.shape(a).to_vec();
        (lw.scratch("d(second) (same input)", &shape), false)
    } else {
        target_or_scratch(lw, b_, "unused d(second)")
    };
    let acc = [acc_a, acc_b];
    if map {
        let s = map_vec(lw, n);
        lw.emit(Instr::new(
            "concat_map_vec backward",
            &[dy],
            &[da, db],
            move |gpu, b| {
                one(layout::concat_map_vec_backward(
                    gpu,
                    s,
                    b(dy),
                    b(da),
                    b(db),
                    acc,
                ))
            },
        ));
    } else {
        let s = features(lw, n);
        lw.emit(Instr::new(
            "concat_features backward",
            &[dy],
            &[da, db],
            move |gpu, b| one(layout::split_features(gpu, s, b(dy), b(da), b(db), acc)),
        ));
    }
    if same {
        lw.emit(Instr::new(
            "sum both halves",
            &[db, da],
            &[da],
            move |gpu, b| one(ew::axpy(gpu, 1.0, b(db), b(da))),
        ));
    }
    Ok(())
}
