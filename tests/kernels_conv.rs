//! Conv family vs its f64 twins: conv2d and conv_transpose2d forward (bias + activation
//! epilogues) and every backward, both variants, at awkward sizes (odd H/W, Cin 1 and 3, Cout
//! not a multiple of 4, 1x1/3x3/4x4 kernels, stride 1 and 2, padding 0-2, N 1 and 5), at the
//! MNIST models' shapes, with a grid folded past 65,535 workgroups; accumulate; bad input;
//! and the twins' backward against central differences of the twins' forward.
mod common;
use common::*;
use rand::rngs::StdRng;
use shadergrad::kernels::conv::{self, cpu, Act, Conv2dSpec, ConvTranspose2dSpec, Variant};
use shadergrad::{Buf, DType, Dispatch, Error, Gpu};

const VARIANTS: [Variant; 2] = [Variant::RegisterBlocked, Variant::Tiled];

/// (N, Cin, H, W, Cout, KH, KW, stride, pad).
type Shape = [usize; 9];

/// Awkward conv2d shapes. Comments say what each one exercises.
const SHAPES: [Shape; 10] = [
    [1, 1, 1, 1, 1, 1, 1, 1, 0],   // size 1
    [1, 1, 7, 5, 3, 3, 3, 1, 1],   // Cin 1, odd sizes, K = 9 (general A path)
    [5, 3, 9, 11, 5, 3, 3, 2, 1],  // N 5, Cin 3, stride 2, 2 strips of rows
    [2, 3, 8, 7, 7, 4, 4, 2, 1],   // 4x4 stride 2 (the models' kernel), odd W
    [3, 4, 6, 6, 8, 1, 1, 1, 0],   // 1x1, K = 4: vec4 A loads and vec4 stores
    [2, 2, 5, 7, 6, 1, 1, 2, 0],   // 1x1 stride 2: input-gradient phases with no taps
    [2, 8, 8, 8, 12, 4, 4, 2, 1],  // K = 128 exact, 4 strips
    [1, 5, 4, 4, 33, 3, 3, 1, 0],  // Cout 33: a second row block
    [2, 2, 5, 6, 3, 3, 3, 2, 2],   // padding 2 with a 3x3 kernel
    [4, 2, 20, 18, 3, 3, 3, 1, 1], // 1440 positions: weight/bias gradients in chunks
];

fn spec(s: Shape) -> Conv2dSpec {
    let [n, cin, h, w, cout, kh, kw, stride, pad] = s;
    Conv2dSpec::new(n, cin, h, w, cout, kh, kw)
        .stride(stride)
        .pad(pad)
}

/// (N, Cin, H, W, Cout, KH, KW, stride, pad, output_pad).
type TShape = [usize; 10];

