//! Optimizer cases: Adam over 1M parameters and over the MNIST VAE's 652,824 (784-400-20-400-784
//! with biases, one flat arena), and SGD with momentum over 1M.
//!
//! Adam reads p, g, m, v and writes p, m, v (28 bytes per parameter); about 16 FLOPs counting
//! the sqrt and the two divisions as one each. SGD with momentum reads p, g, buf and writes p,
//! buf (20 bytes); 5 FLOPs.

use super::{f32s, Case, Data};
use crate::kernels::optimizer::{Adam, Sgd};
use crate::Result;

/// The MNIST VAE's parameters: fc1 784x400 + 400, fc21 and fc22 400x20 + 20 each,
/// fc3 20x400 + 400, fc4 400x784 + 784.
pub const VAE_PARAMS: usize =
    (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784);

fn adam(n: usize, shape: String) -> Case {
    Case::new(
        "optimizer adam",
        shape,
        16.0 * n as f64,
        f32s(7 * n),
        move |gpu| {
            let mut data = Data::new();
            let p = data.f32(gpu, n, -0.1, 0.1)?;
            let g = data.f32(gpu, n, -0.01, 0.01)?;
            let m = data.f32(gpu, n, -0.001, 0.001)?;
            let v = data.f32(gpu, n, 0.0, 1e-6)?;
            let d = Adam::new(n, 1e-3).dispatch(gpu, &p, &g, &m, &v)?;
            Ok((vec![d], vec![p, g, m, v]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    const N: usize = 1 << 20;
    vec![
        adam(N, format!("{N} params")),
        adam(VAE_PARAMS, format!("{VAE_PARAMS} params (MNIST VAE)")),
        Case::new(
            "optimizer sgd momentum",
            format!("{N} params"),
            5.0 * N as f64,
            f32s(5 * N),
            |gpu| {
                let mut data = Data::new();
                let bufs = (0..3)
                    .map(|_| data.f32(gpu, N, -0.1, 0.1))
                    .collect::<Result<Vec<_>>>()?;
                let d = Sgd::new(N, 1e-2, 0.9).dispatch(gpu, &bufs[0], &bufs[1], Some(&bufs[2]))?;
                Ok((vec![d], bufs))
            },
        ),
    ]
}
