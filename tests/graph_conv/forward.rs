//! Forward wiring of each conv-model graph op: a forward-only program on host inputs against
//! the kernel family's f64 twin (tolerances: 1e-4 relative for conv sums with a small atol
//! where terms cancel near zero; copies and maxima are exact up to f32 rounding of the input).

use crate::common::graph_check::BuildOp;
use crate::common::*;
use shadergrad::graph::{Graph, Program, T};
use shadergrad::kernels::conv::{self, Act, Conv2dSpec, ConvTranspose2dSpec};
use shadergrad::kernels::elementwise::{self as ew, Unary};
use shadergrad::kernels::layout::{self, Features, MapVec};
use shadergrad::kernels::pool::{self, GlobalPoolSpec, MaxPoolSpec};
use shadergrad::nn::params::ParamStore;

/// Run `op` on per-step inputs holding random values of `shapes`; (inputs, y).
pub fn run(shapes: &[&[usize]], op: BuildOp) -> (Vec<Vec<f32>>, Vec<f32>) {
    let gpu = gpu();
    let mut r = rng();
    let mut g = Graph::new();
    let names: Vec<String> = (0..shapes.len()).map(|i| format!("in{i}")).collect();
    let ts: Vec<T> = names
        .iter()
        .zip(shapes)
        .map(|(n, s)| g.input(n, s))
        .collect();
    let y = op(&mut g, &ts).expect("the op builds");
    g.output("y", y);
    let store = ParamStore::new(gpu, &[], &[], &mut r).unwrap();
    let p = Program::compile(gpu, g, &store, false).unwrap();
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| uniform(&mut r, s.iter().product(), -1.0, 1.0))
        .collect();
    for (n, v) in names.iter().zip(&values) {
        gpu.write(p.buf_named(n).unwrap(), v).unwrap();
    }
    p.step(gpu, 0, &[]).unwrap();
    let y = gpu.download(p.buf_named("y").unwrap()).unwrap();
    (values, y)
}

fn f64s(v: &[f32]) -> Vec<f64> {
    to_f64(v)
}

#[test]
fn conv2d_forward_matches_twin() {
    for (act, bias) in [
        (Act::None, true),
        (Act::Relu, true),
        (Act::LeakyRelu(0.2), false),
    ] {
        let (i, y) = run(&[&[3, 5, 9, 9], &[4, 5, 3, 3], &[4]], &|g, t| {
            g.conv2d(t[0], t[1], bias.then_some(t[2]), 2, 1, act)
        });
        let spec = Conv2dSpec::new(3, 5, 9, 9, 4, 3, 3).stride(2).pad(1);
        let b = f64s(&i[2]);
        let want = conv::cpu::conv2d(&spec, &f64s(&i[0]), &f64s(&i[1]), bias.then_some(&b), act);
        assert_close(&format!("conv2d {act:?}"), &y, &want, 1e-4, 1e-5);
    }
}

#[test]
fn conv_transpose2d_forward_matches_twin() {
    for (act, bias) in [
        (Act::None, true),
        (Act::Relu, false),
        (Act::LeakyRelu(0.2), true),
    ] {
        let (i, y) = run(&[&[3, 5, 4, 4], &[5, 6, 3, 3], &[6]], &|g, t| {
            g.conv_transpose2d(t[0], t[1], bias.then_some(t[2]), 2, 1, 1, act)
        });
        let spec = ConvTranspose2dSpec::new(3, 5, 4, 4, 6, 3, 3)
            .stride(2)
            .pad(1)
            .output_pad(1);
        let b = f64s(&i[2]);
        let (x, w) = (f64s(&i[0]), f64s(&i[1]));
        let want = conv::cpu::conv_transpose2d(&spec, &x, &w, bias.then_some(&b), act);
        assert_eq!(want.len(), 3 * 6 * 8 * 8);
        assert_close(&format!("conv_transpose2d {act:?}"), &y, &want, 1e-4, 1e-5);
    }
}

#[test]
fn max_pool2d_forward_matches_twin() {
    for k in [2, 3] {
        let (i, y) = run(&[&[3, 5, 9, 9]], &|g, t| g.max_pool2d(t[0], k));
        let spec = MaxPoolSpec::new(3, 5, 9, 9, k, k);
        let (want, _) = pool::cpu::max_pool(&spec, &f64s(&i[0]));
        assert_close(&format!("max_pool2d k={k}"), &y, &want, 0.0, 0.0);
    }
}

#[test]
fn global_pools_forward_match_twin() {
    let spec = GlobalPoolSpec::new(3, 5, 7, 7);
    let (i, y) = run(&[&[3, 5, 7, 7]], &|g, t| g.global_avg_pool(t[0]));
    let want = pool::cpu::global_avg_pool(&spec, &f64s(&i[0]));
    assert_close("global_avg_pool", &y, &want, 1e-5, 1e-6);
    let (i, y) = run(&[&[3, 5, 7, 7]], &|g, t| g.global_max_pool(t[0]));
    let (want, _) = pool::cpu::global_max_pool(&spec, &f64s(&i[0]));
    assert_close("global_max_pool", &y, &want, 0.0, 0.0);
}

#[test]
fn leaky_relu_forward_matches_twin() {
    let (i, y) = run(&[&[3, 5, 7]], &|g, t| Ok(g.leaky_relu(t[0], 0.2)));
    let want = ew::cpu::unary(Unary::LeakyRelu(0.2), &f64s(&i[0]));
    assert_close("leaky_relu", &y, &want, 1e-6, 0.0);
}

#[test]
fn reshape_forward_is_the_same_elements() {
    let (i, y) = run(&[&[3, 5, 7, 7]], &|g, t| g.reshape(t[0], &[15, 49]));
    assert_eq!(y, i[0]);
}

#[test]
fn concat_forwards_match_twin() {
    let (i, y) = run(&[&[3, 5], &[3, 4]], &|g, t| g.concat_features(t[0], t[1]));
    let s = Features {
        rows: 3,
        fa: 5,
        fb: 4,
    };
    let want = layout::cpu::concat_features(s, &f64s(&i[0]), &f64s(&i[1]));
    assert_close("concat_features", &y, &want, 0.0, 0.0);

    let (i, y) = run(&[&[3, 5, 7, 7], &[3, 4]], &|g, t| {
        g.concat_map_vec(t[0], t[1])
    });
    let s = MapVec {
        n: 3,
        c: 5,
        d: 4,
        hw: 49,
    };
    let want = layout::cpu::concat_map_vec(s, &f64s(&i[0]), &f64s(&i[1]));
    assert_close("concat_map_vec", &y, &want, 0.0, 0.0);
}