/// conv_transpose2d shapes.
const T_SHAPES: [TShape; 6] = [
    [1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
    [2, 3, 4, 5, 5, 3, 3, 2, 1, 1],
    [3, 4, 7, 7, 3, 4, 4, 2, 1, 0],
    [2, 2, 3, 5, 7, 3, 3, 1, 1, 0],
    [1, 5, 3, 3, 2, 1, 1, 2, 0, 1],
    [5, 3, 5, 4, 6, 4, 4, 2, 2, 1],
];

fn t_specs() -> Vec<ConvTranspose2dSpec> {
    T_SHAPES
        .iter()
        .map(|&[n, cin, h, w, cout, kh, kw, s, p, op]| {
            ConvTranspose2dSpec::new(n, cin, h, w, cout, kh, kw)
                .stride(s)
                .pad(p)
                .output_pad(op)
        })
        .collect()
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// Absolute allowance for outputs whose terms cancel: the f32 rounding error of a sum scales
/// with sum |terms| (the twin run on |inputs|), not with the possibly near-zero result, so a
/// pure relative test would fail there. 1e-6 of the largest such sum is ~10 f32 ulps of it.
fn cancel_atol(magnitudes: &[f64]) -> f64 {
    1e-6 * magnitudes.iter().fold(1.0f64, |m, &x| m.max(x))
}

fn up(gpu: &Gpu, v: &[f32]) -> Buf {
    gpu.upload(v).unwrap()
}

fn run(gpu: &Gpu, ds: &[Dispatch]) {
    gpu.run(&ds.iter().collect::<Vec<_>>()).unwrap();
}

/// The old contents of a gradient: random when accumulating, NaN otherwise (must be ignored).
fn old(rng: &mut StdRng, n: usize, accumulate: bool) -> Vec<f32> {
    if accumulate {
        uniform(rng, n, -1.0, 1.0)
    } else {
        vec![f32::NAN; n]
    }
}

fn plus_old(mut want: Vec<f64>, old: &[f32], accumulate: bool) -> Vec<f64> {
    if accumulate {
        want.iter_mut().zip(old).for_each(|(w, &o)| *w += o as f64);
    }
    want
}

/// Scratch of `len` floats filled with NaN (every pass must write what it later reads).
fn scratch(gpu: &Gpu, len: usize) -> Buf {
    up(gpu, &vec![f32::NAN; len.max(1)])
}

fn check_forward(gpu: &Gpu, rng: &mut StdRng, s: &Conv2dSpec, bias: bool, act: Act) {
    let x = uniform(rng, s.x_len(), -1.0, 1.0);
    let w = uniform(rng, s.w_len(), -1.0, 1.0);
    let b = uniform(rng, s.cout, -1.0, 1.0);
    let (xb, wb, bb, yb) = (
        up(gpu, &x),
        up(gpu, &w),
        up(gpu, &b),
        scratch(gpu, s.y_len()),
    );
    let d = conv::conv2d(gpu, s, &xb, &wb, bias.then_some(&bb), act, &yb).unwrap();
    run(gpu, &[d]);
    let got: Vec<f32> = gpu.download(&yb).unwrap();
    let (x, w, b) = (to_f64(&x), to_f64(&w), to_f64(&b));
    let want = cpu::conv2d(s, &x, &w, bias.then_some(&b[..]), act);
    let mag = cpu::conv2d(
        s,
        &abs(&x),
        &abs(&w),
        bias.then_some(&abs(&b)[..]),
        Act::None,
    );
    let what = format!("conv2d {s:?} bias {bias} {act:?}");
    assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
}

fn check_input_grad(gpu: &Gpu, rng: &mut StdRng, s: &Conv2dSpec, accumulate: bool) {
    let dy = uniform(rng, s.y_len(), -1.0, 1.0);
    let w = uniform(rng, s.w_len(), -1.0, 1.0);
    let dx_old = old(rng, s.x_len(), accumulate);
    let (dyb, wb, dxb) = (up(gpu, &dy), up(gpu, &w), up(gpu, &dx_old));
    let sc = scratch(gpu, conv::conv2d_backward_input_scratch_len(s));
    let ds = conv::conv2d_backward_input(gpu, s, &dyb, &wb, &dxb, &sc, accumulate).unwrap();
    run(gpu, &ds);
    let got: Vec<f32> = gpu.download(&dxb).unwrap();
    let (dy, w) = (to_f64(&dy), to_f64(&w));
    let want = plus_old(cpu::conv2d_backward_input(s, &dy, &w), &dx_old, accumulate);
    let mag = cpu::conv2d_backward_input(s, &abs(&dy), &abs(&w));
    let what = format!("conv2d dx {s:?} accumulate {accumulate}");
    assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
}

fn check_weight_grad(gpu: &Gpu, rng: &mut StdRng, s: &Conv2dSpec, accumulate: bool) {
    let x = uniform(rng, s.x_len(), -1.0, 1.0);
    let dy = uniform(rng, s.y_len(), -1.0, 1.0);
    let dw_old = old(rng, s.w_len(), accumulate);
    let (xb, dyb, dwb) = (up(gpu, &x), up(gpu, &dy), up(gpu, &dw_old));
    let sc = scratch(gpu, conv::conv2d_backward_weight_scratch_len(s));
    let ds = conv::conv2d_backward_weight(gpu, s, &xb, &dyb, &dwb, &sc, accumulate).unwrap();
    run(gpu, &ds);
    let got: Vec<f32> = gpu.download(&dwb).unwrap();
    let (x, dy) = (to_f64(&x), to_f64(&dy));
    let want = plus_old(cpu::conv2d_backward_weight(s, &x, &dy), &dw_old, accumulate);
    let mag = cpu::conv2d_backward_weight(s, &abs(&x), &abs(&dy));
    let what = format!("conv2d dw {s:?} accumulate {accumulate}");
    assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
}

/// Sums of up to N OH OW terms: the same cancellation allowance, from sum |dy|.
fn check_bias_grad(gpu: &Gpu, rng: &mut StdRng, s: &Conv2dSpec, accumulate: bool) {
    let dy = uniform(rng, s.y_len(), -1.0, 1.0);
    let db_old = old(rng, s.cout, accumulate);
    let (dyb, dbb) = (up(gpu, &dy), up(gpu, &db_old));
    let sc = scratch(gpu, conv::conv2d_backward_bias_scratch_len(s));
    let ds = conv::conv2d_backward_bias(gpu, s, &dyb, &dbb, &sc, accumulate).unwrap();
    run(gpu, &ds);
    let got: Vec<f32> = gpu.download(&dbb).unwrap();
    let dy = to_f64(&dy);
    let want = plus_old(cpu::conv2d_backward_bias(s, &dy), &db_old, accumulate);
    let mag = cpu::conv2d_backward_bias(s, &abs(&dy));
    let what = format!("conv2d db {s:?} accumulate {accumulate}");
    assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
}

#[test]
fn conv2d_forward_matches_twin_at_awkward_sizes() {
    let gpu = gpu();
    let mut rng = rng();
    let acts = [Act::None, Act::Relu, Act::LeakyRelu(0.2)];
    for variant in VARIANTS {
        for (i, &shape) in SHAPES.iter().enumerate() {
            let s = spec(shape).variant(variant);
            check_forward(gpu, &mut rng, &s, i % 4 != 0, acts[i % 3]);
        }
    }
}

#[test]
fn conv2d_backward_matches_twin_at_awkward_sizes() {
    let gpu = gpu();
    let mut rng = rng();
    for variant in VARIANTS {
        for (i, &shape) in SHAPES.iter().enumerate() {
            let s = spec(shape).variant(variant);
            check_input_grad(gpu, &mut rng, &s, i % 2 == 1);
            check_weight_grad(gpu, &mut rng, &s, i % 2 == 0);
        }
    }
    // The bias gradient has one kernel for both variants.
    for (i, &shape) in SHAPES.iter().enumerate() {
        check_bias_grad(gpu, &mut rng, &spec(shape), i % 2 == 0);
    }
}

fn check_t_forward(gpu: &Gpu, rng: &mut StdRng, s: &ConvTranspose2dSpec, bias: bool, act: Act) {
    let x = uniform(rng, s.x_len(), -1.0, 1.0);
    let w = uniform(rng, s.w_len(), -1.0, 1.0);
    let b = uniform(rng, s.cout, -1.0, 1.0);
    let (xb, wb, bb, yb) = (
        up(gpu, &x),
        up(gpu, &w),
        up(gpu, &b),
        scratch(gpu, s.y_len()),
    );
    let sc = scratch(gpu, conv::conv_transpose2d_scratch_len(s));
    let ds = conv::conv_transpose2d(gpu, s, &xb, &wb, bias.then_some(&bb), act, &yb, &sc);
    run(gpu, &ds.unwrap());
    let got: Vec<f32> = gpu.download(&yb).unwrap();
    let (x, w, b) = (to_f64(&x), to_f64(&w), to_f64(&b));
    let want = cpu::conv_transpose2d(s, &x, &w, bias.then_some(&b[..]), act);
    let mag = cpu::conv_transpose2d(
        s,
        &abs(&x),
        &abs(&w),
        bias.then_some(&abs(&b)[..]),
        Act::None,
    );
    let what = format!("conv_transpose2d {s:?} bias {bias} {act:?}");
    assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
}

fn check_t_backward(gpu: &Gpu, rng: &mut StdRng, s: &ConvTranspose2dSpec, accumulate: bool) {
    let x = uniform(rng, s.x_len(), -1.0, 1.0);
    let w = uniform(rng, s.w_len(), -1.0, 1.0);
    let dy = uniform(rng, s.y_len(), -1.0, 1.0);
    let dx_old = old(rng, s.x_len(), accumulate);
    let dw_old = old(rng, s.w_len(), !accumulate);
    let db_old = old(rng, s.cout, accumulate);
    let (xb, wb, dyb) = (up(gpu, &x), up(gpu, &w), up(gpu, &dy));
    let (dxb, dwb, dbb) = (up(gpu, &dx_old), up(gpu, &dw_old), up(gpu, &db_old));
    let sw = scratch(gpu, conv::conv_transpose2d_backward_weight_scratch_len(s));
    let sb = scratch(gpu, conv::conv_transpose2d_backward_bias_scratch_len(s));
    let mut ds =
        vec![conv::conv_transpose2d_backward_input(gpu, s, &dyb, &wb, &dxb, accumulate).unwrap()];
    ds.extend(
        conv::conv_transpose2d_backward_weight(gpu, s, &xb, &dyb, &dwb, &sw, !accumulate).unwrap(),
    );
    ds.extend(conv::conv_transpose2d_backward_bias(gpu, s, &dyb, &dbb, &sb, accumulate).unwrap());
    run(gpu, &ds);
    let (x, w, dy) = (to_f64(&x), to_f64(&w), to_f64(&dy));
    let checks = [
        (
            "dx",
            &dxb,
            plus_old(
                cpu::conv_transpose2d_backward_input(s, &dy, &w),
                &dx_old,
                accumulate,
            ),
            cpu::conv_transpose2d_backward_input(s, &abs(&dy), &abs(&w)),
        ),
        (
            "dw",
            &dwb,
            plus_old(
                cpu::conv_transpose2d_backward_weight(s, &x, &dy),
                &dw_old,
                !accumulate,
            ),
            cpu::conv_transpose2d_backward_weight(s, &abs(&x), &abs(&dy)),
        ),
        (
            "db",
            &dbb,
            plus_old(
                cpu::conv_transpose2d_backward_bias(s, &dy),
                &db_old,
                accumulate,
            ),
            cpu::conv_transpose2d_backward_bias(s, &abs(&dy)),
        ),
    ];
    for (name, buf, want, mag) in checks {
        let got: Vec<f32> = gpu.download(buf).unwrap();
        let what = format!("conv_transpose2d {name} {s:?} accumulate {accumulate}");
        assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
    }
}

#[test]
fn conv_transpose2d_matches_twin_at_awkward_sizes() {
    let gpu = gpu();
    let mut rng = rng();
    let acts = [Act::None, Act::Relu, Act::LeakyRelu(0.1)];
    for variant in VARIANTS {
        for (i, s) in t_specs().into_iter().enumerate() {
            let s = s.variant(variant);
            check_t_forward(gpu, &mut rng, &s, i % 3 != 0, acts[i % 3]);
            check_t_backward(gpu, &mut rng, &s, i % 2 == 0);
        }
    }
}

#[test]
fn twins_backward_match_central_differences() {
    let mut rng = rng();
    let f64s = |rng: &mut StdRng, n| to_f64(&uniform(rng, n, -1.0, 1.0));
    // The forwards are linear in each argument, so central differences are exact up to
    // rounding; a wide step keeps that rounding small.
    let (h, tol) = (1e-2, 1e-8);
    let s = Conv2dSpec::new(2, 2, 5, 4, 3, 3, 3).stride(2).pad(1);
    let (x, w, b, dy) = (
        f64s(&mut rng, s.x_len()),
        f64s(&mut rng, s.w_len()),
        f64s(&mut rng, s.cout),
        f64s(&mut rng, s.y_len()),
    );
    let fwd = |x: &[f64], w: &[f64], b: &[f64]| cpu::conv2d(&s, x, w, Some(b), Act::None);
    let dx = cpu::conv2d_backward_input(&s, &dy, &w);
    gradcheck("conv2d dx", |v| fwd(v, &w, &b), &x, &dy, &dx, h, tol);
    let dw = cpu::conv2d_backward_weight(&s, &x, &dy);
    gradcheck("conv2d dw", |v| fwd(&x, v, &b), &w, &dy, &dw, h, tol);
    let db = cpu::conv2d_backward_bias(&s, &dy);
    gradcheck("conv2d db", |v| fwd(&x, &w, v), &b, &dy, &db, h, tol);

    let t = ConvTranspose2dSpec::new(2, 2, 3, 4, 3, 3, 3)
        .stride(2)
        .pad(1)
        .output_pad(1);
    let (x, w, b, dy) = (
        f64s(&mut rng, t.x_len()),
        f64s(&mut rng, t.w_len()),
        f64s(&mut rng, t.cout),
        f64s(&mut rng, t.y_len()),
    );
    let fwd = |x: &[f64], w: &[f64], b: &[f64]| cpu::conv_transpose2d(&t, x, w, Some(b), Act::None);
    let dx = cpu::conv_transpose2d_backward_input(&t, &dy, &w);
    gradcheck(
        "conv_transpose2d dx",
        |v| fwd(v, &w, &b),
        &x,
        &dy,
        &dx,
        h,
        tol,
    );
    let dw = cpu::conv_transpose2d_backward_weight(&t, &x, &dy);
    gradcheck(
        "conv_transpose2d dw",
        |v| fwd(&x, v, &b),
        &w,
        &dy,
        &dw,
        h,
        tol,
    );
    let db = cpu::conv_transpose2d_backward_bias(&t, &dy);
    gradcheck(
        "conv_transpose2d db",
        |v| fwd(&x, &w, v),
        &b,
        &dy,
        &db,
        h,
        tol,
    );
}

#[test]
fn default_variant_follows_the_adapter() {
    let gpu = gpu();
    let want = if gpu.is_cpu() {
        Variant::RegisterBlocked
    } else {
        Variant::Tiled
    };
    assert_eq!(Conv2dSpec::new(1, 1, 4, 4, 1, 3, 3).variant_on(gpu), want);
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let s = Conv2dSpec::new(2, 3, 6, 6, 4, 3, 3).pad(1);
    let buf = |n: usize| gpu.zeros(n, DType::F32).unwrap();
    let (x, w, b, y) = (buf(s.x_len()), buf(s.w_len()), buf(s.cout), buf(s.y_len()));
    let shape = |r: Result<Dispatch, Error>| matches!(r, Err(Error::Shape(_)));
    let shapes = |r: Result<Vec<Dispatch>, Error>| matches!(r, Err(Error::Shape(_)));
    // Mismatched lengths: x, weight, bias, y.
    assert!(shape(conv::conv2d(gpu, &s, &y, &w, None, Act::None, &y)));
    assert!(shape(conv::conv2d(gpu, &s, &x, &x, None, Act::None, &y)));
    assert!(shape(conv::conv2d(
        gpu,
        &s,
        &x,
        &w,
        Some(&w),
        Act::None,
        &y
    )));
    assert!(shape(conv::conv2d(
        gpu,
        &s,
        &x,
        &w,
        Some(&b),
        Act::None,
        &x
    )));
    // The output aliasing an input.
    let same = Conv2dSpec::new(1, 1, 4, 4, 1, 1, 1);
    let z = buf(16);
    let w1 = buf(1);
    assert!(shape(conv::conv2d(
        gpu,
        &same,
        &z,
        &w1,
        None,
        Act::None,
        &z
    )));
    // Zero sizes, and kernels larger than the padded input (output smaller than 1x1).
    for bad in [
        Conv2dSpec::new(0, 3, 6, 6, 4, 3, 3),
        Conv2dSpec::new(2, 0, 6, 6, 4, 3, 3),
        Conv2dSpec::new(2, 3, 6, 6, 0, 3, 3),
        Conv2dSpec::new(2, 3, 6, 6, 4, 0, 3),
        Conv2dSpec::new(2, 3, 6, 6, 4, 3, 3).stride(0),
        Conv2dSpec::new(2, 3, 2, 6, 4, 3, 3),
        Conv2dSpec::new(2, 3, 6, 6, 4, 9, 3).pad(2),
    ] {
        assert!(
            shape(conv::conv2d(gpu, &bad, &x, &w, None, Act::None, &y)),
            "{bad:?}"
        );
    }
    // Backward: wrong dy, too small a scratch.
    let sc = buf(1);
    assert!(shapes(conv::conv2d_backward_input(
        gpu, &s, &x, &w, &x, &sc, false
    )));
    assert!(shapes(conv::conv2d_backward_input(
        gpu, &s, &y, &w, &x, &sc, false
    )));
    assert!(shapes(conv::conv2d_backward_weight(
        gpu, &s, &x, &x, &w, &sc, false
    )));
    assert!(shapes(conv::conv2d_backward_bias(
        gpu, &s, &y, &w, &sc, false
    )));
    let big = Conv2dSpec::new(4, 1, 20, 20, 1, 3, 3);
    assert!(conv::conv2d_backward_weight_scratch_len(&big) > 0);
    let (bx, by, bw) = (buf(big.x_len()), buf(big.y_len()), buf(big.w_len()));
    assert!(shapes(conv::conv2d_backward_weight(
        gpu, &big, &bx, &by, &bw, &sc, false
    )));
    // conv_transpose2d: output_pad not below the stride; padding that leaves no output.
    let t = ConvTranspose2dSpec::new(1, 2, 3, 3, 2, 3, 3).stride(2);
    for bad in [
        t.output_pad(2),
        t.pad(4),
        ConvTranspose2dSpec::new(1, 2, 3, 3, 0, 3, 3),
    ] {
        let r = conv::conv_transpose2d(gpu, &bad, &x, &w, None, Act::None, &y, &sc);
        assert!(shapes(r), "{bad:?}");
    }
}

#[test]
fn grid_folds_past_65535_workgroups() {
    let gpu = gpu();
    let mut rng = rng();
    // Register-blocked tiles are 16 output positions each, 8 per workgroup, so one output
    // channel over 2 x 2048 x 2049 positions needs 65,568 workgroups: the grid folds into y.
    // A 1x1 kernel keeps the inputs at that size too (8.4M floats).
    let s = Conv2dSpec::new(2, 1, 2048, 2049, 1, 1, 1).variant(Variant::RegisterBlocked);
    let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
    let (w, b) = ([0.75f32], [-0.25f32]);
    let (xb, wb, bb, yb) = (
        up(gpu, &x),
        up(gpu, &w),
        up(gpu, &b),
        scratch(gpu, s.y_len()),
    );
    let d = conv::conv2d(gpu, &s, &xb, &wb, Some(&bb), Act::Relu, &yb).unwrap();
    let [gx, gy, gz] = d.groups;
    assert!(gy > 1 || gz > 1, "grid {:?}", d.groups);
    assert!(gx as u64 * gy as u64 * gz as u64 > 65_535);
    run(gpu, &[d]);
    let got: Vec<f32> = gpu.download(&yb).unwrap();
    let want: Vec<f64> = x
        .iter()
        .map(|&v| (0.75 * v as f64 - 0.25).max(0.0))
        .collect();
    assert_close("conv2d 1x1 over 8.4M positions", &got, &want, 1e-5, 1e-6);
}
