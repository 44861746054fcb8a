//! Pooling as graph ops: k x k max pooling at stride k (PyTorch's MaxPool2d(k), floor mode),
//! and global average / max pooling over each H x W plane.
//!
//! The max pools save the argmax (u32, position ih * W + iw in its plane) as a second output
//! for the backward. Derivatives:
//!   max:        dx[j] = sum of dy over the windows whose argmax is j (0 elsewhere)
//!   global avg: dx[n, c, h, w] = dy[n, c] / (H W)
//!   global max: dx[n, c, j] = dy[n, c] at j = arg[n, c], 0 elsewhere
//! Shapes: x [N, C, H, W]; max_pool2d y, arg [N, C, H / k, W / k] (floor); global y, arg [N, C].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::ops::conv::{scratch, shape4};
use crate::graph::tensor::T;
use crate::kernels::pool::{self, GlobalPoolSpec, MaxPoolSpec};
use crate::Result;

impl Graph {
    /// Max over k x k windows at stride k: [N, C, H, W] -> [N, C, H / k, W / k].
    pub fn max_pool2d(&mut self, x: T, k: usize) -> Result<T> {
        let [n, c, h, w] = self.nchw("max_pool2d input", x)?;
        let spec = MaxPoolSpec::new(n, c, h, w, k, k);
        spec.check()?;
        let (oh, ow) = spec.out_hw();
        let y = self.push(
            Op::MaxPool2d { k },
            &[x],
            &[("", vec![n, c, oh, ow]), (".arg", vec![n, c, oh, ow])],
        );
        self.set_u32(self.nodes.last().unwrap().outputs[1]);
        Ok(y)
    }

    /// Mean of each plane: [N, C, H, W] -> [N, C].
    pub fn global_avg_pool(&mut self, x: T) -> Result<T> {
        let [n, c, h, w] = self.nchw("global_avg_pool input", x)?;
        GlobalPoolSpec::new(n, c, h, w).check()?;
        Ok(self.push(Op::GlobalAvgPool, &[x], &[("", vec![n, c])]))
    }

    /// Max of each plane: [N, C, H, W] -> [N, C].
    pub fn global_max_pool(&mut self, x: T) -> Result<T> {
        let [n, c, h, w] = self.nchw("global_max_pool input", x)?;
        GlobalPoolSpec::new(n, c, h, w).check()?;
        let y = self.push(
            Op::GlobalMaxPool,
            &[x],
            &[("", vec![n, c]), (".arg", vec![n, c])],
        );
        self.set_u32(self.nodes.last().unwrap().outputs[1]);
        Ok(y)
    }
}

fn max_spec(lw: &Lowering, x: T, k: usize) -> MaxPoolSpec {
    let [n, c, h, w] = shape4(lw, x);
    MaxPoolSpec::new(n, c, h, w, k, k)
}

fn global_spec(lw: &Lowering, x: T) -> GlobalPoolSpec {
    let [n, c, h, w] = shape4(lw, x);
    GlobalPoolSpec::new(n, c, h, w)
}

pub(crate) fn max_pool_forward(lw: &mut Lowering, n: &Node, k: usize) -> Result<()> {
    let (x, y, arg) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let spec = max_spec(lw, x, k);
    lw.emit(Instr::new(
        format!("max_pool2d {k}x{k}"),
        &[x],
        &[y, arg],
        move |gpu, b| one(pool::max_pool(gpu, &spec, b(x), b(y), b(arg))),
    ));
    Ok(())
}

pub(crate) fn max_pool_backward(lw: &mut Lowering, n: &Node, k: usize) -> Result<()> {
    let (x, y, arg) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let spec = max_spec(lw, x, k);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    lw.emit(Instr::new(
        format!("max_pool2d {k}x{k} backward"),
        &[arg, dy],
        &[dx],
        move |gpu, b| {
            one(pool::max_pool_backward(
                gpu,
                &spec,
                b(arg),
                b(dy),
                b(dx),
                acc,
            ))
        },
    ));
    Ok(())
}

pub(crate) fn global_forward(lw: &mut Lowering, n: &Node, max: bool) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let spec = global_spec(lw, x);
    if max {
        let arg = n.outputs[1];
        let len = pool::global_max_pool_scratch_len(&spec);
        let s = scratch(lw, "global max pool partials", len);
        lw.emit(Instr::new(
            "global_max_pool",
            &[x],
            &[y, arg, s],
            move |gpu, b| pool::global_max_pool(gpu, &spec, b(x), b(y), b(arg), b(s)),
        ));
    } else {
        let len = pool::global_avg_pool_scratch_len(&spec);
        let s = scratch(lw, "global avg pool partials", len);
        lw.emit(Instr::new(
            "global_avg_pool",
            &[x],
            &[y, s],
            move |gpu, b| pool::global_avg_pool(gpu, &spec, b(x), b(y), b(s)),
        ));
    }
    Ok(())
}

pub(crate) fn global_backward(lw: &mut Lowering, n: &Node, max: bool) -> Result<()> {
    let (x, y) = (n.inputs[0], n.outputs[0]);
    let spec = global_spec(lw, x);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    if max {
        let arg = n.outputs[1];
        lw.emit(Instr::new(
            "global_max_pool backward",
            &[arg, dy],
            &[dx],
            move |gpu, b| {
                one(pool::global_max_pool_backward(
                    gpu,
                    &spec,
                    b(arg),
                    b(dy),
                    b(dx),
                    acc,
                ))
            },
        ));
    } else {
        lw.emit(Instr::new(
            "global_avg_pool backward",
            &[dy],
            &[dx],
            move |gpu, b| {
                one(pool::global_avg_pool_backward(
                    gpu,
                    &spec,
                    b(dy),
                    b(dx),
                    acc,
                ))
            },
        ));
    }
    Ok(())
}
