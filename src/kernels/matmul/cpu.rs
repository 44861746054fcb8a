//! f64 reference of every matmul entry point (both kernels compute the same function).

use super::{Epilogue, Form, MatmulSpec};

/// op(A) op(B) as an [M, N] row-major matrix, summed in f64.
pub fn product(form: Form, m: usize, n: usize, k: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), m * k, "A length");
    assert_eq!(b.len(), k * n, "B length");
    let at = |i: usize, kk: usize| match form {
        Form::NN | Form::NT => a[i * k + kk],
        Form::TN => a[kk * m + i],
    };
    let bt = |kk: usize, j: usize| match form {
        Form::NN | Form::TN => b[kk * n + j],
        Form::NT => b[j * k + kk],
    };
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|kk| at(i, kk) * bt(kk, j)).sum();
        }
    }
    c
}

/// The whole entry point: (C_old if accumulating) + op(A) op(B) (+ bias) (ReLU).
/// `c_old` is read only when `spec.accumulate`.
pub fn matmul(
    spec: &MatmulSpec,
    a: &[f64],
    b: &[f64],
    bias: Option<&[f64]>,
    c_old: &[f64],
) -> Vec<f64> {
    let (m, n) = (spec.m, spec.n);
    let mut c = product(spec.form, m, n, spec.k, a, b);
    for i in 0..m {
        for j in 0..n {
            let mut v = c[i * n + j];
            if spec.accumulate {
                v += c_old[i * n + j];
            }
            if spec.epilogue != Epilogue::None {
                v += bias.expect("bias for the epilogue")[j];
            }
            if spec.epilogue == Epilogue::BiasRelu {
                v = v.max(0.0);
            }
            c[i * n + j] = v;
        }
    }
    c
}
