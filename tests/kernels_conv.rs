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

/// Awkward conv2d shapes. Comments say what each one exercises. Input gradients of at most 4
/// input channels take the taps + col2im path, of more one GEMM per stride phase.
const SHAPES: [Shape; 11] = [
    [1, 1, 1, 1, 1, 1, 1, 1, 0],   // size 1
    [1, 1, 7, 5, 3, 3, 3, 1, 1],   // Cin 1, odd sizes, K = 9 (general A path)
    [5, 3, 9, 11, 5, 3, 3, 2, 1],  // N 5, Cin 3, stride 2, 2 strips of rows
    [2, 3, 8, 7, 7, 4, 4, 2, 1],   // 4x4 stride 2 (the models' kernel), odd W
    [3, 4, 6, 6, 8, 1, 1, 1, 0],   // 1x1, K = 4: vec4 A loads and vec4 stores
    [2, 6, 5, 7, 6, 1, 1, 2, 0],   // 1x1 stride 2: input-gradient phases with no taps
    [2, 8, 8, 8, 12, 4, 4, 2, 1],  // K = 128 exact, 4 strips
    [1, 5, 4, 4, 33, 3, 3, 1, 0],  // Cout 33: a 64-row tile, half idle
    [2, 5, 5, 6, 3, 3, 3, 2, 2],   // padding 2 with a 3x3 kernel
    [4, 2, 20, 18, 3, 3, 3, 1, 1], // 1440 positions: weight/bias gradients in chunks
    [1, 66, 3, 4, 65, 3, 3, 1, 1], // 65 and 66 rows: 64-row tiles, the second one mostly idle
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
fn plans_follow_the_adapter_and_shape() {
    let gpu = gpu();
    let want = if gpu.is_cpu() {
        Variant::RegisterBlocked
    } else {
        Variant::Tiled
    };
    assert_eq!(Conv2dSpec::new(1, 1, 4, 4, 1, 3, 3).variant_on(gpu), want);
    // Weight gradient scratch: dy padded to 4-float planes (5x6 -> 6x6 output planes) for a
    // single-chunk reduction; chunk partials when the reduction is split; nothing when the
    // planes are aligned and one chunk suffices.
    assert_eq!(
        conv::conv2d_backward_weight_scratch_len(&spec(SHAPES[2])),
        5 * 5 * 6 * 6
    );
    let chunked = spec(SHAPES[9]);
    assert_eq!(
        conv::conv2d_backward_weight_scratch_len(&chunked),
        6 * chunked.w_len()
    );
    let enc2 = Conv2dSpec::new(128, 64, 14, 14, 128, 4, 4).stride(2).pad(1);
    assert_eq!(
        conv::conv2d_backward_weight_scratch_len(&enc2),
        128 * 128 * 8 * 7
    );
    let aligned = Conv2dSpec::new(128, 64, 16, 16, 128, 4, 4).stride(2).pad(1);
    assert_eq!(conv::conv2d_backward_weight_scratch_len(&aligned), 0);
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

/// Images of a batch the MNIST-shape checks compare (the first, one inside, the last): the
/// GPU runs the whole batch of 128, the f64 twin only these, since images are independent in
/// a forward pass and an input gradient.
const IMAGES: [usize; 3] = [0, 77, 127];

fn image<T: Copy>(v: &[T], n: usize, i: usize) -> &[T] {
    let per = v.len() / n;
    &v[i * per..(i + 1) * per]
}

/// GPU output `got` [n, ...] vs the twin `f` run on the chosen images alone (f gets the
/// image index and returns (want, sum |terms|) for it).
fn close_on_images(what: &str, n: usize, got: &[f32], f: impl Fn(usize) -> (Vec<f64>, Vec<f64>)) {
    for i in IMAGES {
        let (want, mag) = f(i);
        let what = format!("{what}, image {i}");
        assert_close(&what, image(got, n, i), &want, 1e-4, cancel_atol(&mag));
    }
}

/// Upper bound of sum |dy * x| over the batch for every weight-gradient entry of output
/// channel co: sum |dy[:, co]| * max |x|, per channel (cheap; the twin on |inputs| would
/// double the cost of the full-batch twin).
fn weight_grad_bound(n: usize, cout: usize, taps: usize, dy: &[f64], x: &[f64]) -> Vec<f64> {
    let xmax = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let plane = dy.len() / (n * cout);
    let mut mag = vec![0.0; cout];
    for (i, v) in dy.iter().enumerate() {
        mag[(i / plane) % cout] += v.abs() * xmax;
    }
    mag.iter()
        .flat_map(|&m| std::iter::repeat_n(m, taps))
        .collect()
}

#[test]
fn mnist_model_shapes_match_twin() {
    let gpu = gpu();
    let mut rng = rng();
    // Encoder: [128, 1, 28, 28] -> 64 x 14 x 14 -> 128 x 7 x 7, 4x4 kernels, stride 2, pad 1.
    let enc = [
        Conv2dSpec::new(128, 1, 28, 28, 64, 4, 4).stride(2).pad(1),
        Conv2dSpec::new(128, 64, 14, 14, 128, 4, 4).stride(2).pad(1),
    ];
    for s in &enc {
        let one = Conv2dSpec { n: 1, ..*s };
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let w = uniform(&mut rng, s.w_len(), -0.5, 0.5);
        let b = uniform(&mut rng, s.cout, -0.5, 0.5);
        let dy = uniform(&mut rng, s.y_len(), -1.0, 1.0);
        let dx_old = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let (xb, wb, bb, dyb) = (up(gpu, &x), up(gpu, &w), up(gpu, &b), up(gpu, &dy));
        let (yb, dxb) = (scratch(gpu, s.y_len()), up(gpu, &dx_old));
        let (dwb, dbb) = (scratch(gpu, s.w_len()), scratch(gpu, s.cout));
        let si = scratch(gpu, conv::conv2d_backward_input_scratch_len(s));
        let sw = scratch(gpu, conv::conv2d_backward_weight_scratch_len(s));
        let sb = scratch(gpu, conv::conv2d_backward_bias_scratch_len(s));
        let act = Act::LeakyRelu(0.2);
        let mut ds = vec![conv::conv2d(gpu, s, &xb, &wb, Some(&bb), act, &yb).unwrap()];
        ds.extend(conv::conv2d_backward_input(gpu, s, &dyb, &wb, &dxb, &si, true).unwrap());
        ds.extend(conv::conv2d_backward_weight(gpu, s, &xb, &dyb, &dwb, &sw, false).unwrap());
        ds.extend(conv::conv2d_backward_bias(gpu, s, &dyb, &dbb, &sb, false).unwrap());
        run(gpu, &ds);
        let (x, w, b, dy) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&dy));
        let (aw, ab) = (abs(&w), abs(&b));
        let got: Vec<f32> = gpu.download(&yb).unwrap();
        close_on_images(&format!("conv2d {s:?}"), s.n, &got, |i| {
            let xi = image(&x, s.n, i);
            let want = cpu::conv2d(&one, xi, &w, Some(&b), act);
            (want, cpu::conv2d(&one, &abs(xi), &aw, Some(&ab), Act::None))
        });
        let got: Vec<f32> = gpu.download(&dxb).unwrap();
        close_on_images(&format!("conv2d dx {s:?}"), s.n, &got, |i| {
            let dyi = image(&dy, s.n, i);
            let want = cpu::conv2d_backward_input(&one, dyi, &w);
            let want = plus_old(want, image(&dx_old, s.n, i), true);
            (want, cpu::conv2d_backward_input(&one, &abs(dyi), &aw))
        });
        let got: Vec<f32> = gpu.download(&dwb).unwrap();
        let want = cpu::conv2d_backward_weight(s, &x, &dy);
        let mag = weight_grad_bound(s.n, s.cout, s.cin * s.kh * s.kw, &dy, &x);
        assert_close(
            &format!("conv2d dw {s:?}"),
            &got,
            &want,
            1e-4,
            cancel_atol(&mag),
        );
        let got: Vec<f32> = gpu.download(&dbb).unwrap();
        let want = cpu::conv2d_backward_bias(s, &dy);
        let mag = cpu::conv2d_backward_bias(s, &abs(&dy));
        assert_close(
            &format!("conv2d db {s:?}"),
            &got,
            &want,
            1e-4,
            cancel_atol(&mag),
        );
    }
    // Decoder: the mirror, [128, 128, 7, 7] -> 64 x 14 x 14 -> 1 x 28 x 28.
    let dec = [
        ConvTranspose2dSpec::new(128, 128, 7, 7, 64, 4, 4)
            .stride(2)
            .pad(1),
        ConvTranspose2dSpec::new(128, 64, 14, 14, 1, 4, 4)
            .stride(2)
            .pad(1),
    ];
    for t in &dec {
        let one = ConvTranspose2dSpec { n: 1, ..*t };
        let x = uniform(&mut rng, t.x_len(), -1.0, 1.0);
        let w = uniform(&mut rng, t.w_len(), -0.5, 0.5);
        let b = uniform(&mut rng, t.cout, -0.5, 0.5);
        let dy = uniform(&mut rng, t.y_len(), -1.0, 1.0);
        let dw_old = uniform(&mut rng, t.w_len(), -1.0, 1.0);
        let (xb, wb, bb, dyb) = (up(gpu, &x), up(gpu, &w), up(gpu, &b), up(gpu, &dy));
        let (yb, dxb) = (scratch(gpu, t.y_len()), scratch(gpu, t.x_len()));
        let (dwb, dbb) = (up(gpu, &dw_old), scratch(gpu, t.cout));
        let sf = scratch(gpu, conv::conv_transpose2d_scratch_len(t));
        let sw = scratch(gpu, conv::conv_transpose2d_backward_weight_scratch_len(t));
        let sb = scratch(gpu, conv::conv_transpose2d_backward_bias_scratch_len(t));
        let mut ds =
            conv::conv_transpose2d(gpu, t, &xb, &wb, Some(&bb), Act::Relu, &yb, &sf).unwrap();
        ds.push(conv::conv_transpose2d_backward_input(gpu, t, &dyb, &wb, &dxb, false).unwrap());
        ds.extend(
            conv::conv_transpose2d_backward_weight(gpu, t, &xb, &dyb, &dwb, &sw, true).unwrap(),
        );
        ds.extend(conv::conv_transpose2d_backward_bias(gpu, t, &dyb, &dbb, &sb, false).unwrap());
        run(gpu, &ds);
        let (x, w, b, dy) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&dy));
        let (aw, ab) = (abs(&w), abs(&b));
        let got: Vec<f32> = gpu.download(&yb).unwrap();
        close_on_images(&format!("conv_transpose2d {t:?}"), t.n, &got, |i| {
            let xi = image(&x, t.n, i);
            let want = cpu::conv_transpose2d(&one, xi, &w, Some(&b), Act::Relu);
            (
                want,
                cpu::conv_transpose2d(&one, &abs(xi), &aw, Some(&ab), Act::None),
            )
        });
        let got: Vec<f32> = gpu.download(&dxb).unwrap();
        close_on_images(&format!("conv_transpose2d dx {t:?}"), t.n, &got, |i| {
            let dyi = image(&dy, t.n, i);
            let want = cpu::conv_transpose2d_backward_input(&one, dyi, &w);
            (
                want,
                cpu::conv_transpose2d_backward_input(&one, &abs(dyi), &aw),
            )
        });
        // dW[ci, co, .] sums x[:, ci] * dy[:, co]: bounded per input channel by sum |x| max |dy|.
        let got: Vec<f32> = gpu.download(&dwb).unwrap();
        let want = plus_old(
            cpu::conv_transpose2d_backward_weight(t, &x, &dy),
            &dw_old,
            true,
        );
        let mag = weight_grad_bound(t.n, t.cin, t.cout * t.kh * t.kw, &x, &dy);
        let what = format!("conv_transpose2d dw {t:?}");
        assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
        let got: Vec<f32> = gpu.download(&dbb).unwrap();
        let want = cpu::conv_transpose2d_backward_bias(t, &dy);
        let mag = cpu::conv_transpose2d_backward_bias(t, &abs(&dy));
        let what = format!("conv_transpose2d db {t:?}");
        assert_close(&what, &got, &want, 1e-4, cancel_atol(&mag));
    }
}
