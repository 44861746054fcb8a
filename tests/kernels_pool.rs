//! Pooling family vs its f64 twin: k x k max pooling (PyTorch MaxPool2d, floor mode) with its
//! argmax and backward, global average and max pooling and their backward; awkward and model
//! shapes, two-pass global pools, ties and NaN, accumulation, gradient checks of the twins,
//! a grid folded past 65,535 workgroups, bad input.
//!
//! Shapes: x, dx [N, C, H, W]; max pool y, arg, dy [N, C, OH, OW]; global y, arg, dy [N, C].
mod common;
use common::*;
use rand::seq::SliceRandom;
use rand::Rng;
use shadergrad::kernels::pool::{self, cpu, GlobalPoolSpec, MaxPoolSpec};
use shadergrad::{Buf, DType};

// ---- helpers -------------------------------------------------------------------------------

fn max_pool(spec: &MaxPoolSpec, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let gpu = gpu();
    let xb = gpu.upload(x).unwrap();
    let yb = gpu.upload(&vec![f32::NAN; spec.out_len()]).unwrap();
    let ab = gpu.upload(&vec![u32::MAX; spec.out_len()]).unwrap();
    let d = pool::max_pool(gpu, spec, &xb, &yb, &ab).unwrap();
    gpu.run(&[&d]).unwrap();
    (gpu.download(&yb).unwrap(), gpu.download(&ab).unwrap())
}

/// The backward with dx starting at `dx0`.
fn max_pool_backward(
    spec: &MaxPoolSpec,
    arg: &[u32],
    dy: &[f32],
    dx0: &[f32],
    acc: bool,
) -> Vec<f32> {
    let gpu = gpu();
    let (ab, dyb, dxb) = (
        gpu.upload(arg).unwrap(),
        gpu.upload(dy).unwrap(),
        gpu.upload(dx0).unwrap(),
    );
    let d = pool::max_pool_backward(gpu, spec, &ab, &dyb, &dxb, acc).unwrap();
    gpu.run(&[&d]).unwrap();
    gpu.download(&dxb).unwrap()
}

fn scratch(len: usize) -> Buf {
    gpu().zeros(len.max(1), DType::F32).unwrap()
}

fn global_avg(spec: &GlobalPoolSpec, x: &[f32]) -> Vec<f32> {
    let gpu = gpu();
    let xb = gpu.upload(x).unwrap();
    let yb = gpu.upload(&vec![f32::NAN; spec.planes()]).unwrap();
    let s = scratch(pool::global_avg_pool_scratch_len(spec));
    let ds = pool::global_avg_pool(gpu, spec, &xb, &yb, &s).unwrap();
    gpu.run(&ds.iter().collect::<Vec<_>>()).unwrap();
    gpu.download(&yb).unwrap()
}

fn global_max(spec: &GlobalPoolSpec, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let gpu = gpu();
    let xb = gpu.upload(x).unwrap();
    let yb = gpu.upload(&vec![f32::NAN; spec.planes()]).unwrap();
    let ab = gpu.upload(&vec![u32::MAX; spec.planes()]).unwrap();
    let s = scratch(pool::global_max_pool_scratch_len(spec));
    let ds = pool::global_max_pool(gpu, spec, &xb, &yb, &ab, &s).unwrap();
    gpu.run(&ds.iter().collect::<Vec<_>>()).unwrap();
    (gpu.download(&yb).unwrap(), gpu.download(&ab).unwrap())
}

/// Either global backward (arg = Some: max) with dx starting at `dx0`.
fn global_backward(
    spec: &GlobalPoolSpec,
    arg: Option<&[u32]>,
    dy: &[f32],
    dx0: &[f32],
    acc: bool,
) -> Vec<f32> {
    let gpu = gpu();
    let (dyb, dxb) = (gpu.upload(dy).unwrap(), gpu.upload(dx0).unwrap());
    let d = match arg {
        Some(a) => {
            let ab = gpu.upload(a).unwrap();
            pool::global_max_pool_backward(gpu, spec, &ab, &dyb, &dxb, acc).unwrap()
        }
        None => pool::global_avg_pool_backward(gpu, spec, &dyb, &dxb, acc).unwrap(),
    };
    gpu.run(&[&d]).unwrap();
    gpu.download(&dxb).unwrap()
}

