//! Elementwise family (f32 and f16 storage) vs its f64 twin, gradient checks of every backward
//! rule, the accumulate convention, and shape errors.
//!
//! Sizes: 1, awkward (not multiples of the 64-thread workgroup) and BIG, which needs more than
//! 65,535 workgroups and so exercises the folded grid.
mod common;
use common::*;
use half::f16;
use rand::rngs::StdRng;
use shadergrad::kernels::elementwise::{self as ew, cpu, Binary, Saved, Unary};
use shadergrad::{Buf, DType, Dispatch, Error, Gpu, Result};

const BIG: usize = 65_535 * 64 + 77;
const SIZES: [usize; 4] = [1, 63, 1000, BIG];

const UNARY: [Unary; 11] = [
    Unary::Relu,
    Unary::LeakyRelu(0.1),
    Unary::Sigmoid,
    Unary::Tanh,
    Unary::Softplus,
    Unary::Exp,
    Unary::Log,
    Unary::Square,
    Unary::Scale(-1.7),
    Unary::AddScalar(-5.0),
    Unary::Sqrt,
];
const BINARY: [Binary; 3] = [Binary::Add, Binary::Sub, Binary::Mul];

/// Input range per op: wide enough to reach each op's tails, valid where the op is defined.
fn range(op: Unary) -> (f32, f32) {
    match op {
        // log needs x > 0; staying above 0.05 keeps 1/x (the backward) moderate.
        Unary::Log => (0.05, 10.0),
        // sqrt's derivative 1/(2 sqrt x) needs x > 0; 0.05 keeps it moderate, as for log.
        Unary::Sqrt => (0.05, 10.0),
        // softplus is defined everywhere; +-30 reaches both tails: exp(-|x|) ~ 1e-13 on the
        // left (where the log1p form matters) and y ~ x on the right.
        Unary::Softplus => (-30.0, 30.0),
        // e^10 = 22026 still fits f16 (max 65504).
        Unary::Exp => (-10.0, 10.0),
        Unary::Sigmoid => (-20.0, 20.0),
        Unary::Tanh => (-10.0, 10.0),
        _ => (-4.0, 4.0),
    }
}

/// Storage precision under test: how to move data and which tolerances apply.
#[derive(Clone, Copy, Debug, PartialEq)]
enum P {
    F32,
    F16,
}

impl P {
    fn dtype(self) -> DType {
        match self {
            P::F32 => DType::F32,
            P::F16 => DType::F16,
        }
    }
    /// Values as the device will hold them (f16 inputs are rounded before the reference sees
    /// them, so the comparison measures the kernel, not the input rounding).
    fn round(self, v: Vec<f32>) -> Vec<f32> {
        match self {
            P::F32 => v,
            P::F16 => v.iter().map(|&x| f16::from_f32(x).to_f32()).collect(),
        }
    }
    fn put(self, gpu: &Gpu, buf: &Buf, v: &[f32]) {
        match self {
            P::F32 => gpu.write(buf, v).unwrap(),
            P::F16 => {
                let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
                gpu.write(buf, &h).unwrap()
            }
        }
    }
    fn get(self, gpu: &Gpu, buf: &Buf) -> Vec<f32> {
        match self {
            P::F32 => gpu.download(buf).unwrap(),
            P::F16 => gpu
                .download::<f16>(buf)
                .unwrap()
                .iter()
                .map(|h| h.to_f32())
                .collect(),
        }
    }
    fn rtol(self) -> f64 {
        match self {
            P::F32 => 1e-5,
            P::F16 => 1e-2,
        }
    }
    /// f16 results below f16's smallest normal (6.1e-5) are subnormal with fixed absolute
    /// spacing, and a driver may flush them to zero: relative error is meaningless there.
    fn atol(self) -> f64 {
        match self {
            P::F32 => 0.0,
            P::F16 => 6.1e-5,
        }
    }
    fn zeros(self, gpu: &Gpu, n: usize) -> Buf {
        gpu.zeros(n, self.dtype()).unwrap()
    }
}

