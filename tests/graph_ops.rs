//! Graph-level gradient checks of the ops models are built from: each op's backward rule,
//! as the graph wires it, against central differences of its forward (see
//! common/graph_check.rs). Ops used twice check that gradients accumulate.
mod common;
use common::graph_check::{check_op_gradients, Check, Input};
use common::*;
use rand::Rng;
use shadergrad::graph::ops::norm::BatchNorm;

#[test]
fn linear_with_relu_and_shared_input() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "x", &[7, 5], -1.0, 1.0),
        Input::uniform(&mut r, "w", &[3, 5], -0.2, 0.2),
        // |x . w| <= 1, so biases of +-(1.5..2.5) keep every pre-activation at least 0.5 from
        // the ReLU's kink, where a central difference would straddle it; both signs keep
        // units on and off.
        Input {
            name: "b",
            shape: vec![3],
            values: vec![1.5 + r.random::<f32>(), -1.5 - r.random::<f32>(), 2.0],
        },
    ];
    // Every input feeds two layers, so each gradient is written once and accumulated once.
    check_op_gradients(
        "linear",
        &mut r,
        &inputs,
        &|g, t| {
            let a = g.linear(t[0], t[1], t[2], true)?;
            let b = g.linear(t[0], t[1], t[2], false)?;
            let y = g.add(a, b)?;
            Ok(y)
        },
        &Check::default(),
    );
}

#[test]
fn batch_norm_2d_affine() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "x", &[3, 4, 5, 3], -2.0, 2.0),
        Input::uniform(&mut r, "gamma", &[4], 0.5, 1.5),
        Input::uniform(&mut r, "beta", &[4], -0.5, 0.5),
    ];
    check_op_gradients(
        "batch_norm 2d",
        &mut r,
        &inputs,
        &|g, t| g.batch_norm(t[0], "bn", Some((t[1], t[2])), BatchNorm::default()),
        &Check::default(),
    );
}

#[test]
fn shuffled_rows_accumulate_into_a_shared_gradient() {
    use shadergrad::kernels::elementwise::Unary;
    use shadergrad::kernels::shuffle::PermKind;
    let mut r = rng();
    let inputs = [Input::uniform(&mut r, "x", &[6, 4], -1.0, 1.0)];
    // x feeds the shuffle (first in the forward, so last in the backward, which must then
    // add to the square's gradient rather than overwrite it) and a square.
    check_op_gradients(
        "shuffle_rows + square",
        &mut r,
        &inputs,
        &|g, t| {
            let s = g.shuffle_rows(t[0], PermKind::Derangement, 3)?;
            let sq = g.unary(Unary::Square, t[0]);
            g.add(s, sq)
        },
        &Check::default(),
    );
}

/// detach: its output equals its input, and no gradient passes back through it. With
/// y = a * detach(b) + b * b and L = sum(y), dL/da = b and dL/db = 2b (not a + 2b).
#[test]
fn detach_stops_the_gradient_and_keeps_the_values() {
    use shadergrad::graph::{Graph, Program};
    use shadergrad::kernels::elementwise::{Binary, Unary};
    use shadergrad::kernels::reduce::{Axis, Op as ReduceOp};
    use shadergrad::nn::params::{Init, ParamSpec, ParamStore};
    let gpu = gpu();
    let mut r = rng();
    let n = 37;
    let (a0, b0) = (uniform(&mut r, n, -1.0, 1.0), uniform(&mut r, n, -1.0, 1.0));
    let specs = [
        ParamSpec::new("a", &[n], Init::Values(a0.clone())),
        ParamSpec::new("b", &[n], Init::Values(b0.clone())),
    ];
    let store = ParamStore::new(gpu, &specs, &[], &mut r).unwrap();
    let mut g = Graph::new();
    let (a, b) = (g.param("a", &[n]), g.param("b", &[n]));
    let frozen = g.detach(b);
    let ab = g.binary(Binary::Mul, a, frozen).unwrap();
    let bb = g.unary(Unary::Square, b);
    let y = g.add(ab, bb).unwrap();
    g.output("frozen", frozen);
    let loss = g.reduce(y, Axis::All, ReduceOp::Sum);
    g.set_loss(loss).unwrap();
    let p = Program::compile(gpu, g, &store, true).unwrap();
    p.step(gpu, 0, &[]).unwrap();
    let read = |name: &str| {
        let view = store.grad_view(gpu, name, &[n]).unwrap();
        gpu.download::<f32>(&view).unwrap()
    };
    assert_close("dL/da", &read("a"), &to_f64(&b0), 1e-6, 0.0);
    let two_b: Vec<f64> = b0.iter().map(|&v| 2.0 * v as f64).collect();
    assert_close("dL/db", &read("b"), &two_b, 1e-6, 0.0);
    let frozen_vals = gpu.download::<f32>(p.buf_named("frozen").unwrap()).unwrap();
    assert_eq!(frozen_vals, b0, "detach is a view of its input");
}

/// One batch-norm layer (shared gamma and beta) applied to two batches, as a GAN's
/// discriminator sees real and generated images: both uses accumulate into one gradient.
/// Batch statistics only (no running statistics).
#[test]
fn batch_norm_shared_by_two_batches_without_running_stats() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "a", &[4, 3, 2, 3], -2.0, 2.0),
        Input::uniform(&mut r, "b", &[4, 3, 2, 3], -1.0, 3.0),
        Input::uniform(&mut r, "gamma", &[3], 0.5, 1.5),
        Input::uniform(&mut r, "beta", &[3], -0.5, 0.5),
    ];
    let cfg = BatchNorm {
        track_running_stats: false,
        ..BatchNorm::default()
    };
    check_op_gradients(
        "batch_norm shared",
        &mut r,
        &inputs,
        &|g, t| {
            let ya = g.batch_norm(t[0], "bn", Some((t[2], t[3])), cfg)?;
            let yb = g.batch_norm(t[1], "bn", Some((t[2], t[3])), cfg)?;
            g.add(ya, yb)
        },
        &Check::default(),
    );
}
