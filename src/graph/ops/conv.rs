//! conv2d as a graph op (PyTorch's nn.Conv2d: zero padding, no dilation or groups), with the
//! bias and an activation fused into the kernel's epilogue. Also the activation backward that
//! conv_transpose2d shares.
//!
//! Backward, with dpre = dy * act'(pre) read from y (act' = [y > 0] for ReLU, 1 or alpha for
//! LeakyReLU: y > 0 iff pre > 0 when alpha >= 0):
//!   dx[n, ci, ih, iw] = sum_{co, kh, kw} dpre[n, co, oh, ow] w[co, ci, kh, kw]
//!                       (oh = (ih + P - kh) / S where that divides and lands inside y)
//!   dw[co, ci, kh, kw] = sum_{n, oh, ow} dpre[n, co, oh, ow] x[n, ci, oh S - P + kh, ...]
//!   db[co]             = sum_{n, oh, ow} dpre[n, co, oh, ow]
//! Shapes: x [N, Cin, H, W], w [Cout, Cin, KH, KW], b [Cout], y [N, Cout, OH, OW] with
//! OH = (H + 2P - KH) / S + 1 (OW likewise).

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::conv::{self, Act, Conv2dSpec};
use crate::kernels::elementwise::{self as ew, Unary};
use crate::{Error, Result};

impl Graph {
    /// y = act(conv2d(x, w) + b) with stride `stride` and `pad` zeros on every side.
    pub fn conv2d(
        &mut self,
        x: T,
        w: T,
        b: Option<T>,
        stride: usize,
        pad: usize,
        act: Act,
    ) -> Result<T> {
        let [n, cin, h, wd] = self.nchw("conv2d input x", x)?;
        let [cout, w_cin, kh, kw] = self.nchw("conv2d weight [Cout, Cin, KH, KW]", w)?;
        if w_cin != cin {
            return Err(Error::Shape(format!(
                "conv2d: weight {:?} takes {w_cin} input channels but x {:?} has {cin}",
                self.shape(w),
                self.shape(x)
            )));
        }
        self.check_bias_act("conv2d", b, cout, act)?;
        let spec = Conv2dSpec::new(n, cin, h, wd, cout, kh, kw)
            .stride(stride)
            .pad(pad);
        spec.check()?;
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let y = vec![n, cout, spec.oh(), spec.ow()];
        Ok(self.push(Op::Conv2d { stride, pad, act }, &inputs, &[("", y)]))
    }

    /// The bias is [channels]; a fused LeakyReLU has a slope >= 0 (its backward reads the
    /// sign of y, which is the sign of the pre-activation only then).
    pub(crate) fn check_bias_act(
        &self,
        what: &str,
        b: Option<T>,
        channels: usize,
        act: Act,
    ) -> Result<()> {
        if let Some(b) = b {
            if self.shape(b) != [channels] {
                return Err(Error::Shape(format!(
                    "{what}: bias {:?} should be [{channels}] (one per output channel)",
                    self.shape(b)
                )));
            }
        }
        if let Act::LeakyRelu(alpha) = act {
            if !(alpha >= 0.0 && alpha.is_finite()) {
                return Err(Error::Config(format!(
                    "{what}: a fused LeakyRelu needs a finite slope >= 0, got {alpha}; apply \
                     graph.leaky_relu after the layer instead"
                )));
            }
        }
        Ok(())
    }
}

fn spec(lw: &Lowering, n: &Node, stride: usize, pad: usize) -> Conv2dSpec {
    let [b, cin, h, w] = shape4(lw, n.inputs[0]);
    let [cout, _, kh, kw] = shape4(lw, n.inputs[1]);
    Conv2dSpec::new(b, cin, h, w, cout, kh, kw)
        .stride(stride)
        .pad(pad)
}

/// A 4-D shape the builder has checked.
pub(crate) fn shape4(lw: &Lowering, t: T) -> [usize; 4] {
    let s = lw.g.shape(t);
    [s[0], s[1], s[2], s[3]]
}

