//! conv_transpose2d as a graph op (PyTorch's nn.ConvTranspose2d: weight [Cin, Cout, KH, KW],
//! padding, output_padding; no dilation or groups), bias and activation fused as in conv2d.
//!
//! Forward: pre[n, co, ih S - P + kh, iw S - P + kw] += x[n, ci, ih, iw] w[ci, co, kh, kw],
//! plus b[co], then the activation. Backward, with dpre = dy * act'(pre) (see conv.rs), and
//! (oh, ow) = (ih S - P + kh, iw S - P + kw) inside y:
//!   dx[n, ci, ih, iw]  = sum_{co, kh, kw} dpre[n, co, oh, ow] w[ci, co, kh, kw]
//!                        (conv2d of dpre with the same weight)
//!   dw[ci, co, kh, kw] = sum_{n, ih, iw} x[n, ci, ih, iw] dpre[n, co, oh, ow]
//!   db[co]             = sum_{n, oh, ow} dpre[n, co, oh, ow]
//!
//! Shapes: x [N, Cin, H, W], w [Cin, Cout, KH, KW], b [Cout], y [N, Cout, OH, OW] with
//! OH = (H - 1) S - 2P + KH + output_pad (OW likewise), output_pad < S.

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::ops::conv::{act_backward, scratch, shape4};
use crate::graph::tensor::T;
use crate::kernels::conv::{self, Act, ConvTranspose2dSpec};
use crate::{Error, Result};

/// Stride, padding and output padding of a conv_transpose2d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub stride: usize,
    pub pad: usize,
    pub output_pad: usize,
}

impl Graph {
    /// y = act(conv_transpose2d(x, w) + b).
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &mut self,
        x: T,
        w: T,
        b: Option<T>,
        stride: usize,
        pad: usize,
        output_pad: usize,
        act: Act,
    ) -> Result<T> {
        let [n, cin, h, wd] = self.nchw("conv_transpose2d input x", x)?;
        let [w_cin, cout, kh, kw] = self.nchw("conv_transpose2d weight [Cin, Cout, KH, KW]", w)?;
        if w_cin != cin {
            return Err(Error::Shape(format!(
                "conv_transpose2d: weight {:?} takes {w_cin} input channels (PyTorch layout \
                 [Cin, Cout, KH, KW]) but x {:?} has {cin}",
                self.shape(w),
                self.shape(x)
            )));
        }
        self.check_bias_act("conv_transpose2d", b, cout, act)?;
        let geo = Geometry {
            stride,
            pad,
            output_pad,
        };
        let spec = make_spec([n, cin, h, wd], [cin, cout, kh, kw], geo);
        spec.check()?;
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let y = vec![n, cout, spec.oh(), spec.ow()];
        Ok(self.push(Op::ConvTranspose2d(geo, act), &inputs, &[("", y)]))
    }
}

fn make_spec(x: [usize; 4], w: [usize; 4], g: Geometry) -> ConvTranspose2dSpec {
    let ([n, cin, h, wd], [_, cout, kh, kw]) = (x, w);
    ConvTranspose2dSpec::new(n, cin, h, wd, cout, kh, kw)
        .stride(g.stride)
        .pad(g.pad)
        .output_pad(g.output_pad)
}

fn spec(lw: &Lowering, n: &Node, g: Geometry) -> ConvTranspose2dSpec {
    make_spec(shape4(lw, n.inputs[0]), shape4(lw, n.inputs[1]), g)
}

pub(crate) fn forward(lw: &mut Lowering, n: &Node, g: Geometry, act: Act) -> Result<()> {
    let spec = spec(lw, n, g);
    let (x, w, bias, y) = (
        n.inputs[0],
        n.inputs[1],
        n.inputs.get(2).copied(),
        n.outputs[0],
    );
    let s = scratch(
        lw,
        "conv_transpose2d scratch",
        conv::conv_transpose2d_scratch_len(&spec),
    );
    let mut reads = vec![x, w];
    reads.extend(bias);
    let label = format!(
        "conv_transpose2d {}->{} {}x{}/{}",
        spec.cin, spec.cout, spec.kh, spec.kw, g.stride
    );
    lw.emit(Instr::new(label, &reads, &[y, s], move |gpu, b| {
        conv::conv_transpose2d(gpu, &spec, b(x), b(w), bias.map(b), act, b(y), b(s))
    }));
    Ok(())
}

pub(crate) fn backward(lw: &mut Lowering, n: &Node, g: Geometry, act: Act) -> Result<()> {
    let spec = spec(lw, n, g);
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
    let label = format!("conv_transpose2d {}->{}", spec.cin, spec.cout);
    if let Some((dx, acc)) = lw.grad_target(x) {
        lw.emit(Instr::new(
            format!("{label} dx"),
            &[dpre, w],
            &[dx],
            move |gpu, b| {
                one(conv::conv_transpose2d_backward_input(
                    gpu,
                    &spec,
                    b(dpre),
                    b(w),
                    b(dx),
                    acc,
                ))
            },
        ));
    }
    if let Some((dw, acc)) = lw.grad_target(w) {
        let len = conv::conv_transpose2d_backward_weight_scratch_len(&spec);
        let s = scratch(lw, "conv_transpose2d dw scratch", len);
        lw.emit(Instr::new(
            format!("{label} dw"),
            &[x, dpre],
            &[dw, s],
            move |gpu, b| {
                conv::conv_transpose2d_backward_weight(gpu, &spec, b(x), b(dpre), b(dw), b(s), acc)
            },
        ));
    }
    if let Some((db, acc)) = bias.and_then(|t| lw.grad_target(t)) {
        let len = conv::conv_transpose2d_backward_bias_scratch_len(&spec);
        let s = scratch(lw, "conv_transpose2d db scratch", len);
        lw.emit(Instr::new(
            format!("{label} db"),
            &[dpre],
            &[db, s],
            move |gpu, b| {
                conv::conv_transpose2d_backward_bias(gpu, &spec, b(dpre), b(db), b(s), acc)
            },
        ));
    }
    Ok(())
}