/// Max and argmax are exact: the GPU must pick the same element as the f64 twin.
fn assert_max_exact(what: &str, y: &[f32], arg: &[u32], want: &(Vec<f64>, Vec<u32>)) {
    assert_eq!(arg, &want.1[..], "{what}: argmax differs from the f64 twin");
    assert_close(what, y, &want.0, 0.0, 0.0);
}

/// A mean's rounding error scales with the mean of |x|, not with |mean| (which may cancel to
/// ~0): allow 1e-5 of the reference computed on |x|.
fn assert_mean(what: &str, spec: &GlobalPoolSpec, x: &[f32], got: &[f32]) {
    let xf = to_f64(x);
    let want = cpu::global_avg_pool(spec, &xf);
    let abs = cpu::global_avg_pool(spec, &xf.iter().map(|v| v.abs()).collect::<Vec<_>>());
    for (o, (&g, (&w, &a))) in got.iter().zip(want.iter().zip(&abs)).enumerate() {
        let allowed = 1e-5 * a + 1e-30;
        assert!(
            (g as f64 - w).abs() <= allowed && g.is_finite(),
            "{what}: y[{o}] = {g}, f64 says {w} (allowed error {allowed})"
        );
    }
}

/// Max-pool shapes: (N, C, H, W, k, s). Single elements, odd maps, non-square maps, overlapping
/// windows (k > s), gaps (s > k), and the model's maps.
const MAX_SHAPES: [(usize, usize, usize, usize, usize, usize); 12] = [
    (1, 1, 2, 2, 2, 2),
    (1, 1, 1, 1, 1, 1),
    (1, 3, 7, 7, 2, 2),
    (2, 3, 5, 9, 2, 2),
    (1, 3, 9, 5, 2, 2),
    (2, 3, 7, 7, 3, 2),
    (1, 3, 6, 7, 3, 1),
    (1, 2, 11, 8, 2, 3),
    (1, 2, 37, 70, 4, 4),
    (3, 1, 5, 130, 2, 2),
    (128, 64, 14, 14, 2, 2),
    (128, 128, 7, 7, 2, 2),
];

/// Global shapes (N, C, H, W): planes under one vec4, planes starting mid-vec4 (odd HW: scalar
/// head and tail around vec4s), aligned planes (HW % 4 = 0), the model's maps, and two-pass
/// planes (HW > 4096), aligned or not.
const GLOBAL_SHAPES: [(usize, usize, usize, usize); 12] = [
    (1, 1, 1, 1),
    (2, 3, 1, 3),
    (1, 5, 2, 3),
    (1, 3, 7, 7),
    (2, 3, 5, 9),
    (1, 3, 2, 2),
    (128, 64, 14, 14),
    (128, 128, 7, 7),
    (1, 2, 64, 64),
    (2, 3, 1, 4097),
    (1, 2, 64, 80),
    (3, 2, 101, 103),
];

// ---- max pooling ---------------------------------------------------------------------------

#[test]
fn max_pool_matches_f64_at_awkward_and_model_sizes() {
    let mut rng = rng();
    for (n, c, h, w, k, s) in MAX_SHAPES {
        let spec = MaxPoolSpec::new(n, c, h, w, k, s);
        let what = format!("max pool {k}x{k}/{s} on [{n}, {c}, {h}, {w}]");
        let x = uniform(&mut rng, spec.in_len(), -2.0, 2.0);
        let (y, arg) = max_pool(&spec, &x);
        assert_max_exact(&what, &y, &arg, &cpu::max_pool(&spec, &to_f64(&x)));
        // Backward from the GPU's own argmax, writing over NaN (must be ignored).
        let dy = uniform(&mut rng, spec.out_len(), -1.0, 1.0);
        let dx = max_pool_backward(&spec, &arg, &dy, &vec![f32::NAN; spec.in_len()], false);
        let want = cpu::max_pool_backward(&spec, &arg, &to_f64(&dy));
        // Overlapping windows sum up to ceil(k/s)^2 terms of either sign: a small atol covers
        // sums that cancel near 0.
        assert_close(&format!("{what} backward"), &dx, &want, 1e-5, 1e-6);
    }
}