/// Accumulated results: got = old + new, where `new` carries its own rounding. Adding can
/// cancel, so the error bound is relative to the operands |old| + |new|, not to the sum.
fn assert_close_sum(what: &str, got: &[f32], old: &[f64], new: &[f64], rtol: f64, atol: f64) {
    for i in 0..got.len() {
        let want = old[i] + new[i];
        let allowed = atol + rtol * (old[i].abs() + new[i].abs());
        assert!(
            ((got[i] as f64) - want).abs() <= allowed,
            "{what}: element {i} is {} but old {} + new {} = {want}",
            got[i],
            old[i],
            new[i]
        );
    }
}

fn run(gpu: &Gpu, d: Result<Dispatch>) {
    gpu.run(&[&d.unwrap()]).unwrap();
}

fn unary_d(p: P, gpu: &Gpu, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    match p {
        P::F32 => ew::unary(gpu, op, x, y),
        P::F16 => ew::unary_f16(gpu, op, x, y),
    }
}

fn unary_bwd_d(
    p: P,
    gpu: &Gpu,
    op: Unary,
    s: &Buf,
    dy: &Buf,
    dx: &Buf,
    acc: bool,
) -> Result<Dispatch> {
    match p {
        P::F32 => ew::unary_backward(gpu, op, s, dy, dx, acc),
        P::F16 => ew::unary_backward_f16(gpu, op, s, dy, dx, acc),
    }
}

/// Forward, then backward with accumulate off (old dx NaN: must be ignored) and on.
fn check_unary(p: P, rng: &mut StdRng) {
    let gpu = gpu();
    for n in SIZES {
        let [xb, yb, dyb, dxb] = [(); 4].map(|_| p.zeros(gpu, n));
        for op in UNARY {
            let (lo, hi) = range(op);
            let x = p.round(uniform(rng, n, lo, hi));
            p.put(gpu, &xb, &x);
            run(gpu, unary_d(p, gpu, op, &xb, &yb));
            let y = p.get(gpu, &yb);
            let what = format!("{p:?} {op:?} n={n}");
            let want = cpu::unary(op, &to_f64(&x));
            assert_close(&what, &y, &want, p.rtol(), p.atol());

            // The backward reads the GPU's own y where the op saves its output, as in training.
            let (sb, s) = match op.saved() {
                Saved::Input => (&xb, &x),
                Saved::Output => (&yb, &y),
            };
            let dy = p.round(uniform(rng, n, -1.0, 1.0));
            p.put(gpu, &dyb, &dy);
            let new = cpu::unary_backward(op, &to_f64(s), &to_f64(&dy));
            p.put(gpu, &dxb, &vec![f32::NAN; n]);
            run(gpu, unary_bwd_d(p, gpu, op, sb, &dyb, &dxb, false));
            assert_close(
                &format!("{what} backward"),
                &p.get(gpu, &dxb),
                &new,
                p.rtol(),
                p.atol(),
            );

            let old = p.round(uniform(rng, n, -1.0, 1.0));
            p.put(gpu, &dxb, &old);
            run(gpu, unary_bwd_d(p, gpu, op, sb, &dyb, &dxb, true));
            let got = p.get(gpu, &dxb);
            assert_close_sum(
                &format!("{what} backward accumulate"),
                &got,
                &to_f64(&old),
                &new,
                p.rtol(),
                p.atol(),
            );
        }
    }
}

#[test]
fn unary_f32_matches_reference() {
    check_unary(P::F32, &mut rng());
}

#[test]
fn unary_f16_matches_reference() {
    if !gpu().has_f16() {
        eprintln!("skipped: adapter has no SHADER_F16");
        return;
    }
    check_unary(P::F16, &mut rng());
}

