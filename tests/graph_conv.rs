//! Graph ops of the convolutional models (conv2d, conv_transpose2d, pooling, leaky_relu,
//! reshape, concatenations, shuffle_rows): here each backward rule as the graph wires it,
//! against central differences of its forward (common/graph_check.rs), at small awkward
//! shapes (N = 3, C = 5, 7 x 7 and 9 x 9 maps, stride 2, pad 1, output_pad 1), every fused
//! activation, and ops used twice so gradients accumulate. Forward wiring against the
//! kernels' f64 twins is in graph_conv/forward.rs, shuffling in graph_conv/shuffle.rs, bad
//! shapes, zero-copy reshape and parameter specs in graph_conv/misc.rs.
//!
//! Kinks (ReLU at 0, a max changing its argmax) would break central differences: fused
//! activations get pre-activations bounded away from 0 (`kink_free_bias`), max pooling inputs
//! are distinct values 0.05 apart, and steps are small (h = 1e-3).
mod common;
#[path = "graph_conv/forward.rs"]
mod forward;
#[path = "graph_conv/misc.rs"]
mod misc;
#[path = "graph_conv/shuffle.rs"]
mod shuffle;

use common::graph_check::{check_op_gradients, BuildOp, Check, Input};
use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use shadergrad::kernels::conv::Act;
use shadergrad::kernels::shuffle::PermKind;

/// Values 0.05 apart in random order, centred on 0: no ties, no argmax flips under small steps.
pub fn distinct(r: &mut StdRng, name: &'static str, shape: &[usize]) -> Input {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.05).collect();
    values.shuffle(r);
    Input {
        name,
        shape: shape.to_vec(),
        values,
    }
}

/// A bias of magnitude 2.5..3.5 (random sign) for weights in +-0.04 and inputs in +-1:
/// with at most 45 taps per output the pre-activations stay 0.7 or more away from the
/// activation's kink (channels are alive or dead, never on the edge).
fn kink_free_bias(r: &mut StdRng, c: usize) -> Input {
    let mut b = Input::uniform(r, "b", &[c], 2.5, 3.5);
    for (i, v) in b.values.iter_mut().enumerate() {
        if i % 2 == 1 {
            *v = -*v;
        }
    }
    b
}

fn small_step() -> Check {
    Check {
        h: 1e-3,
        ..Check::default()
    }
}

fn check(what: &str, r: &mut StdRng, inputs: &[Input], op: BuildOp) {
    check_op_gradients(what, r, inputs, op, &small_step());
}

const ACTS: [Act; 3] = [Act::None, Act::Relu, Act::LeakyRelu(0.2)];

#[test]
fn conv2d_gradients_each_act_and_shared_inputs() {
    for act in ACTS {
        let mut r = rng();
        let inputs = [
            Input::uniform(&mut r, "x", &[3, 5, 9, 9], -1.0, 1.0),
            Input::uniform(&mut r, "w", &[4, 5, 3, 3], -0.04, 0.04),
            kink_free_bias(&mut r, 4),
        ];
        // Two layers on the same x, w, b: every gradient is written once, then accumulated.
        check(&format!("conv2d {act:?}"), &mut r, &inputs, &|g, t| {
            let a = g.conv2d(t[0], t[1], Some(t[2]), 2, 1, act)?;
            let b = g.conv2d(t[0], t[1], Some(t[2]), 2, 1, Act::None)?;
            g.add(a, b)
        });
    }
}

#[test]
fn conv2d_gradients_without_bias_few_channels() {
    // Cin = 3 takes the per-tap products + col2im route for dx; a 5 x 5 kernel, pad 2.
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "x", &[3, 3, 7, 7], -1.0, 1.0),
        Input::uniform(&mut r, "w", &[5, 3, 5, 5], -0.5, 0.5),
    ];
    check("conv2d no bias", &mut r, &inputs, &|g, t| {
        g.conv2d(t[0], t[1], None, 1, 2, Act::None)
    });
}

#[test]
fn conv_transpose2d_gradients_each_act_and_shared_inputs() {
    for act in ACTS {
        let mut r = rng();
        // Cout = 6 takes the weight-packing route of the forward gather.
        let inputs = [
            Input::uniform(&mut r, "x", &[3, 5, 4, 4], -1.0, 1.0),
            Input::uniform(&mut r, "w", &[5, 6, 3, 3], -0.04, 0.04),
            kink_free_bias(&mut r, 6),
        ];
        check(
            &format!("conv_transpose2d {act:?}"),
            &mut r,
            &inputs,
            &|g, t| {
                let a = g.conv_transpose2d(t[0], t[1], Some(t[2]), 2, 1, 1, act)?;
                let b = g.conv_transpose2d(t[0], t[1], Some(t[2]), 2, 1, 1, Act::None)?;
                g.add(a, b)
            },
        );
    }
}

