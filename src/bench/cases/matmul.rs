//! Matmul cases: the VAE's Linear layers at batch 128, forward (NT with bias + ReLU) and both
//! backward products (dX: NN, dW: TN), the latent heads, and square 512 and 1024 products in
//! f32 and f16.
//!
//! FLOPs: 2 M N K (the epilogue's adds are left out). Bytes: A, B and C once each (+ bias).

use super::{Case, Data};
use crate::kernels::matmul::{self, Epilogue, Form, MatmulSpec};
use crate::DType;

fn case(name: &str, spec: MatmulSpec, f16: bool) -> Case {
    let size = if f16 { 2.0 } else { 4.0 };
    let bias = if spec.epilogue == Epilogue::None {
        0
    } else {
        spec.n
    };
    let bytes = size * (spec.a_len() + spec.b_len() + spec.c_len() + bias) as f64;
    let shape = format!(
        "{:?} {}x{}x{}{}",
        spec.form,
        spec.m,
        spec.n,
        spec.k,
        if f16 { " f16" } else { "" }
    );
    Case::new(name, shape, spec.flops(), bytes, move |gpu| {
        let mut data = Data::new();
        let mut make = |n: usize| match f16 {
            false => data.f32(gpu, n, -1.0, 1.0),
            true => data.f16(gpu, n, -1.0, 1.0),
        };
        let (a, b, bias_buf) = (make(spec.a_len())?, make(spec.b_len())?, make(spec.n)?);
        let c = gpu.zeros(spec.c_len(), if f16 { DType::F16 } else { DType::F32 })?;
        let bias = (spec.epilogue != Epilogue::None).then_some(&bias_buf);
        let d = match f16 {
            false => matmul::matmul(gpu, &spec, &a, &b, bias, &c)?,
            true => matmul::matmul_f16(gpu, &spec, &a, &b, bias, &c)?,
        };
        Ok((vec![d], vec![a, b, bias_buf, c]))
    })
}

pub(super) fn cases() -> Vec<Case> {
    let linear = |m, n, k, form, epi| MatmulSpec::new(m, n, k, form).epilogue(epi);
    vec![
        case(
            "matmul vae fc1 forward",
            linear(128, 400, 784, Form::NT, Epilogue::BiasRelu),
            false,
        ),
        case(
            "matmul vae fc1 dW",
            linear(400, 784, 128, Form::TN, Epilogue::None),
            false,
        ),
        case(
            "matmul vae fc4 forward",
            linear(128, 784, 400, Form::NT, Epilogue::Bias),
            false,
        ),
        case(
            "matmul vae fc4 dX",
            linear(128, 400, 784, Form::NN, Epilogue::None),
            false,
        ),
        case(
            "matmul vae fc4 dW",
            linear(784, 400, 128, Form::TN, Epilogue::None),
            false,
        ),
        case(
            "matmul vae head forward",
            linear(128, 20, 400, Form::NT, Epilogue::Bias),
            false,
        ),
        case(
            "matmul vae fc3 forward",
            linear(128, 400, 20, Form::NT, Epilogue::BiasRelu),
            false,
        ),
        case(
            "matmul square 512",
            linear(512, 512, 512, Form::NN, Epilogue::None),
            false,
        ),
        case(
            "matmul square 1024",
            linear(1024, 1024, 1024, Form::NN, Epilogue::None),
            false,
        ),
        case(
            "matmul square 1024 NT",
            linear(1024, 1024, 1024, Form::NT, Epilogue::None),
            false,
        ),
        case(
            "matmul square 1024 TN",
            linear(1024, 1024, 1024, Form::TN, Epilogue::None),
            false,
        ),
        case(
            "matmul square 1024",
            linear(1024, 1024, 1024, Form::NN, Epilogue::None),
            true,
        ),
    ]
}
