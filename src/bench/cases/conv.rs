//! Conv cases at the MNIST models' shapes, batch 128: the encoder's conv2d layers
//! [128, 1, 28, 28] -> 64 x 14 x 14 -> 128 x 7 x 7 (4x4, stride 2, padding 1) forward, input
//! and weight gradients, the decoder's mirror conv_transpose2d layers, and a bias gradient.
//!
//! FLOPs: 2 N OH OW Cout Cin KH KW for every pass of a layer (forward, dX and dW do the same
//! multiply-adds; the epilogue's adds are left out; zero-padding taps are counted, as in
//! every GEMM view). Bytes: each input and output once (the packed weight and chunk partials
//! are scratch, not counted). The bias gradient: one add per element of dy.

use super::{f32s, out, Case, Data};
use crate::kernels::conv::{self, Act, Conv2dSpec, ConvTranspose2dSpec};
use crate::Gpu;

#[derive(Clone, Copy)]
enum Pass {
    Forward,
    Input,
    Weight,
}

fn shape(s: &Conv2dSpec) -> String {
    format!(
        "[{}, {}, {}, {}] -> {} x {}x{} s{} p{}",
        s.n, s.cin, s.h, s.w, s.cout, s.kh, s.kw, s.stride, s.pad
    )
}

fn conv_case(name: &str, s: Conv2dSpec, pass: Pass) -> Case {
    let bytes = f32s(s.x_len() + s.w_len() + s.y_len());
    Case::new(name, shape(&s), s.flops(), bytes, move |gpu: &Gpu| {
        let mut data = Data::new();
        let x = data.f32(gpu, s.x_len(), -1.0, 1.0)?;
        let w = data.f32(gpu, s.w_len(), -0.1, 0.1)?;
        let b = data.f32(gpu, s.cout, -0.1, 0.1)?;
        let y = data.f32(gpu, s.y_len(), -1.0, 1.0)?;
        let scratch_len = match pass {
            Pass::Forward => 0,
            Pass::Input => conv::conv2d_backward_input_scratch_len(&s),
            Pass::Weight => conv::conv2d_backward_weight_scratch_len(&s),
        };
        let scratch = out(gpu, scratch_len.max(1))?;
        let ds = match pass {
            Pass::Forward => {
                let act = Act::LeakyRelu(0.2);
                vec![conv::conv2d(gpu, &s, &x, &w, Some(&b), act, &y)?]
            }
            Pass::Input => conv::conv2d_backward_input(gpu, &s, &y, &w, &x, &scratch, false)?,
            Pass::Weight => conv::conv2d_backward_weight(gpu, &s, &x, &y, &w, &scratch, false)?,
        };
        Ok((ds, vec![x, w, b, y, scratch]))
    })
}

fn t_shape(s: &ConvTranspose2dSpec) -> String {
    format!(
        "[{}, {}, {}, {}] -> {} x {}x{} s{} p{} T",
        s.n, s.cin, s.h, s.w, s.cout, s.kh, s.kw, s.stride, s.pad
    )
}

fn t_case(name: &str, s: ConvTranspose2dSpec, pass: Pass) -> Case {
    let bytes = f32s(s.x_len() + s.w_len() + s.y_len());
    Case::new(name, t_shape(&s), s.flops(), bytes, move |gpu: &Gpu| {
        let mut data = Data::new();
        let x = data.f32(gpu, s.x_len(), -1.0, 1.0)?;
        let w = data.f32(gpu, s.w_len(), -0.1, 0.1)?;
        let b = data.f32(gpu, s.cout, -0.1, 0.1)?;
        let y = data.f32(gpu, s.y_len(), -1.0, 1.0)?;
        let scratch_len = match pass {
            Pass::Forward => conv::conv_transpose2d_scratch_len(&s),
            Pass::Input => 0,
            Pass::Weight => conv::conv_transpose2d_backward_weight_scratch_len(&s),
        };
        let scratch = out(gpu, scratch_len.max(1))?;
        let ds = match pass {
            Pass::Forward => {
                conv::conv_transpose2d(gpu, &s, &x, &w, Some(&b), Act::Relu, &y, &scratch)?
            }
            Pass::Input => vec![conv::conv_transpose2d_backward_input(
                gpu, &s, &y, &w, &x, false,
            )?],
            Pass::Weight => {
                conv::conv_transpose2d_backward_weight(gpu, &s, &x, &y, &w, &scratch, false)?
            }
        };
        Ok((ds, vec![x, w, b, y, scratch]))
    })
}

fn bias_case(s: Conv2dSpec) -> Case {
    let n = s.y_len();
    let shape = format!(
        "[{}, {}, {}, {}] -> [{}]",
        s.n,
        s.cout,
        s.oh(),
        s.ow(),
        s.cout
    );
    Case::new(
        "conv bias grad",
        shape,
        n as f64,
        f32s(n + s.cout),
        move |gpu| {
            let dy = Data::new().f32(gpu, n, -1.0, 1.0)?;
            let db = out(gpu, s.cout)?;
            let scratch = out(gpu, conv::conv2d_backward_bias_scratch_len(&s).max(1))?;
            let ds = conv::conv2d_backward_bias(gpu, &s, &dy, &db, &scratch, false)?;
            Ok((ds, vec![dy, db, scratch]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    let enc1 = Conv2dSpec::new(128, 1, 28, 28, 64, 4, 4).stride(2).pad(1);
    let enc2 = Conv2dSpec::new(128, 64, 14, 14, 128, 4, 4).stride(2).pad(1);
    let dec1 = ConvTranspose2dSpec::new(128, 128, 7, 7, 64, 4, 4)
        .stride(2)
        .pad(1);
    let dec2 = ConvTranspose2dSpec::new(128, 64, 14, 14, 1, 4, 4)
        .stride(2)
        .pad(1);
    vec![
        conv_case("conv enc1 forward", enc1, Pass::Forward),
        conv_case("conv enc1 dW", enc1, Pass::Weight),
        conv_case("conv enc2 forward", enc2, Pass::Forward),
        conv_case("conv enc2 dX", enc2, Pass::Input),
        conv_case("conv enc2 dW", enc2, Pass::Weight),
        t_case("conv dec1 forward", dec1, Pass::Forward),
        t_case("conv dec1 dX", dec1, Pass::Input),
        t_case("conv dec1 dW", dec1, Pass::Weight),
        t_case("conv dec2 forward", dec2, Pass::Forward),
        t_case("conv dec2 dX", dec2, Pass::Input),
        t_case("conv dec2 dW", dec2, Pass::Weight),
        bias_case(enc2),
    ]
}