#[test]
fn conv_transpose2d_gradients_without_bias_few_channels() {
    // Cout = 3 (col2im route), stride 3 with output_pad 2, a 4 x 4 kernel.
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "x", &[2, 5, 3, 3], -1.0, 1.0),
        Input::uniform(&mut r, "w", &[5, 3, 4, 4], -0.5, 0.5),
    ];
    check("conv_transpose2d no bias", &mut r, &inputs, &|g, t| {
        g.conv_transpose2d(t[0], t[1], None, 3, 1, 2, Act::None)
    });
}

#[test]
fn max_pool2d_gradients() {
    for k in [2, 3] {
        let mut r = rng();
        let inputs = [distinct(&mut r, "x", &[3, 5, 9, 9])];
        check(&format!("max_pool2d k={k}"), &mut r, &inputs, &|g, t| {
            let a = g.max_pool2d(t[0], k)?;
            let b = g.max_pool2d(t[0], k)?;
            g.add(a, b)
        });
    }
}

#[test]
fn global_pool_gradients() {
    let mut r = rng();
    let inputs = [distinct(&mut r, "x", &[3, 5, 7, 7])];
    // Both pools on one x: the second backward accumulates into the first's dx.
    check("global avg + max pool", &mut r, &inputs, &|g, t| {
        let a = g.global_avg_pool(t[0])?;
        let b = g.global_max_pool(t[0])?;
        g.concat_features(a, b)
    });
}

#[test]
fn leaky_relu_gradient() {
    let mut r = rng();
    let mut x = Input::uniform(&mut r, "x", &[3, 5, 7], 0.05, 1.0);
    for (i, v) in x.values.iter_mut().enumerate() {
        if i % 2 == 0 {
            *v = -*v; // both sides of the kink, never near it
        }
    }
    check("leaky_relu", &mut r, &[x], &|g, t| {
        Ok(g.leaky_relu(t[0], 0.2))
    });
}

#[test]
fn reshape_gradients_viewed_copied_and_accumulated() {
    let mut r = rng();
    let inputs = [Input::uniform(&mut r, "x", &[3, 5, 7, 7], -1.0, 1.0)];
    // Of a parameter: d(x) lives in the gradient arena, so the backward copies.
    check("reshape of a parameter", &mut r, &inputs, &|g, t| {
        g.reshape(t[0], &[3, 245])
    });
    // s is consumed before the reshape: d(s) becomes a view of d(r), then the pool's
    // backward accumulates into it.
    check("reshape, view gradient", &mut r, &inputs, &|g, t| {
        let s = g.scale(t[0], 2.0);
        let p = g.global_avg_pool(s)?;
        let v = g.reshape(s, &[3, 245])?;
        let p = g.scale(p, 50.0); // weigh the pool's share like the view's
        g.concat_features(v, p)
    });
    // s is consumed after the reshape: d(s) exists when the reshape's backward runs, which
    // then adds dy into it.
    check("reshape, accumulated gradient", &mut r, &inputs, &|g, t| {
        let s = g.scale(t[0], 2.0);
        let v = g.reshape(s, &[3, 245])?;
        let p = g.global_avg_pool(s)?;
        let p = g.scale(p, 50.0);
        g.concat_features(v, p)
    });
}

#[test]
fn concat_features_gradients() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "a", &[3, 5], -1.0, 1.0),
        Input::uniform(&mut r, "b", &[3, 4], -1.0, 1.0),
    ];
    check("concat_features", &mut r, &inputs, &|g, t| {
        let ab = g.concat_features(t[0], t[1])?;
        let aa = g.concat_features(t[0], t[0])?; // both halves into one gradient
        g.concat_features(ab, aa)
    });
}

#[test]
fn concat_map_vec_gradients() {
    let mut r = rng();
    let inputs = [
        Input::uniform(&mut r, "m", &[3, 5, 7, 7], -1.0, 1.0),
        Input::uniform(&mut r, "v", &[3, 4], -1.0, 1.0),
    ];
    check("concat_map_vec", &mut r, &inputs, &|g, t| {
        g.concat_map_vec(t[0], t[1])
    });
}

#[test]
fn shuffle_rows_gradients() {
    for kind in [PermKind::Uniform, PermKind::Derangement] {
        let mut r = rng();
        let inputs = [Input::uniform(&mut r, "x", &[5, 2, 3], -1.0, 1.0)];
        // Two shuffles of one x (different permutations) accumulate into dx.
        check(
            &format!("shuffle_rows {kind:?}"),
            &mut r,
            &inputs,
            &|g, t| {
                let a = g.shuffle_rows(t[0], kind, 7)?;
                let b = g.shuffle_rows(t[0], kind, 7)?;
                g.add(a, b)
            },
        );
    }
}