fn check_binary(p: P, rng: &mut StdRng) {
    let gpu = gpu();
    for n in SIZES {
        let [ab, bb, yb, dyb, dab, dbb] = [(); 6].map(|_| p.zeros(gpu, n));
        for op in BINARY {
            let what = format!("{p:?} {op:?} n={n}");
            let a = p.round(uniform(rng, n, -2.0, 2.0));
            let b = p.round(uniform(rng, n, -2.0, 2.0));
            p.put(gpu, &ab, &a);
            p.put(gpu, &bb, &b);
            let (a64, b64) = (to_f64(&a), to_f64(&b));
            let d = match p {
                P::F32 => ew::binary(gpu, op, &ab, &bb, &yb),
                P::F16 => ew::binary_f16(gpu, op, &ab, &bb, &yb),
            };
            run(gpu, d);
            let want = cpu::binary(op, &a64, &b64);
            assert_close(&what, &p.get(gpu, &yb), &want, p.rtol(), p.atol());

            let dy = p.round(uniform(rng, n, -1.0, 1.0));
            p.put(gpu, &dyb, &dy);
            let (nda, ndb) = cpu::binary_backward(op, &a64, &b64, &to_f64(&dy));
            // One gradient written over NaN, the other accumulated, then the other way round.
            for acc in [[false, true], [true, false]] {
                let old = p.round(uniform(rng, n, -1.0, 1.0));
                let old64 = to_f64(&old);
                let nan = vec![f32::NAN; n];
                p.put(gpu, &dab, if acc[0] { &old } else { &nan });
                p.put(gpu, &dbb, if acc[1] { &old } else { &nan });
                let d = match p {
                    P::F32 => ew::binary_backward(gpu, op, &ab, &bb, &dyb, &dab, &dbb, acc),
                    P::F16 => ew::binary_backward_f16(gpu, op, &ab, &bb, &dyb, &dab, &dbb, acc),
                };
                run(gpu, d);
                for (name, buf, new, a) in [("da", &dab, &nda, acc[0]), ("db", &dbb, &ndb, acc[1])]
                {
                    let got = p.get(gpu, buf);
                    let what = format!("{what} {name} accumulate={a}");
                    if a {
                        assert_close_sum(&what, &got, &old64, new, p.rtol(), p.atol());
                    } else {
                        assert_close(&what, &got, new, p.rtol(), p.atol());
                    }
                }
            }
        }
    }
}

#[test]
fn binary_f32_matches_reference() {
    check_binary(P::F32, &mut rng());
}

#[test]
fn binary_f16_matches_reference() {
    if !gpu().has_f16() {
        eprintln!("skipped: adapter has no SHADER_F16");
        return;
    }
    check_binary(P::F16, &mut rng());
}

/// add_row_bias, axpy and fill.
fn check_helpers(p: P, rng: &mut StdRng) {
    let gpu = gpu();
    // (rows, features): one element, awkward, and a BIG-sized matrix.
    for (rows, f) in [(1, 1), (7, 13), (1000, 3), (BIG / 7 + 1, 7)] {
        let n = rows * f;
        let what = format!("{p:?} [{rows}, {f}]");
        let [xb, yb] = [(); 2].map(|_| p.zeros(gpu, n));
        let biasb = p.zeros(gpu, f);
        let x = p.round(uniform(rng, n, -2.0, 2.0));
        let bias = p.round(uniform(rng, f, -2.0, 2.0));
        p.put(gpu, &xb, &x);
        p.put(gpu, &biasb, &bias);
        let d = match p {
            P::F32 => ew::add_row_bias(gpu, &xb, &biasb, &yb),
            P::F16 => ew::add_row_bias_f16(gpu, &xb, &biasb, &yb),
        };
        run(gpu, d);
        let want = cpu::add_row_bias(&to_f64(&x), &to_f64(&bias));
        assert_close(
            &format!("{what} add_row_bias"),
            &p.get(gpu, &yb),
            &want,
            p.rtol(),
            p.atol(),
        );

        let alpha = -0.37f32;
        let y = p.round(uniform(rng, n, -2.0, 2.0));
        p.put(gpu, &yb, &y);
        let d = match p {
            P::F32 => ew::axpy(gpu, alpha, &xb, &yb),
            P::F16 => ew::axpy_f16(gpu, alpha, &xb, &yb),
        };
        run(gpu, d);
        let ax: Vec<f64> = x.iter().map(|&v| alpha as f64 * v as f64).collect();
        assert_eq!(
            cpu::axpy(alpha as f64, &to_f64(&x), &to_f64(&y)),
            cpu::accumulate(&to_f64(&y), &ax)
        );
        assert_close_sum(
            &format!("{what} axpy"),
            &p.get(gpu, &yb),
            &to_f64(&y),
            &ax,
            p.rtol(),
            p.atol(),
        );

        let value = 0.3f32;
        let d = match p {
            P::F32 => ew::fill(gpu, value, &yb),
            P::F16 => ew::fill_f16(gpu, value, &yb),
        };
        run(gpu, d);
        let want = cpu::fill(p.round(vec![value])[0] as f64, n);
        assert_close(&format!("{what} fill"), &p.get(gpu, &yb), &want, 0.0, 0.0);
    }
}