#[test]
fn max_pool_ties_go_to_the_first_maximum_and_nan_wins() {
    // Constant input: every window ties; the top-left element wins and alone gets dy.
    for (h, w, k, s) in [(7, 7, 2, 2), (14, 14, 2, 2), (6, 7, 3, 1), (5, 9, 3, 2)] {
        let spec = MaxPoolSpec::new(2, 3, h, w, k, s);
        let (oh, ow) = spec.out_hw();
        let (y, arg) = max_pool(&spec, &vec![0.5; spec.in_len()]);
        assert!(y.iter().all(|&v| v == 0.5));
        for (o, &a) in arg.iter().enumerate() {
            let (i, j) = ((o / ow) % oh, o % ow);
            assert_eq!(a as usize, i * s * w + j * s, "{spec:?}: output {o}");
        }
        let dx = max_pool_backward(
            &spec,
            &arg,
            &vec![1.0; spec.out_len()],
            &vec![f32::NAN; spec.in_len()],
            false,
        );
        assert_close(
            "ties backward",
            &dx,
            &cpu::max_pool_backward(&spec, &arg, &vec![1.0; spec.out_len()]),
            0.0,
            0.0,
        );
        if s >= k {
            // Disjoint windows: exactly one element per window gets the gradient.
            assert_eq!(dx.iter().filter(|&&v| v == 1.0).count(), spec.out_len());
            assert_eq!(dx.iter().filter(|&&v| v != 0.0).count(), spec.out_len());
        }
    }
    // A later equal maximum does not win; NaN beats a larger number; the first NaN wins.
    let spec = MaxPoolSpec::new(1, 1, 2, 6, 2, 2);
    #[rustfmt::skip]
    let x = [
        1.0, 3.0,   5.0, f32::NAN,   f32::NAN, 2.0,
        3.0, 3.0,   9.0, 1.0,        1.0, f32::NAN,
    ];
    let (y, arg) = max_pool(&spec, &x);
    assert_eq!(arg, [1, 3, 4]);
    assert!(y[0] == 3.0 && y[1].is_nan() && y[2].is_nan());
    let want = cpu::max_pool(&spec, &to_f64(&x));
    assert_eq!(arg, want.1);
    // The same rules on the scalar 2 x 2 path (W odd) and the general path (k = 3).
    let nan = f32::NAN;
    #[rustfmt::skip]
    let x = [
        1.0, 3.0,   5.0, nan,   nan, 2.0,   9.0,
        3.0, 3.0,   9.0, 1.0,   1.0, nan,   9.0,
        0.0, 0.0,   0.0, 0.0,   0.0, 0.0,   9.0,
    ];
    let spec = MaxPoolSpec::new(1, 1, 2, 7, 2, 2);
    assert_eq!(max_pool(&spec, &x[..14]).1, [1, 3, 4]);
    let spec = MaxPoolSpec::new(1, 1, 3, 7, 3, 2);
    let (y, arg) = max_pool(&spec, &x);
    assert_eq!(arg, [9, 3, 4]);
    assert!(y[0] == 9.0 && y[1].is_nan() && y[2].is_nan());
    assert_eq!(arg, cpu::max_pool(&spec, &to_f64(&x)).1);
}

