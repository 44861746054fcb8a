//! Graph-level gradient checks of the ops models are built from: each op's backward rule,
//! as the graph wires it, against central differences of its forward (see
//! common/graph_check.rs). Ops used twice check that gradients accumulate.
mod common;
use common::graph_check::{check_op_gradients, Check, Input};
use common::*;
use shadergrad::graph::ops::norm::BatchNorm;

#[test]
fn linear_with_relu_and_shared_input() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "x", &[7, 5], -1.0, 1.0),
        Input::uniform(&mut r, "w", &[3, 5], -1.0, 1.0),
        Input::uniform(&mut r, "b", &[3], -0.5, 0.5),
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