/// A 1-element-minimum scratch of `len` floats (kernels ignore it when `len` is 0).
pub(crate) fn scratch(lw: &mut Lowering, what: &str, len: usize) -> T {
    lw.scratch(what, &[len.max(1)])
}

pub(crate) fn conv2d_forward(
    lw: &mut Lowering,
    n: &Node,
    stride: usize,
    pad: usize,
    act: Act,
) -> Result<()> {
    let spec = spec(lw, n, stride, pad);
    let (x, w, bias, y) = (
        n.inputs[0],
        n.inputs[1],
        n.inputs.get(2).copied(),
        n.outputs[0],
    );
    let mut reads = vec![x, w];
    reads.extend(bias);
    let label = format!(
        "conv2d {}->{} {}x{}/{stride}",
        spec.cin, spec.cout, spec.kh, spec.kw
    );
    lw.emit(Instr::new(label, &reads, &[y], move |gpu, b| {
        one(conv::conv2d(gpu, &spec, b(x), b(w), bias.map(b), act, b(y)))
    }));
    Ok(())
}

/// dpre = dy * act'(pre), read from y; dy itself when there is no activation.
pub(crate) fn act_backward(lw: &mut Lowering, act: Act, y: T, dy: T) -> T {
    let op = match act {
        Act::None => return dy,
        Act::Relu => Unary::Relu,
        Act::LeakyRelu(alpha) => Unary::LeakyRelu(alpha),
    };
    let shape = lw.g.shape(y).to_vec();
    let dpre = lw.scratch("d(pre-activation)", &shape);
    lw.emit(Instr::new(
        format!("{op:?} backward (fused)"),
        &[y, dy],
        &[dpre],
        move |gpu, b| one(ew::unary_backward(gpu, op, b(y), b(dy), b(dpre), false)),
    ));
    dpre
}

pub(crate) fn conv2d_backward(
    lw: &mut Lowering,
    n: &Node,
    stride: usize,
    pad: usize,
    act: Act,
) -> Result<()> {
    let spec = spec(lw, n, stride, pad);
    let (x, w, bias, y) = (
        n.inputs[0],
        n.inputs[1],
        n.inputs.get(2).copied(),
        n.outputs[0],
    );
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let dpre = act_backward(lw, act, y, dy);
    let label = format!("conv2d {}->{}", spec.cin, spec.cout);
    if let Some((dx, acc)) = lw.grad_target(x) {
        let s = scratch(
            lw,
            "conv2d dx scratch",
            conv::conv2d_backward_input_scratch_len(&spec),
        );
        lw.emit(Instr::new(
            format!("{label} dx"),
            &[dpre, w],
            &[dx, s],
            move |gpu, b| conv::conv2d_backward_input(gpu, &spec, b(dpre), b(w), b(dx), b(s), acc),
        ));
    }
    if let Some((dw, acc)) = lw.grad_target(w) {
        let len = conv::conv2d_backward_weight_scratch_len(&spec);
        let s = scratch(lw, "conv2d dw scratch", len);
        lw.emit(Instr::new(
            format!("{label} dw"),
            &[x, dpre],
            &[dw, s],
            move |gpu, b| conv::conv2d_backward_weight(gpu, &spec, b(x), b(dpre), b(dw), b(s), acc),
        ));
    }
    if let Some((db, acc)) = bias.and_then(|t| lw.grad_target(t)) {
        let s = scratch(
            lw,
            "conv2d db scratch",
            conv::conv2d_backward_bias_scratch_len(&spec),
        );
        lw.emit(Instr::new(
            format!("{label} db"),
            &[dpre],
            &[db, s],
            move |gpu, b| conv::conv2d_backward_bias(gpu, &spec, b(dpre), b(db), b(s), acc),
        ));
    }
    Ok(())
}