#[test]
fn max_pool_backward_twin_passes_gradcheck_and_gpu_matches_it() {
    let mut rng = rng();
    for (n, c, h, w, k, s) in [
        (1, 2, 5, 9, 2, 2),
        (1, 1, 6, 7, 3, 1),
        (2, 1, 7, 7, 3, 2),
        (1, 1, 8, 11, 2, 3),
    ] {
        let spec = MaxPoolSpec::new(n, c, h, w, k, s);
        // Distinct values 0.1 apart (a shuffled ramp): a step of 1e-4 never moves an argmax.
        let mut x: Vec<f64> = (0..spec.in_len()).map(|i| 0.1 * i as f64).collect();
        x.shuffle(&mut rng);
        let dy: Vec<f64> = (0..spec.out_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let (_, arg) = cpu::max_pool(&spec, &x);
        let dx = cpu::max_pool_backward(&spec, &arg, &dy);
        gradcheck(
            &format!("{spec:?}"),
            |x| cpu::max_pool(&spec, x).0,
            &x,
            &dy,
            &dx,
            1e-4,
            1e-6,
        );
        // The GPU backward on the same (f32-exact) inputs.
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let dy32: Vec<f32> = dy.iter().map(|&v| v as f32).collect();
        let (_, garg) = max_pool(&spec, &x32);
        assert_eq!(garg, arg);
        let got = max_pool_backward(&spec, &garg, &dy32, &vec![0.0; spec.in_len()], false);
        assert_close(
            "max pool backward",
            &got,
            &cpu::max_pool_backward(&spec, &arg, &to_f64(&dy32)),
            1e-5,
            1e-6,
        );
    }
}

#[test]
fn max_pool_backward_accumulates_and_leaves_other_inputs_unchanged() {
    let mut rng = rng();
    for (h, w, k, s) in [(14, 14, 2, 2), (7, 7, 2, 2), (6, 7, 3, 1)] {
        let spec = MaxPoolSpec::new(3, 2, h, w, k, s);
        let x = uniform(&mut rng, spec.in_len(), -1.0, 1.0);
        let (_, arg) = max_pool(&spec, &x);
        let dy = uniform(&mut rng, spec.out_len(), -1.0, 1.0);
        let dx0 = uniform(&mut rng, spec.in_len(), -3.0, 3.0);
        let got = max_pool_backward(&spec, &arg, &dy, &dx0, true);
        let fresh = cpu::max_pool_backward(&spec, &arg, &to_f64(&dy));
        let want: Vec<f64> = fresh.iter().zip(&dx0).map(|(g, &o)| g + o as f64).collect();
        assert_close("accumulate", &got, &want, 1e-5, 1e-6);
        // Inputs no window chose keep their old value exactly.
        for (i, (&g, &f)) in got.iter().zip(&fresh).enumerate() {
            if f == 0.0 && !arg_hits(&spec, &arg, i) {
                assert_eq!(g, dx0[i], "input {i} changed");
            }
        }
    }
}

/// Is input i (flat) some window's argmax?
fn arg_hits(spec: &MaxPoolSpec, arg: &[u32], i: usize) -> bool {
    let (oh, ow) = spec.out_hw();
    let hw = spec.h * spec.w;
    arg.iter()
        .enumerate()
        .any(|(o, &a)| (o / (oh * ow)) * hw + a as usize == i)
}

// ---- global pooling ------------------------------------------------------------------------

#[test]
fn global_pools_match_f64_at_awkward_model_and_two_pass_sizes() {
    let mut rng = rng();
    for (n, c, h, w) in GLOBAL_SHAPES {
        let spec = GlobalPoolSpec::new(n, c, h, w);
        let what = format!("[{n}, {c}, {h}, {w}]");
        let x = uniform(&mut rng, spec.in_len(), -1.0, 1.0);
        assert_mean(
            &format!("global avg {what}"),
            &spec,
            &x,
            &global_avg(&spec, &x),
        );
        let (y, arg) = global_max(&spec, &x);
        assert_max_exact(
            &format!("global max {what}"),
            &y,
            &arg,
            &cpu::global_max_pool(&spec, &to_f64(&x)),
        );
        let dy = uniform(&mut rng, spec.planes(), -1.0, 1.0);
        let nan = vec![f32::NAN; spec.in_len()];
        let dx = global_backward(&spec, None, &dy, &nan, false);
        let want = cpu::global_avg_pool_backward(&spec, &to_f64(&dy));
        assert_close(
            &format!("global avg backward {what}"),
            &dx,
            &want,
            1e-6,
            0.0,
        );
        let dx = global_backward(&spec, Some(&arg), &dy, &nan, false);
        let want = cpu::global_max_pool_backward(&spec, &arg, &to_f64(&dy));
        assert_close(&format!("global max backward {what}"), &dx, &want, 0.0, 0.0);
    }
}

/// (HW, (position, value) pairs set in plane 1, the argmax wanted there).
type Tie = (usize, &'static [(usize, f32)], u32);

#[test]
fn global_max_ties_go_to_the_first_maximum_on_every_path() {
    // Constant planes on the scalar, vec4 and two-pass paths: position 0 wins, and alone gets dy.
    for (h, w) in [(7, 7), (14, 14), (64, 80), (1, 4097)] {
        let spec = GlobalPoolSpec::new(2, 3, h, w);
        let (y, arg) = global_max(&spec, &vec![-0.25; spec.in_len()]);
        assert!(
            y.iter().all(|&v| v == -0.25) && arg.iter().all(|&a| a == 0),
            "{spec:?}: {arg:?}"
        );
        let dy = vec![1.0; spec.planes()];
        let dx = global_backward(
            &spec,
            Some(&arg),
            &dy,
            &vec![f32::NAN; spec.in_len()],
            false,
        );
        assert_eq!(dx.iter().filter(|&&v| v == 1.0).count(), spec.planes());
        assert_eq!(dx.iter().filter(|&&v| v != 0.0).count(), spec.planes());
    }
    // The earliest of equal maxima wins wherever they sit: different vec4 lanes (positions 6
    // and 3), different chunks of a two-pass plane (4500 and 100), the scalar head and tail of
    // a plane that starts mid-vec4 (plane 1 of HW = 13 starts at 13: head 0..2, tail 11..12),
    // and NaN (the first NaN). The values go into plane 1 of 2.
    let cases: [Tie; 7] = [
        (16, &[(6, 1.0), (3, 1.0)], 3),
        (8192, &[(4500, 2.0), (100, 2.0)], 100),
        (13, &[(12, 1.0), (1, 1.0)], 1),
        (13, &[(11, 1.0), (5, 1.0)], 5),
        (13, &[(12, 1.0), (7, 0.5)], 12),
        (16, &[(9, f32::NAN), (5, 7.0), (13, f32::NAN)], 9),
        (
            8193,
            &[(5000, f32::NAN), (100, 2.0), (7000, f32::NAN)],
            5000,
        ),
    ];
    for (hw, set, want) in cases {
        let spec = GlobalPoolSpec::new(1, 2, 1, hw);
        let mut x = vec![0.0f32; 2 * hw];
        for &(i, v) in set {
            x[hw + i] = v;
        }
        let (y, arg) = global_max(&spec, &x);
        assert_eq!(arg, [0, want], "hw {hw}: {set:?}");
        assert_eq!(cpu::global_max_pool(&spec, &to_f64(&x)).1, [0, want]);
        assert!(y[1] == x[hw + want as usize] || y[1].is_nan());
    }
}

#[test]
fn global_backward_twins_pass_gradcheck_and_accumulate_on_gpu() {
    let mut rng = rng();
    for (n, c, h, w) in [(2, 3, 5, 3), (1, 2, 2, 4)] {
        let spec = GlobalPoolSpec::new(n, c, h, w);
        let mut x: Vec<f64> = (0..spec.in_len()).map(|i| 0.1 * i as f64).collect();
        x.shuffle(&mut rng);
        let dy: Vec<f64> = (0..spec.planes())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let dx = cpu::global_avg_pool_backward(&spec, &dy);
        gradcheck(
            "global avg",
            |x| cpu::global_avg_pool(&spec, x),
            &x,
            &dy,
            &dx,
            1e-4,
            1e-6,
        );
        let (_, arg) = cpu::global_max_pool(&spec, &x);
        let dx = cpu::global_max_pool_backward(&spec, &arg, &dy);
        gradcheck(
            "global max",
            |x| cpu::global_max_pool(&spec, x).0,
            &x,
            &dy,
            &dx,
            1e-4,
            1e-6,
        );
    }
    for (n, c, h, w) in [(128, 64, 14, 14), (3, 5, 7, 7), (1, 2, 64, 80)] {
        let spec = GlobalPoolSpec::new(n, c, h, w);
        let x = uniform(&mut rng, spec.in_len(), -1.0, 1.0);
        let (_, arg) = global_max(&spec, &x);
        let dy = uniform(&mut rng, spec.planes(), -1.0, 1.0);
        let dx0 = uniform(&mut rng, spec.in_len(), -3.0, 3.0);
        let plus = |fresh: Vec<f64>| -> Vec<f64> {
            fresh.iter().zip(&dx0).map(|(g, &o)| g + o as f64).collect()
        };
        let got = global_backward(&spec, None, &dy, &dx0, true);
        assert_close(
            "avg accumulate",
            &got,
            &plus(cpu::global_avg_pool_backward(&spec, &to_f64(&dy))),
            1e-5,
            1e-6,
        );
        let got = global_backward(&spec, Some(&arg), &dy, &dx0, true);
        let fresh = cpu::global_max_pool_backward(&spec, &arg, &to_f64(&dy));
        assert_close("max accumulate", &got, &plus(fresh.clone()), 1e-5, 1e-6);
        // Non-argmax inputs are left exactly as they were.
        let moved = got.iter().zip(&dx0).filter(|(g, o)| g != o).count();
        assert!(moved <= spec.planes(), "{moved} inputs changed");
    }
}

// ---- grid folding, determinism, bad input ----------------------------------------------------

#[test]
fn grids_fold_past_65535_workgroups() {
    let gpu = gpu();
    let mut rng = rng();
    // 4,194,305 planes of 1 x 1: one invocation each, 65,537 workgroups of 64, folded into y.
    let planes = 65_536 * 64 + 1;
    let x = uniform(&mut rng, planes, -1.0, 1.0);
    let spec = MaxPoolSpec::new(planes, 1, 1, 1, 1, 1);
    let (xb, yb, ab) = (
        gpu.upload(&x).unwrap(),
        gpu.zeros(planes, DType::F32).unwrap(),
        gpu.zeros(planes, DType::U32).unwrap(),
    );
    let d = pool::max_pool(gpu, &spec, &xb, &yb, &ab).unwrap();
    assert!(
        d.groups[1] > 1,
        "expected a folded grid, got {:?}",
        d.groups
    );
    gpu.run(&[&d]).unwrap();
    let y: Vec<f32> = gpu.download(&yb).unwrap();
    assert_close("max pool 1x1 4M planes", &y, &to_f64(&x), 0.0, 0.0);
    let dxb = gpu.zeros(planes, DType::F32).unwrap();
    let d = pool::max_pool_backward(gpu, &spec, &ab, &xb, &dxb, false).unwrap();
    assert!(d.groups[1] > 1);
    gpu.run(&[&d]).unwrap();
    let dx: Vec<f32> = gpu.download(&dxb).unwrap();
    assert_close("max pool backward 4M planes", &dx, &to_f64(&x), 0.0, 0.0);
    let g = GlobalPoolSpec::new(1, planes, 1, 1);
    let (y, arg) = global_max(&g, &x);
    assert_close("global max 4M planes", &y, &to_f64(&x), 0.0, 0.0);
    assert!(arg.iter().all(|&a| a == 0));
    assert_mean("global avg 4M planes", &g, &x, &global_avg(&g, &x));
}

#[test]
fn results_are_bitwise_reproducible() {
    let mut rng = rng();
    let spec = GlobalPoolSpec::new(2, 3, 100, 101);
    let x = uniform(&mut rng, spec.in_len(), -1.0, 1.0);
    let a = global_avg(&spec, &x);
    assert_eq!(a, global_avg(&spec, &x));
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let f = |n| gpu.zeros(n, DType::F32).unwrap();
    let u = |n| gpu.zeros(n, DType::U32).unwrap();
    // H < k, W < k, k = 0, s = 0, k above the supported 64.
    for spec in [
        MaxPoolSpec::new(1, 1, 1, 4, 2, 2),
        MaxPoolSpec::new(1, 1, 4, 1, 2, 2),
        MaxPoolSpec::new(1, 1, 4, 4, 0, 1),
        MaxPoolSpec::new(1, 1, 4, 4, 2, 0),
        MaxPoolSpec::new(1, 1, 70, 70, 65, 1),
    ] {
        assert!(spec.check().is_err(), "{spec:?}");
        assert!(
            pool::max_pool(gpu, &spec, &f(16), &f(4), &u(4)).is_err(),
            "{spec:?}"
        );
        assert!(pool::max_pool_backward(gpu, &spec, &u(4), &f(4), &f(16), false).is_err());
    }
    let spec = MaxPoolSpec::k2(1, 2, 4, 4); // x 32, y 8
    let (x, y, a) = (f(32), f(8), u(8));
    assert!(pool::max_pool(gpu, &spec, &x, &y, &a).is_ok());
    assert!(
        pool::max_pool(gpu, &spec, &f(31), &y, &a).is_err(),
        "short x"
    );
    assert!(pool::max_pool(gpu, &spec, &x, &f(9), &a).is_err(), "long y");
    assert!(
        pool::max_pool(gpu, &spec, &x, &y, &f(8)).is_err(),
        "f32 arg"
    );
    assert!(
        pool::max_pool_backward(gpu, &spec, &a, &f(7), &x, false).is_err(),
        "short dy"
    );
    assert!(
        pool::max_pool_backward(gpu, &spec, &a, &y, &f(33), false).is_err(),
        "long dx"
    );
    // dx and dy in one buffer (k = 1: both have 8 elements).
    let same = f(8);
    let one = MaxPoolSpec::new(1, 1, 2, 4, 1, 1);
    assert!(
        pool::max_pool_backward(gpu, &one, &a, &same, &same, false).is_err(),
        "dx is dy"
    );

    let g = GlobalPoolSpec::new(2, 3, 5, 5); // x 150, y 6
    let s = f(1);
    assert!(pool::global_avg_pool(gpu, &g, &f(150), &f(6), &s).is_ok());
    assert!(
        pool::global_avg_pool(gpu, &g, &f(149), &f(6), &s).is_err(),
        "short x"
    );
    assert!(
        pool::global_max_pool(gpu, &g, &f(150), &f(6), &u(5), &s).is_err(),
        "short arg"
    );
    assert!(
        pool::global_avg_pool_backward(gpu, &g, &f(7), &f(150), false).is_err(),
        "long dy"
    );
    assert!(
        pool::global_max_pool_backward(gpu, &g, &u(6), &f(6), &f(151), false).is_err(),
        "long dx"
    );
    assert!(
        pool::global_avg_pool(gpu, &GlobalPoolSpec::new(1, 0, 5, 5), &f(1), &f(1), &s).is_err(),
        "C = 0"
    );
    // Two-pass planes need their scratch: too small, or the input itself, is an error.
    let big = GlobalPoolSpec::new(1, 2, 1, 5000);
    let need = pool::global_max_pool_scratch_len(&big);
    assert!(need > 0);
    let (bx, by, ba) = (f(10_000), f(2), u(2));
    assert!(
        pool::global_max_pool(gpu, &big, &bx, &by, &ba, &f(need - 1)).is_err(),
        "short scratch"
    );
    assert!(
        pool::global_max_pool(gpu, &big, &bx, &by, &ba, &bx).is_err(),
        "scratch is x"
    );
    assert!(pool::global_max_pool(gpu, &big, &bx, &by, &ba, &f(need)).is_ok());
    // Planes beyond 2^24 values are refused before anything is bound.
    let huge = GlobalPoolSpec::new(1, 1, 5000, 5000);
    assert!(pool::global_avg_pool(gpu, &huge, &f(1), &f(1), &s).is_err());
}
