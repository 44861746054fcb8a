//! Bad shapes return errors; reshape is a view that shares its input's buffer and keeps it
//! alive; the conv and batch-norm parameter specs follow PyTorch's shapes, bounds and names.

use crate::common::*;
use shadergrad::graph::ops::norm::BatchNorm;
use shadergrad::graph::{Graph, Program};
use shadergrad::kernels::conv::Act;
use shadergrad::kernels::shuffle::PermKind;
use shadergrad::nn::params::{
    batch_norm_specs, conv2d_specs, conv_transpose2d_specs, Init, ParamStore,
};
use shadergrad::Error;

#[test]
fn bad_shapes_are_errors() {
    let mut g = Graph::new();
    let x = g.input("x", &[3, 5, 9, 9]);
    let flat = g.input("flat", &[3, 4]);
    let w = g.param("w", &[4, 5, 3, 3]);
    let w6 = g.param("w6", &[4, 6, 3, 3]);
    let b5 = g.param("b5", &[5]);
    let wt = g.param("wt", &[5, 6, 3, 3]);
    let big = g.param("big", &[4, 5, 13, 13]);
    let shape = |r: shadergrad::Result<_>| matches!(r, Err(Error::Shape(_)));
    assert!(
        shape(g.conv2d(x, w6, None, 1, 0, Act::None)),
        "channel mismatch"
    );
    assert!(shape(g.conv2d(flat, w, None, 1, 0, Act::None)), "2-D input");
    assert!(
        shape(g.conv2d(x, w, Some(b5), 1, 0, Act::None)),
        "bias length"
    );
    assert!(
        shape(g.conv2d(x, big, None, 1, 1, Act::None)),
        "kernel larger than input"
    );
    assert!(shape(g.conv2d(x, w, None, 0, 0, Act::None)), "stride 0");
    let neg = g.conv2d(x, w, None, 1, 0, Act::LeakyRelu(-0.1));
    assert!(matches!(neg, Err(Error::Config(_))), "negative fused slope");
    assert!(
        shape(g.conv_transpose2d(x, wt, None, 2, 1, 2, Act::None)),
        "output_pad >= stride"
    );
    assert!(
        shape(g.conv_transpose2d(x, w, None, 2, 1, 1, Act::None)),
        "[Cout, Cin] weight"
    );
    assert!(shape(g.max_pool2d(x, 10)), "window larger than the map");
    assert!(shape(g.global_avg_pool(flat)), "2-D global pool");
    assert!(shape(g.reshape(x, &[3, 244])), "element count");
    assert!(shape(g.reshape(x, &[])), "no dimensions");
    let other = g.input("other", &[2, 4]);
    assert!(shape(g.concat_features(flat, other)), "row mismatch");
    assert!(shape(g.concat_map_vec(x, other)), "batch mismatch");
    let one = g.input("one", &[1, 4]);
    assert!(
        shape(g.shuffle_rows(one, PermKind::Derangement, 1)),
        "derangement of 1 row"
    );
    // Nothing was recorded by the failed calls.
    assert!(g.nodes.is_empty());
}

/// Reshape of an input shares the input's buffer; reshape of a transient keeps that
/// transient's buffer alive until the view's last reader, while other tensors come and go.
#[test]
fn reshape_is_a_view_with_its_roots_lifetime() {
    let gpu = gpu();
    let mut r = rng();
    let mut g = Graph::new();
    let x = g.input("x", &[3, 5, 7, 7]);
    let xv = g.reshape(x, &[15, 49]).unwrap();
    g.output("x viewed", xv);
    let s = g.scale(x, 2.0);
    let sv = g.reshape(s, &[3, 245]).unwrap();
    // A chain that would take s's buffer if its lifetime ended at its last direct use.
    let mut c = g.scale(x, 3.0);
    for _ in 0..3 {
        c = g.scale(c, 1.0);
    }
    let cv = g.reshape(c, &[3, 245]).unwrap();
    let y = g.concat_features(sv, cv).unwrap();
    g.output("y", y);
    let store = ParamStore::new(gpu, &[], &[], &mut r).unwrap();
    let p = Program::compile(gpu, g, &store, false).unwrap();
    assert_eq!(
        p.buf(xv).unwrap().raw(),
        p.buf(x).unwrap().raw(),
        "a view, not a copy"
    );
    let xs = uniform(&mut r, 3 * 245, -1.0, 1.0);
    gpu.write(p.buf(x).unwrap(), &xs).unwrap();
    p.step(gpu, 0, &[]).unwrap();
    assert_eq!(
        gpu.download::<f32>(p.buf_named("x viewed").unwrap())
            .unwrap(),
        xs
    );
    let got: Vec<f32> = gpu.download(p.buf_named("y").unwrap()).unwrap();
    let want: Vec<f32> = xs
        .chunks(245)
        .flat_map(|row| {
            row.iter()
                .map(|v| 2.0 * v)
                .chain(row.iter().map(|v| 3.0 * v))
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn conv_and_batch_norm_specs_follow_pytorch() {
    let [w, b] = conv2d_specs("enc.0", 5, 4, 3);
    assert_eq!(
        (w.name.as_str(), w.shape.as_slice()),
        ("enc.0.weight", &[4, 5, 3, 3][..])
    );
    assert_eq!(
        (b.name.as_str(), b.shape.as_slice()),
        ("enc.0.bias", &[4][..])
    );
    let bound = 1.0 / 45f32.sqrt(); // fan_in = Cin k k
    assert_eq!(
        (w.init, b.init),
        (Init::Uniform(bound), Init::Uniform(bound))
    );

    let [w, b] = conv_transpose2d_specs("dec.0", 5, 3, 4);
    assert_eq!(w.shape, [5, 3, 4, 4]);
    assert_eq!(b.shape, [3]);
    let bound = 1.0 / 48f32.sqrt(); // PyTorch's fan_in = weight.size(1) k k = Cout k k
    assert_eq!(
        (w.init, b.init),
        (Init::Uniform(bound), Init::Uniform(bound))
    );

    // The state names are those graph.batch_norm declares: a program compiles with them.
    let (params, state) = batch_norm_specs("bn1", 5);
    assert_eq!(params[0].init, Init::Const(1.0));
    assert_eq!(params[1].init, Init::Const(0.0));
    assert_eq!(state[1].init, Init::Const(1.0));
    let mut g = Graph::new();
    let x = g.input("x", &[3, 5, 2, 2]);
    let (gamma, beta) = (g.param("bn1.weight", &[5]), g.param("bn1.bias", &[5]));
    let y = g.batch_norm(x, "bn1", Some((gamma, beta)), BatchNorm::default());
    let y = g.output("y", y.unwrap());
    let gpu = gpu();
    let store = ParamStore::new(gpu, &params, &state, &mut rng()).unwrap();
    let p = Program::compile(gpu, g, &store, false).unwrap();
    p.step(gpu, 0, &[]).unwrap();
    assert!(p.buf(y).is_ok());
}
