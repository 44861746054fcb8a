//! f64 reference of every elementwise entry point (the f32 and f16 kernels share it).
//! Backward references return the fresh gradient; `accumulate` models accumulate = true.

use super::{Binary, Unary};

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn forward(op: Unary, v: f64) -> f64 {
    match op {
        Unary::Relu => v.max(0.0),
        Unary::LeakyRelu(a) => {
            if v > 0.0 {
                v
            } else {
                a as f64 * v
            }
        }
        Unary::Sigmoid => sigmoid(v),
        Unary::Tanh => v.tanh(),
        Unary::Softplus => v.max(0.0) + (-v.abs()).exp().ln_1p(),
        Unary::Exp => v.exp(),
        Unary::Log => v.ln(),
        Unary::Square => v * v,
        Unary::Scale(a) => a as f64 * v,
        Unary::AddScalar(c) => v + c as f64,
        Unary::Sqrt => v.sqrt(),
    }
}

/// f'(.) from the saved tensor s (x or y, per `Unary::saved`).
fn derivative(op: Unary, s: f64) -> f64 {
    match op {
        Unary::Relu => (s > 0.0) as u8 as f64, // d/dx max(x, 0) = [x > 0]
        Unary::LeakyRelu(a) => {
            if s > 0.0 {
                1.0
            } else {
                a as f64
            }
        }
        Unary::Sigmoid => s * (1.0 - s), // s = y: sigma' = sigma (1 - sigma)
        Unary::Tanh => 1.0 - s * s,      // s = y: tanh' = 1 - tanh^2
        Unary::Softplus => sigmoid(s),   // s = x: softplus' = sigmoid
        Unary::Exp => s,                 // s = y: exp' = exp
        Unary::Log => 1.0 / s,           // s = x: log' = 1 / x
        Unary::Square => 2.0 * s,        // s = x: (x^2)' = 2 x
        Unary::Scale(a) => a as f64,     // (alpha x)' = alpha
        Unary::AddScalar(_) => 1.0,      // (x + c)' = 1
        Unary::Sqrt => 0.5 / s,          // s = y: sqrt' = 1 / (2 sqrt(x))
    }
}

pub fn unary(op: Unary, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| forward(op, v)).collect()
}

/// dx = dy * f'(saved).
pub fn unary_backward(op: Unary, saved: &[f64], dy: &[f64]) -> Vec<f64> {
    saved
        .iter()
        .zip(dy)
        .map(|(&s, &g)| g * derivative(op, s))
        .collect()
}

pub fn binary(op: Binary, a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(&u, &v)| match op {
            Binary::Add => u + v,
            Binary::Sub => u - v,
            Binary::Mul => u * v,
        })
        .collect()
}

/// (da, db): add: (dy, dy); sub: (dy, -dy); mul: (dy * b, dy * a).
pub fn binary_backward(op: Binary, a: &[f64], b: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    match op {
        Binary::Add => (dy.to_vec(), dy.to_vec()),
        Binary::Sub => (dy.to_vec(), dy.iter().map(|g| -g).collect()),
        Binary::Mul => (
            dy.iter().zip(b).map(|(g, v)| g * v).collect(),
            dy.iter().zip(a).map(|(g, u)| g * u).collect(),
        ),
    }
}

/// y[r, c] = x[r, c] + bias[c]; x is [B, F] with F = bias.len().
pub fn add_row_bias(x: &[f64], bias: &[f64]) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| v + bias[i % bias.len()])
        .collect()
}

/// y + alpha * x.
pub fn axpy(alpha: f64, x: &[f64], y: &[f64]) -> Vec<f64> {
    x.iter().zip(y).map(|(&u, &v)| v + alpha * u).collect()
}

pub fn fill(value: f64, n: usize) -> Vec<f64> {
    vec![value; n]
}

/// What a backward with accumulate = true leaves: old + new.
pub fn accumulate(old: &[f64], new: &[f64]) -> Vec<f64> {
    old.iter().zip(new).map(|(o, g)| o + g).collect()
}
