//! conv_transpose2d: the three passes of conv2d with roles swapped. Its forward is conv2d's
//! input gradient (a gather per output pixel), its input gradient conv2d's forward, its weight
//! gradient conv2d's with x and dy swapped; the conv2d is `ConvTranspose2dSpec::as_conv`.

use super::gemm::Epi;
use super::spec::{expect, Act, ConvTranspose2dSpec};
use super::{
    bias_grad, bias_scratch_len, conv2d_backward_input_scratch_len,
    conv2d_backward_weight_scratch_len, input_grad, weight_grad,
};
use crate::{Buf, Dispatch, Gpu, Result};

/// Floats of scratch `conv_transpose2d` needs (that of its conv2d's input gradient).
pub fn conv_transpose2d_scratch_len(spec: &ConvTranspose2dSpec) -> usize {
    conv2d_backward_input_scratch_len(&spec.as_conv())
}

/// y = act(conv_transpose2d(x, weight) (+ bias)): y[n, co, ih S - P + kh, iw S - P + kw] gets
/// x[n, ci, ih, iw] * weight[ci, co, kh, kw], computed as a gather per output pixel (conv2d's
/// input gradient).
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    gpu: &Gpu,
    spec: &ConvTranspose2dSpec,
    x: &Buf,
    weight: &Buf,
    bias: Option<&Buf>,
    act: Act,
    y: &Buf,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    expect(
        "conv_transpose2d",
        &[
            ("x", x, spec.x_len()),
            ("weight", weight, spec.w_len()),
            ("y", y, spec.y_len()),
        ],
    )?;
    if let Some(b) = bias {
        expect("conv_transpose2d", &[("bias", b, spec.cout)])?;
    }
    let epi = Epi {
        accumulate: false,
        act,
    };
    input_grad(gpu, &spec.as_conv(), x, weight, bias, epi, y, scratch)
}

/// dx of y = conv_transpose2d(x, weight): dx[n, ci, ih, iw] = sum over co, kh, kw of
/// dy[n, co, ih S - P + kh, iw S - P + kw] * weight[ci, co, kh, kw] (inside dy), i.e. conv2d
/// of dy with the same weight.
pub fn conv_transpose2d_backward_input(
    gpu: &Gpu,
    spec: &ConvTranspose2dSpec,
    dy: &Buf,
    weight: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    spec.check()?;
    expect(
        "conv_transpose2d_backward_input",
        &[
            ("dy", dy, spec.y_len()),
            ("weight", weight, spec.w_len()),
            ("dx", dx, spec.x_len()),
        ],
    )?;
    let c = spec.as_conv();
    let epi = Epi::accumulate(accumulate);
    c.forward_gemm()?
        .dispatch(gpu, c.variant_on(gpu), epi, weight, dy, None, dx)
}

/// Floats of scratch `conv_transpose2d_backward_weight` needs.
pub fn conv_transpose2d_backward_weight_scratch_len(spec: &ConvTranspose2dSpec) -> usize {
    conv2d_backward_weight_scratch_len(&spec.as_conv())
}

/// dweight[ci, co, kh, kw] = sum over n, ih, iw of x[n, ci, ih, iw] * dy[n, co, ih S - P + kh,
/// iw S - P + kw]: conv2d's weight gradient with the roles of x and dy swapped.
pub fn conv_transpose2d_backward_weight(
    gpu: &Gpu,
    spec: &ConvTranspose2dSpec,
    x: &Buf,
    dy: &Buf,
    dweight: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    expect(
        "conv_transpose2d_backward_weight",
        &[
            ("x", x, spec.x_len()),
            ("dy", dy, spec.y_len()),
            ("dweight", dweight, spec.w_len()),
        ],
    )?;
    weight_grad(gpu, &spec.as_conv(), dy, x, dweight, scratch, accumulate)
}

/// Floats of scratch `conv_transpose2d_backward_bias` needs (0 when one pass suffices).
pub fn conv_transpose2d_backward_bias_scratch_len(spec: &ConvTranspose2dSpec) -> usize {
    bias_scratch_len(spec.n * spec.oh() * spec.ow(), spec.cout)
}

/// dbias[co] = sum over n, oh, ow of dy[n, co, oh, ow].
pub fn conv_transpose2d_backward_bias(
    gpu: &Gpu,
    spec: &ConvTranspose2dSpec,
    dy: &Buf,
    dbias: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    let dims = (spec.n, spec.cout, spec.oh() * spec.ow());
    let what = "conv_transpose2d_backward_bias";
    bias_grad(gpu, what, dims, dy, dbias, scratch, accumulate)
}
