//! Twin of shaders/conv.wgsl: conv2d and conv_transpose2d on NCHW tensors with PyTorch
//! semantics (stride, symmetric zero padding, output_padding; no dilation or groups), forward
//! with a fused bias + activation epilogue, and every backward.
//!
//! Shapes: conv2d x [N, Cin, H, W], weight [Cout, Cin, KH, KW], bias [Cout],
//! y [N, Cout, OH, OW], OH = (H + 2P - KH) / S + 1. conv_transpose2d x [N, Cin, H, W],
//! weight [Cin, Cout, KH, KW], y [N, Cout, OH, OW], OH = (H - 1) S - 2P + KH + output_pad.
//!
//! Everything is one implicit GEMM (`gemm`; the passes as GEMMs in `plans`): conv2d's
//! forward; its input gradient, a gather (each input pixel sums the output positions and taps
//! that touch it; no atomics), one GEMM per stride phase after a pass that packs the weight
//! per phase, or for at most `COL2IM_MAX_ROWS` input channels a GEMM of per-tap products then
//! a col2im gather; its weight gradient, reducing over N OH OW in chunks whose partials a last
//! pass adds in order (or, in one chunk, over dy copied into vec4-aligned planes).
//! conv_transpose2d (`transpose`) is the same three: its forward is conv2d's input gradient,
//! its input gradient conv2d's forward, its weight gradient conv2d's with x and dy swapped.
//! The bias gradient has its own small kernel (`helpers`). Ops that need several passes return
//! `Vec<Dispatch>` and take a caller-owned scratch buffer of `<op>_scratch_len` floats (any
//! buffer when that is 0: it is not bound). Backward entry points write or, with
//! `accumulate`, add to their gradient.
//!
//! Two kernels (`Variant`): register-blocked for CPU adapters (lavapipe), workgroup-tiled for
//! GPUs, chosen by `Gpu::is_cpu` unless the spec forces one.

pub mod cpu;
mod gemm;
mod helpers;
mod plans;
mod spec;
mod transpose;

pub use gemm::{Params, RB_COLS, RB_ROWS, TILE};
pub use plans::COL2IM_MAX_ROWS;
pub use spec::{Act, Conv2dSpec, ConvTranspose2dSpec, Variant, K_MAX};
pub use transpose::*;

use crate::{Buf, Dispatch, Gpu, Result};
use gemm::Epi;
use helpers::bias_chunks;
use spec::{expect, expect_scratch};

/// y = act(conv2d(x, weight) (+ bias)). `bias` [Cout] is optional; the activation applies
/// after it.
pub fn conv2d(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    x: &Buf,
    weight: &Buf,
    bias: Option<&Buf>,
    act: Act,
    y: &Buf,
) -> Result<Dispatch> {
    spec.check()?;
    expect(
        "conv2d",
        &[
            ("x", x, spec.x_len()),
            ("weight", weight, spec.w_len()),
            ("y", y, spec.y_len()),
        ],
    )?;
    if let Some(b) = bias {
        expect("conv2d", &[("bias", b, spec.cout)])?;
    }
    let epi = Epi {
        accumulate: false,
        act,
    };
    spec.forward_gemm()?
        .dispatch(gpu, spec.variant_on(gpu), epi, weight, x, bias, y)
}

/// Floats of scratch `conv2d_backward_input` needs: the weight packed per stride phase, or
/// for at most `COL2IM_MAX_ROWS` input channels the per-tap products Z (see `gemm`).
pub fn conv2d_backward_input_scratch_len(spec: &Conv2dSpec) -> usize {
    if spec.cin <= COL2IM_MAX_ROWS {
        spec.taps_len()
    } else {
        spec.w_len()
    }
}

/// dx = d(sum dy * y)/dx of y = conv2d(x, weight): dx[n, ci, ih, iw] = sum over co and the
/// taps (kh, kw) with oh = (ih + P - kh) / S, ow likewise, landing inside y, of
/// dy[n, co, oh, ow] * weight[co, ci, kh, kw]. Independent of x and the bias.
pub fn conv2d_backward_input(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    dy: &Buf,
    weight: &Buf,
    dx: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    expect(
        "conv2d_backward_input",
        &[
            ("dy", dy, spec.y_len()),
            ("weight", weight, spec.w_len()),
            ("dx", dx, spec.x_len()),
        ],
    )?;
    input_grad(
        gpu,
        spec,
        dy,
        weight,
        None,
        Epi::accumulate(accumulate),
        dx,
        scratch,
    )
}