#[test]
fn helpers_f32_match_reference() {
    check_helpers(P::F32, &mut rng());
}

#[test]
fn helpers_f16_match_reference() {
    if !gpu().has_f16() {
        eprintln!("skipped: adapter has no SHADER_F16");
        return;
    }
    check_helpers(P::F16, &mut rng());
}

/// Every unary backward rule of the f64 twin against central differences of its forward.
#[test]
fn unary_backward_rules_pass_gradcheck() {
    let mut rng = rng();
    for op in UNARY {
        // gradcheck differences the loss sum(dy * f(x)), whose f64 rounding (~1e-16 * |loss| / h)
        // must stay below the tolerance: exp's full range (e^10 per element) would swamp it, and
        // the rule y' = y does not depend on the range.
        let (lo, hi) = match op {
            Unary::Exp => (-3.0, 3.0),
            _ => range(op),
        };
        // Keep clear of the relu kinks at 0, where the derivative is one-sided.
        let x: Vec<f64> = to_f64(&uniform(&mut rng, 32, lo, hi))
            .into_iter()
            .map(|v| if v.abs() < 1e-3 { v + 1e-2 } else { v })
            .collect();
        let dy = to_f64(&uniform(&mut rng, 32, -1.0, 1.0));
        let y = cpu::unary(op, &x);
        let saved = match op.saved() {
            Saved::Input => &x,
            Saved::Output => &y,
        };
        let dx = cpu::unary_backward(op, saved, &dy);
        gradcheck(
            &format!("{op:?}"),
            |x| cpu::unary(op, x),
            &x,
            &dy,
            &dx,
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn binary_backward_rules_pass_gradcheck() {
    let mut rng = rng();
    for op in BINARY {
        let a = to_f64(&uniform(&mut rng, 16, -2.0, 2.0));
        let b = to_f64(&uniform(&mut rng, 16, -2.0, 2.0));
        let dy = to_f64(&uniform(&mut rng, 16, -1.0, 1.0));
        let (da, db) = cpu::binary_backward(op, &a, &b, &dy);
        gradcheck(
            &format!("{op:?} da"),
            |a| cpu::binary(op, a, &b),
            &a,
            &dy,
            &da,
            1e-6,
            1e-6,
        );
        gradcheck(
            &format!("{op:?} db"),
            |b| cpu::binary(op, &a, b),
            &b,
            &dy,
            &db,
            1e-6,
            1e-6,
        );
    }
}

fn is_shape(r: Result<Dispatch>) -> bool {
    matches!(r, Err(Error::Shape(_)))
}

#[test]
fn bad_shapes_and_types_are_errors() {
    let gpu = gpu();
    let z = |n| gpu.zeros(n, DType::F32).unwrap();
    let (a, b, c, short) = (z(10), z(10), z(10), z(9));
    let op = Unary::Relu;
    assert!(is_shape(ew::unary(gpu, op, &a, &short)));
    assert!(is_shape(ew::unary_backward(gpu, op, &short, &a, &b, false)));
    assert!(is_shape(ew::unary_backward(gpu, op, &a, &short, &b, false)));
    assert!(is_shape(ew::unary_backward(gpu, op, &a, &b, &short, true)));
    assert!(is_shape(ew::binary(gpu, Binary::Add, &a, &short, &b)));
    for op in BINARY {
        // A mismatched a or b is an error even for add/sub, which never read them.
        assert!(is_shape(ew::binary_backward(
            gpu,
            op,
            &short,
            &a,
            &b,
            &c,
            &z(10),
            [false; 2]
        )));
        assert!(is_shape(ew::binary_backward(
            gpu,
            op,
            &a,
            &b,
            &c,
            &z(10),
            &short,
            [false; 2]
        )));
    }
    assert!(is_shape(ew::add_row_bias(gpu, &a, &z(3), &b))); // 10 is not a multiple of 3
    assert!(is_shape(ew::add_row_bias(gpu, &a, &z(0), &b)));
    assert!(is_shape(ew::add_row_bias(gpu, &a, &z(5), &short)));
    assert!(is_shape(ew::axpy(gpu, 1.0, &a, &short)));
    // An f16 buffer handed to an f32 kernel (and the reverse) is named, not misread.
    if gpu.has_f16() {
        let h = gpu.zeros(10, DType::F16).unwrap();
        assert!(is_shape(ew::unary(gpu, op, &h, &a)));
        assert!(is_shape(ew::unary_f16(gpu, op, &h, &a)));
        assert!(is_shape(ew::fill(gpu, 0.0, &h)));
    }
    // Writing a buffer that is also read in the same dispatch is refused up front.
    assert!(matches!(ew::unary(gpu, op, &a, &a), Err(Error::Config(_))));
    assert!(matches!(ew::axpy(gpu, 1.0, &a, &a), Err(Error::Config(_))));
    assert!(matches!(
        ew::binary_backward(gpu, Binary::Mul, &a, &b, &c, &z(10), &a, [false; 2]),
        Err(Error::Config(_))
    ));
}

/// Regression: softplus must not lose its left tail to log(1 + tiny) = 0 (the log1p form),
/// nor overflow on the right; sigmoid must not overflow exp for large |x|; tanh keeps relative
/// accuracy near 0 (lavapipe's builtin tanh is off by ~2e-4 there) and on both sides of the
/// series/exp switch at |x| = 0.55.
#[test]
fn softplus_sigmoid_tanh_are_accurate_in_the_tails() {
    let gpu = gpu();
    let x = vec![
        -80.0f32, -30.0, -17.0, -0.551, -0.549, -1e-4, -1e-30, 0.0, 3e-6, 1e-3, 0.3, 0.549, 0.551,
        17.0, 30.0, 80.0,
    ];
    let xb = gpu.upload(&x).unwrap();
    let yb = gpu.zeros(x.len(), DType::F32).unwrap();
    for op in [Unary::Softplus, Unary::Sigmoid, Unary::Tanh] {
        run(gpu, ew::unary(gpu, op, &xb, &yb));
        let y: Vec<f32> = gpu.download(&yb).unwrap();
        assert_close(
            &format!("{op:?} tails"),
            &y,
            &cpu::unary(op, &to_f64(&x)),
            1e-5,
            0.0,
        );
    }
}

/// Regression: log near 1 keeps relative accuracy (lavapipe's builtin log alone is off by
/// ~1e-7 absolute, 5e-4 relative at log(x) ~ 2e-4).
#[test]
fn log_is_relatively_accurate_near_one() {
    let gpu = gpu();
    let x: Vec<f32> = (1..=200)
        .flat_map(|k| {
            let d = k as f32 * 1e-6;
            [1.0 + d, 1.0 - d, 1.0 + 1e3 * d, 1.0 - 2e3 * d]
        })
        .chain([0.5, 2.0, 0.4999, 2.0001])
        .collect();
    let xb = gpu.upload(&x).unwrap();
    let yb = gpu.zeros(x.len(), DType::F32).unwrap();
    run(gpu, ew::unary(gpu, Unary::Log, &xb, &yb));
    let y: Vec<f32> = gpu.download(&yb).unwrap();
    assert_close(
        "log near 1",
        &y,
        &cpu::unary(Unary::Log, &to_f64(&x)),
        1e-5,
        0.0,
    );
}