/// The input-gradient gather of `c` into `out` with an epilogue: for few input channels the
/// per-tap products then col2im, else the weight packed per stride phase then one GEMM per
/// phase.
#[allow(clippy::too_many_arguments)]
fn input_grad(
    gpu: &Gpu,
    c: &Conv2dSpec,
    dy: &Buf,
    weight: &Buf,
    bias: Option<&Buf>,
    epi: Epi,
    out: &Buf,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    let what = "conv input gradient / conv_transpose2d";
    let need = conv2d_backward_input_scratch_len(c);
    expect_scratch(what, scratch, need, &[dy, weight, out])?;
    let variant = c.variant_on(gpu);
    if c.cin <= COL2IM_MAX_ROWS {
        let g = c.input_grad_taps_gemm()?;
        return Ok(vec![
            g.dispatch(gpu, variant, Epi::PLAIN, weight, dy, None, scratch)?,
            helpers::col2im_dispatch(gpu, c, epi, scratch, bias, out)?,
        ]);
    }
    let gemms = c.input_grad_gemms()?;
    let mut ds = vec![helpers::pack_dispatch(gpu, c, weight, scratch)?];
    for g in &gemms {
        ds.push(g.dispatch(gpu, variant, epi, scratch, dy, bias, out)?);
    }
    Ok(ds)
}

/// Floats of scratch `conv2d_backward_weight` needs: per-chunk partial weight gradients when
/// the reduction over N OH OW is split, or dy with its planes padded to a multiple of 4 floats
/// (0 when neither is used).
pub fn conv2d_backward_weight_scratch_len(spec: &Conv2dSpec) -> usize {
    if let Some(rows) = spec.weight_grad_padded_rows() {
        return spec.n * spec.cout * rows * spec.ow();
    }
    match spec.weight_grad_chunks() {
        (1, _) => 0,
        (chunks, _) => chunks * spec.w_len(),
    }
}

/// dweight[co, ci, kh, kw] = sum over n, oh, ow of dy[n, co, oh, ow] * x[n, ci, ih, iw]
/// (ih = oh S - P + kh; zero outside x).
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    x: &Buf,
    dy: &Buf,
    dweight: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    expect(
        "conv2d_backward_weight",
        &[
            ("x", x, spec.x_len()),
            ("dy", dy, spec.y_len()),
            ("dweight", dweight, spec.w_len()),
        ],
    )?;
    weight_grad(gpu, spec, x, dy, dweight, scratch, accumulate)
}

fn weight_grad(
    gpu: &Gpu,
    c: &Conv2dSpec,
    x: &Buf,
    dy: &Buf,
    dweight: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    let what = "conv weight gradient";
    let need = conv2d_backward_weight_scratch_len(c);
    expect_scratch(what, scratch, need, &[x, dy, dweight])?;
    let padded = c.weight_grad_padded_rows();
    let g = c.weight_grad_gemm(padded);
    let variant = c.variant_on(gpu);
    let epi = Epi::accumulate(accumulate);
    if let Some(rows) = padded {
        let planes = (c.n * c.cout, c.oh() * c.ow(), rows * c.ow());
        return Ok(vec![
            helpers::pad_dispatch(gpu, planes, dy, scratch)?,
            g.dispatch(gpu, variant, epi, scratch, x, None, dweight)?,
        ]);
    }
    if g.chunks == 1 {
        return Ok(vec![g.dispatch(gpu, variant, epi, dy, x, None, dweight)?]);
    }
    Ok(vec![
        g.dispatch(gpu, variant, Epi::PLAIN, dy, x, None, scratch)?,
        helpers::sum_dispatch(gpu, c.w_len(), g.chunks, scratch, dweight, accumulate)?,
    ])
}

/// Floats of scratch `conv2d_backward_bias` needs (0 when one pass suffices).
pub fn conv2d_backward_bias_scratch_len(spec: &Conv2dSpec) -> usize {
    bias_scratch_len(spec.n * spec.oh() * spec.ow(), spec.cout)
}

fn bias_scratch_len(pos: usize, channels: usize) -> usize {
    match bias_chunks(pos) {
        (1, _) => 0,
        (chunks, _) => chunks * channels,
    }
}

/// dbias[co] = sum over n, oh, ow of dy[n, co, oh, ow].
pub fn conv2d_backward_bias(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    dy: &Buf,
    dbias: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    let dims = (spec.n, spec.cout, spec.oh() * spec.ow());
    bias_grad(
        gpu,
        "conv2d_backward_bias",
        dims,
        dy,
        dbias,
        scratch,
        accumulate,
    )
}

fn bias_grad(
    gpu: &Gpu,
    what: &str,
    (n, channels, plane): (usize, usize, usize),
    dy: &Buf,
    dbias: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    expect(
        what,
        &[("dy", dy, n * channels * plane), ("dbias", dbias, channels)],
    )?;
    let dims = (n, channels, plane);
    let (chunks, _) = bias_chunks(n * plane);
    if chunks == 1 {
        return Ok(vec![helpers::bias_partials_dispatch(
            gpu, dims, dy, dbias, accumulate,
        )?]);
    }
    expect_scratch(what, scratch, chunks * channels, &[dy, dbias])?;
    Ok(vec![
        helpers::bias_partials_dispatch(gpu, dims, dy, scratch, false)?,
        helpers::sum_dispatch(gpu, channels, chunks, scratch, dbias, accumulate)?,
    ])
}
