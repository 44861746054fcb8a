//! Pairwise family (distances, kernels, MMD, kNN) vs its f64 twin: every entry point on fresh
//! random inputs at n = 1, awkward n / m / d, typical sizes and a grid of more than 65,535
//! workgroups; every backward's twin against central differences.
//!
//! Buffers a dispatch reads stay alive (bound to a name) until it is submitted: a dropped
//! `Buf` goes back to the pool, and a concurrently running test may take and overwrite it.
//!
//! Gradients are sums of signed terms, so their tolerance is relative to the sum of the
//! terms' magnitudes (`scale`, computed in f64 alongside): f32 summation error is bounded by
//! that, not by the possibly cancelled result.
mod common;
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use shadergrad::kernels::pairwise::{self as pw, cpu, MmdEstimator, PairKernel};
use shadergrad::{Buf, DType, Dispatch, Gpu};

fn up(v: &[f32]) -> Buf {
    gpu().upload(v).unwrap()
}
fn zeros(len: usize) -> Buf {
    gpu().zeros(len, DType::F32).unwrap()
}
fn down(b: &Buf) -> Vec<f32> {
    gpu().download(b).unwrap()
}
fn run(ds: &[Dispatch]) {
    gpu().run(&ds.iter().collect::<Vec<_>>()).unwrap();
}
fn nan_buf(len: usize) -> Buf {
    up(&vec![f32::NAN; len])
}

/// |got - want| <= tol * (|want| + scale) elementwise, scale = sum of the terms' magnitudes.
fn assert_close_scaled(what: &str, got: &[f32], want: &[f64], scale: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for i in 0..got.len() {
        let err = (got[i] as f64 - want[i]).abs();
        let allowed = tol * (want[i].abs() + scale[i]);
        assert!(
            err <= allowed,
            "{what}: element {i} is {} but the f64 reference says {} (allowed {allowed:e})",
            got[i],
            want[i]
        );
    }
}

/// Per-element magnitude of the gradient sums g_i = sum_j w_ij 2 (x_i - y_j) (x side) and
/// of the y side: sum_j |w_ij| 2 |x_i - y_j|.
fn grad_scale(x: &[f64], y: &[f64], d: usize, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (n, m) = (x.len() / d, y.len() / d);
    let (mut sx, mut sy) = (vec![0.0; n * d], vec![0.0; m * d]);
    for i in 0..n {
        for j in 0..m {
            for f in 0..d {
                let t = (w[i * m + j] * 2.0 * (x[i * d + f] - y[j * d + f])).abs();
                sx[i * d + f] += t;
                sy[j * d + f] += t;
            }
        }
    }
    (sx, sy)
}

fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(p, q)| p + q).collect()
}

/// Inputs: x [n, d] and y [m, d] uniform in [-1, 1).
fn inputs(rng: &mut StdRng, n: usize, m: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    (
        uniform(rng, n * d, -1.0, 1.0),
        uniform(rng, m * d, -1.0, 1.0),
    )
}

const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (1, 5, 3),
    (37, 53, 3),
    (37, 53, 20),
    (37, 53, 33),
    (128, 300, 20),
    (600, 1024, 64),
];

fn kernels(d: usize) -> [PairKernel; 2] {
    [
        PairKernel::Gaussian { s: d as f32 },
        PairKernel::Imq { c: d as f32 },
    ]
}

#[test]
fn sqdist_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES {
        let (x, y) = inputs(&mut rng, n, m, d);
        let (xb, yb) = (up(&x), up(&y));
        let out = zeros(n * m);
        run(&[pw::sqdist(gpu(), &xb, &yb, d, &out).unwrap()]);
        let want = cpu::sqdist(&to_f64(&x), &to_f64(&y), d);
        assert_close(&format!("D {n}x{m}x{d}"), &down(&out), &want, 1e-5, 0.0);
        // Self case: x against itself, exact zeros on the diagonal.
        let out = zeros(n * n);
        run(&[pw::sqdist(gpu(), &xb, &xb, d, &out).unwrap()]);
        let want = cpu::sqdist(&to_f64(&x), &to_f64(&x), d);
        assert_close(&format!("D self {n}x{d}"), &down(&out), &want, 1e-5, 0.0);
    }
}

/// The naive ||x||^2 + ||y||^2 - 2 x.y form loses near pairs entirely; the direct form keeps
/// them to relative precision (this is what kNN entropy needs).
#[test]
fn sqdist_keeps_near_pairs_precise() {
    let d = 16;
    let x: Vec<f32> = (0..d).map(|f| 100.0 + f as f32).collect();
    let y: Vec<f32> = x.iter().map(|v| v + 1.0 / 64.0).collect();
    let out = zeros(1);
    run(&[pw::sqdist(gpu(), &up(&x), &up(&y), d, &out).unwrap()]);
    let want = d as f64 / 4096.0;
    assert_close("near pair", &down(&out), &[want], 1e-6, 0.0);
}

#[test]
fn sqdist_backward_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES {
        let (x, y) = inputs(&mut rng, n, m, d);
        let dd = uniform(&mut rng, n * m, -1.0, 1.0);
        let (xf, yf, ddf) = (to_f64(&x), to_f64(&y), to_f64(&dd));
        let (xb, yb, ddb) = (up(&x), up(&y), up(&dd));
        let (want_x, want_y) = cpu::sqdist_backward(&xf, &yf, d, &ddf);
        let (sx, sy) = grad_scale(&xf, &yf, d, &ddf);
        // Write mode over NaN garbage, then accumulate onto known values.
        let (dx, dy) = (nan_buf(n * d), nan_buf(m * d));
        run(&pw::sqdist_backward(gpu(), &xb, &yb, d, &ddb, Some(&dx), Some(&dy), false).unwrap());
        let tag = format!("{n}x{m}x{d}");
        assert_close_scaled(&format!("dx {tag}"), &down(&dx), &want_x, &sx, 1e-5);
        assert_close_scaled(&format!("dy {tag}"), &down(&dy), &want_y, &sy, 1e-5);
        let old = uniform(&mut rng, n * d, -1.0, 1.0);
        let dx = up(&old);
        run(&pw::sqdist_backward(gpu(), &xb, &yb, d, &ddb, Some(&dx), None, true).unwrap());
        let want = add(&want_x, &to_f64(&old));
        assert_close_scaled(&format!("dx acc {tag}"), &down(&dx), &want, &sx, 1e-5);

        // Self case: dD [n, n] reaches x through both arguments.
        let dd = uniform(&mut rng, n * n, -1.0, 1.0);
        let ddf = to_f64(&dd);
        let want = cpu::sqdist_self_backward(&xf, d, &ddf);
        let (s1, s2) = grad_scale(&xf, &xf, d, &ddf);
        let dx = nan_buf(n * d);
        run(&[pw::sqdist_self_backward(gpu(), &xb, d, &up(&dd), &dx, false).unwrap()]);
        assert_close_scaled(
            &format!("dx self {tag}"),
            &down(&dx),
            &want,
            &add(&s1, &s2),
            1e-5,
        );
    }
}

#[test]
fn kernel_matrix_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES {
        let (x, y) = inputs(&mut rng, n, m, d);
        let (xb, yb) = (up(&x), up(&y));
        for kern in kernels(d) {
            let out = zeros(n * m);
            run(&[pw::kernel_matrix(gpu(), kern, &xb, &yb, d, &out).unwrap()]);
            let want = cpu::kernel_matrix(kern, &to_f64(&x), &to_f64(&y), d);
            assert_close(
                &format!("{kern:?} {n}x{m}x{d}"),
                &down(&out),
                &want,
                1e-5,
                0.0,
            );
        }
    }
}

#[test]
fn kernel_matrix_backward_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES {
        let (x, y) = inputs(&mut rng, n, m, d);
        let (xf, yf) = (to_f64(&x), to_f64(&y));
        let (xb, yb) = (up(&x), up(&y));
        let dk = uniform(&mut rng, n * m, -1.0, 1.0);
        let dks = uniform(&mut rng, n * n, -1.0, 1.0);
        let scratch = zeros(pw::kernel_matrix_backward_scratch_len(n, m.max(n)));
        let (dkb, dksb) = (up(&dk), up(&dks));
        for kern in kernels(d) {
            let tag = format!("{kern:?} {n}x{m}x{d}");
            let w: Vec<f64> = cpu::sqdist(&xf, &yf, d)
                .iter()
                .zip(&dk)
                .map(|(&v, &g)| g as f64 * cpu::kernel_deriv(kern, v))
                .collect();
            let (sx, sy) = grad_scale(&xf, &yf, d, &w);
            let (want_x, want_y) = cpu::kernel_matrix_backward(kern, &xf, &yf, d, &to_f64(&dk));
            let old = uniform(&mut rng, m * d, -1.0, 1.0);
            let (dx, dy) = (nan_buf(n * d), up(&old));
            let ds = pw::kernel_matrix_backward(
                gpu(),
                kern,
                &xb,
                &yb,
                d,
                &dkb,
                &scratch,
                Some(&dx),
                Some(&dy),
                false,
            )
            .unwrap();
            run(&ds);
            assert_close_scaled(&format!("dx {tag}"), &down(&dx), &want_x, &sx, 1e-5);
            assert_close_scaled(&format!("dy {tag}"), &down(&dy), &want_y, &sy, 1e-5);
            // Accumulate onto dy.
            run(&pw::kernel_matrix_backward(
                gpu(),
                kern,
                &xb,
                &yb,
                d,
                &dkb,
                &scratch,
                None,
                Some(&dy),
                true,
            )
            .unwrap());
            let want = add(&want_y, &want_y);
            assert_close_scaled(&format!("dy acc {tag}"), &down(&dy), &want, &sy, 2e-5);

            // Self case.
            let dksf = to_f64(&dks);
            let w: Vec<f64> = cpu::sqdist(&xf, &xf, d)
                .iter()
                .zip(&dksf)
                .map(|(&v, &g)| g * cpu::kernel_deriv(kern, v))
                .collect();
            let (s1, s2) = grad_scale(&xf, &xf, d, &w);
            let want = cpu::kernel_matrix_self_backward(kern, &xf, d, &dksf);
            let dx = nan_buf(n * d);
            run(
                &pw::kernel_matrix_self_backward(gpu(), kern, &xb, d, &dksb, &scratch, &dx, false)
                    .unwrap(),
            );
            assert_close_scaled(
                &format!("dx self {tag}"),
                &down(&dx),
                &want,
                &add(&s1, &s2),
                1e-5,
            );
        }
    }
}

/// Sorted squared distances of row i to every other row (f64).
fn sorted_row(dist: &[f64], n: usize, i: usize) -> Vec<f64> {
    let mut r: Vec<f64> = (0..n)
        .filter(|&j| j != i)
        .map(|j| dist[i * n + j])
        .collect();
    r.sort_by(f64::total_cmp);
    r
}

/// GPU kNN vs the twin. Where the k-th distance is within 1e-5 (relative) of the (k-1)-th or
/// (k+1)-th, f32 rounding may legitimately pick the other row: there idx may differ but the
/// picked row must be at the same distance. Returns how many rows were such near-ties.
fn check_knn(x: &[f32], d: usize, k: usize, eps: &[f32], idx: &[u32]) -> usize {
    let n = x.len() / d;
    let xf = to_f64(x);
    let (want_eps, want_idx) = cpu::knn(&xf, d, k);
    assert_close(&format!("eps n={n} d={d} k={k}"), eps, &want_eps, 1e-5, 0.0);
    let dist = cpu::sqdist(&xf, &xf, d);
    let mut near = 0;
    for i in 0..n {
        if idx[i] == want_idx[i] {
            continue;
        }
        let s = sorted_row(&dist, n, i);
        let dk = s[k - 1];
        let tie = |o: f64| (o - dk).abs() <= 1e-5 * dk;
        let near_tie = (k > 1 && tie(s[k - 2])) || (k < n - 1 && tie(s[k]));
        let picked = dist[i * n + idx[i] as usize];
        assert!(
            near_tie && idx[i] as usize != i && (picked - dk).abs() <= 1e-5 * dk,
            "knn n={n} d={d} k={k}: row {i} picked {} but the reference says {}",
            idx[i],
            want_idx[i]
        );
        near += 1;
    }
    near
}

fn gpu_knn(x: &[f32], d: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
    let n = x.len() / d;
    let (eps, idx) = (zeros(n), gpu().zeros(n, DType::U32).unwrap());
    run(&[pw::knn(gpu(), &up(x), d, k, &eps, &idx).unwrap()]);
    (down(&eps), gpu().download(&idx).unwrap())
}

#[test]
fn knn_matches_reference() {
    let mut rng = rng();
    for (n, d, k) in [
        (2, 1, 1),
        (5, 3, 4),
        (37, 3, 1),
        (37, 20, 3),
        (53, 33, 10),
        (200, 2, 5),
        (1024, 64, 10),
        (777, 20, 16),
    ] {
        let x = uniform(&mut rng, n * d, -1.0, 1.0);
        let (eps, idx) = gpu_knn(&x, d, k);
        let near = check_knn(&x, d, k, &eps, &idx);
        assert!(
            near * 20 <= n.max(20),
            "n={n}: {near} near-tie rows, suspiciously many"
        );
    }
}

/// Integer coordinates make every distance exact in f32 and f64 and give many exact ties and
/// duplicate points: idx must equal the twin's everywhere (ties to the lower index).
#[test]
fn knn_ties_break_to_lower_index() {
    let mut rng = rng();
    for (n, d, k) in [(300, 3, 1), (300, 3, 4), (257, 2, 7), (64, 8, 2)] {
        let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(0..6) as f32).collect();
        let (eps, idx) = gpu_knn(&x, d, k);
        let (want_eps, want_idx) = cpu::knn(&to_f64(&x), d, k);
        assert_eq!(idx, want_idx, "n={n} d={d} k={k}");
        assert_close("eps", &eps, &want_eps, 1e-6, 0.0);
    }
    // A hand-made tie: rows 1, 2, 3 all at distance 1 from row 0.
    let x = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
    let (_, idx) = gpu_knn(&x, 2, 1);
    assert_eq!(idx[0], 1);
    let (_, idx) = gpu_knn(&x, 2, 2);
    assert_eq!(idx[0], 2);
}

/// Per-element magnitude of the kNN gradient terms |deps_i / eps_i (x_i - x_j)|.
fn knn_scale(x: &[f64], d: usize, eps: &[f64], idx: &[u32], deps: &[f64]) -> Vec<f64> {
    let mut s = vec![0.0; x.len()];
    for i in 0..x.len() / d {
        let j = idx[i] as usize;
        if eps[i] > 0.0 {
            for f in 0..d {
                let t = (deps[i] / eps[i] * (x[i * d + f] - x[j * d + f])).abs();
                s[i * d + f] += t;
                s[j * d + f] += t;
            }
        }
    }
    s
}

#[test]
fn knn_backward_matches_reference() {
    let mut rng = rng();
    for (n, d, k) in [
        (2, 1, 1),
        (37, 3, 2),
        (53, 33, 5),
        (500, 20, 10),
        (1024, 64, 3),
    ] {
        let x = uniform(&mut rng, n * d, -1.0, 1.0);
        let xf = to_f64(&x);
        let (eps, idx) = cpu::knn(&xf, d, k);
        let deps = uniform(&mut rng, n, -1.0, 1.0);
        let depsf = to_f64(&deps);
        let want = cpu::knn_backward(&xf, d, &eps, &idx, &depsf);
        let scale = knn_scale(&xf, d, &eps, &idx, &depsf);
        let eps32: Vec<f32> = eps.iter().map(|&v| v as f32).collect();
        let (xb, eb, ib, db) = (up(&x), up(&eps32), gpu().upload(&idx).unwrap(), up(&deps));
        let dx = nan_buf(n * d);
        run(&[pw::knn_backward(gpu(), &xb, d, &eb, &ib, &db, &dx, false).unwrap()]);
        let tag = format!("knn dx n={n} d={d} k={k}");
        assert_close_scaled(&tag, &down(&dx), &want, &scale, 1e-5);
        let old = uniform(&mut rng, n * d, -1.0, 1.0);
        let dx = up(&old);
        run(&[pw::knn_backward(gpu(), &xb, d, &eb, &ib, &db, &dx, true).unwrap()]);
        assert_close_scaled(&tag, &down(&dx), &add(&want, &to_f64(&old)), &scale, 1e-5);
    }
}

/// Regression for the eps = 0 guard: with duplicate points the k-th neighbour distance is 0,
/// where ||x_i - x_j|| is not differentiable. The pair's gradient is 0 (the subgradient
/// choice), never NaN/Inf, and the other pairs' gradients are unaffected.
#[test]
fn knn_backward_duplicate_points_gives_zero_pair_gradient() {
    let d = 2;
    // Rows 1 and 3 coincide: each is the other's nearest neighbour at distance 0.
    let x = [0.0f32, 0.0, 5.0, 5.0, 1.0, 0.0, 5.0, 5.0, 0.0, 3.0];
    let (eps, idx) = gpu_knn(&x, d, 1);
    assert_eq!((idx[1], idx[3]), (3, 1));
    assert_eq!((eps[1], eps[3]), (0.0, 0.0));
    let deps = [1.0f32, 1.0, 1.0, 1.0, 1.0];
    let dx = nan_buf(x.len());
    let ib = gpu().upload(&idx).unwrap();
    run(&[pw::knn_backward(gpu(), &up(&x), d, &up(&eps), &ib, &up(&deps), &dx, false).unwrap()]);
    let got = down(&dx);
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    // Rows 1 and 3 take part in no pair with eps > 0: their gradient is exactly 0.
    assert_eq!(&got[2..4], &[0.0, 0.0]);
    assert_eq!(&got[6..8], &[0.0, 0.0]);
    let (e64, i64) = cpu::knn(&to_f64(&x), d, 1);
    let want = cpu::knn_backward(&to_f64(&x), d, &e64, &i64, &to_f64(&deps));
    assert_close("duplicates", &got, &want, 1e-6, 1e-7);
}

#[test]
fn mmd_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES.into_iter().chain([(1024, 1024, 20)]) {
        // y shifted a little so MMD is small next to its terms (the hard, realistic case).
        let (x, mut y) = inputs(&mut rng, n, m, d);
        y.iter_mut().for_each(|v| *v += 0.1);
        let (xf, yf) = (to_f64(&x), to_f64(&y));
        let (xb, yb) = (up(&x), up(&y));
        let scratch = zeros(pw::mmd_scratch_len(n, m));
        for kern in kernels(d) {
            for est in [MmdEstimator::Biased, MmdEstimator::Unbiased] {
                if est == MmdEstimator::Unbiased && (n < 2 || m < 2) {
                    continue;
                }
                let out = nan_buf(1);
                run(&pw::mmd(gpu(), kern, est, &xb, &yb, d, &scratch, &out).unwrap());
                let t = cpu::mmd_terms(kern, est, &xf, &yf, d);
                let want = t[0] + t[1] - 2.0 * t[2];
                // A difference of means: its f32 error scales with the terms, not the result.
                let atol = 1e-5 * (t[0].abs() + t[1].abs() + 2.0 * t[2].abs());
                let tag = format!("mmd {kern:?} {est:?} {n}x{m}x{d}");
                assert_close(&tag, &down(&out), &[want], 0.0, atol);
            }
        }
    }
}

/// Per-element magnitude of the MMD gradient terms (sums of |coefficient * k' * 2 diff|).
fn mmd_scale(kern: PairKernel, est: MmdEstimator, x: &[f64], y: &[f64], d: usize) -> [Vec<f64>; 2] {
    let (n, m) = (x.len() / d, y.len() / d);
    let [c_xx, c_yy, c_xy] = pw::mmd_coefs(est, n, m);
    let w = |a: &[f64], b: &[f64], c: f64| -> Vec<f64> {
        cpu::sqdist(a, b, d)
            .iter()
            .map(|&v| c * cpu::kernel_deriv(kern, v))
            .collect()
    };
    let (sxx, _) = grad_scale(x, x, d, &w(x, x, 2.0 * c_xx));
    let (syy, _) = grad_scale(y, y, d, &w(y, y, 2.0 * c_yy));
    let (sx, sy) = grad_scale(x, y, d, &w(x, y, c_xy));
    [add(&sxx, &sx), add(&syy, &sy)]
}

#[test]
fn mmd_backward_matches_reference() {
    let mut rng = rng();
    for (n, m, d) in SHAPES {
        let (x, y) = inputs(&mut rng, n, m, d);
        let (xf, yf) = (to_f64(&x), to_f64(&y));
        let (xb, yb) = (up(&x), up(&y));
        let scratch = zeros(pw::mmd_backward_scratch_len(n, m));
        let dmmd = rng.random_range(0.5f32..2.0);
        let dmmd_b = up(&[dmmd]);
        for kern in kernels(d) {
            for est in [MmdEstimator::Biased, MmdEstimator::Unbiased] {
                if est == MmdEstimator::Unbiased && (n < 2 || m < 2) {
                    continue;
                }
                let tag = format!("{kern:?} {est:?} {n}x{m}x{d}");
                let (want_x, want_y) = cpu::mmd_backward(kern, est, &xf, &yf, d, dmmd as f64);
                let [sx, sy] = mmd_scale(kern, est, &xf, &yf, d)
                    .map(|s| s.iter().map(|v| v * dmmd as f64).collect::<Vec<_>>());
                let old = uniform(&mut rng, n * d, -1.0, 1.0);
                let (dx, dy) = (up(&old), nan_buf(m * d));
                let ds = pw::mmd_backward(
                    gpu(),
                    kern,
                    est,
                    &xb,
                    &yb,
                    d,
                    &dmmd_b,
                    &scratch,
                    &dx,
                    Some(&dy),
                    true,
                )
                .unwrap();
                run(&ds);
                let want = add(&want_x, &to_f64(&old));
                assert_close_scaled(&format!("dx acc {tag}"), &down(&dx), &want, &sx, 1e-5);
                // Accumulate only applies to dx's first pass; dy here was written over NaN.
                let ds = pw::mmd_backward(
                    gpu(),
                    kern,
                    est,
                    &xb,
                    &yb,
                    d,
                    &dmmd_b,
                    &scratch,
                    &dx,
                    Some(&dy),
                    false,
                )
                .unwrap();
                run(&ds);
                assert_close_scaled(&format!("dx {tag}"), &down(&dx), &want_x, &sx, 1e-5);
                assert_close_scaled(&format!("dy {tag}"), &down(&dy), &want_y, &sy, 1e-5);
                // y fixed (prior samples): no dy, same dx.
                let dx = nan_buf(n * d);
                let ds = pw::mmd_backward(
                    gpu(),
                    kern,
                    est,
                    &xb,
                    &yb,
                    d,
                    &dmmd_b,
                    &scratch,
                    &dx,
                    None,
                    false,
                )
                .unwrap();
                assert_eq!(ds.len(), 4, "no y-side passes without dy");
                run(&ds);
                assert_close_scaled(&format!("dx only {tag}"), &down(&dx), &want_x, &sx, 1e-5);
            }
        }
    }
}

// ---- gradchecks of the f64 twins (central differences) ----

fn split(z: &[f64], nx: usize) -> (&[f64], &[f64]) {
    z.split_at(nx)
}

fn rand64(rng: &mut StdRng, len: usize) -> Vec<f64> {
    to_f64(&uniform(rng, len, -1.0, 1.0))
}

#[test]
fn twin_backwards_pass_gradcheck() {
    let mut rng = rng();
    let (n, m, d) = (6, 5, 3);
    let (x, y) = (rand64(&mut rng, n * d), rand64(&mut rng, m * d));
    let z = [x.clone(), y.clone()].concat();
    let nx = n * d;

    let dd = rand64(&mut rng, n * m);
    let (dx, dy) = cpu::sqdist_backward(&x, &y, d, &dd);
    let f = |z: &[f64]| {
        let (a, b) = split(z, nx);
        cpu::sqdist(a, b, d)
    };
    gradcheck("sqdist", f, &z, &dd, &[dx, dy].concat(), 1e-6, 1e-6);

    let dds = rand64(&mut rng, n * n);
    let dx = cpu::sqdist_self_backward(&x, d, &dds);
    gradcheck(
        "sqdist self",
        |x| cpu::sqdist(x, x, d),
        &x,
        &dds,
        &dx,
        1e-6,
        1e-6,
    );

    for kern in [PairKernel::Gaussian { s: 1.5 }, PairKernel::Imq { c: 0.7 }] {
        let (dx, dy) = cpu::kernel_matrix_backward(kern, &x, &y, d, &dd);
        let f = |z: &[f64]| {
            let (a, b) = split(z, nx);
            cpu::kernel_matrix(kern, a, b, d)
        };
        gradcheck(
            &format!("{kern:?}"),
            f,
            &z,
            &dd,
            &[dx, dy].concat(),
            1e-6,
            1e-6,
        );
        let dx = cpu::kernel_matrix_self_backward(kern, &x, d, &dds);
        let f = |x: &[f64]| cpu::kernel_matrix(kern, x, x, d);
        gradcheck(&format!("{kern:?} self"), f, &x, &dds, &dx, 1e-6, 1e-6);

        for est in [MmdEstimator::Biased, MmdEstimator::Unbiased] {
            let (dx, dy) = cpu::mmd_backward(kern, est, &x, &y, d, 1.7);
            let f = |z: &[f64]| {
                let (a, b) = split(z, nx);
                vec![cpu::mmd(kern, est, a, b, d)]
            };
            gradcheck(
                &format!("mmd {kern:?} {est:?}"),
                f,
                &z,
                &[1.7],
                &[dx, dy].concat(),
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn knn_twin_backward_passes_gradcheck() {
    let mut rng = rng();
    for (n, d, k) in [(2, 1, 1), (9, 3, 1), (12, 4, 3), (10, 2, 9)] {
        // Resample until every row's k-th neighbour is clear of the (k-1)-th and (k+1)-th by
        // far more than a step of h can move a distance, so the neighbour never changes.
        let x = loop {
            let x = rand64(&mut rng, n * d);
            let dist = cpu::sqdist(&x, &x, d);
            let clear = (0..n).all(|i| {
                let s = sorted_row(&dist, n, i);
                let gap = |o: f64| (o - s[k - 1]).abs() > 1e-3;
                (k == 1 || gap(s[k - 2])) && (k == n - 1 || gap(s[k])) && s[k - 1] > 1e-3
            });
            if clear {
                break x;
            }
        };
        let (eps, idx) = cpu::knn(&x, d, k);
        let deps = rand64(&mut rng, n);
        let dx = cpu::knn_backward(&x, d, &eps, &idx, &deps);
        let f = |x: &[f64]| cpu::knn(x, d, k).0;
        gradcheck(&format!("knn n={n} k={k}"), f, &x, &deps, &dx, 1e-7, 1e-6);
    }
}

/// n x m distances with enough tiles that the grid folds past 65,535 workgroups in x.
#[test]
fn sqdist_over_65535_workgroups() {
    let mut rng = rng();
    let (m, d) = (8, 2);
    let per_group = pw::workgroup_size(gpu()) * pw::TILE * pw::TILE;
    let n = (65_535 * per_group + 1) / m + 7; // 7: not a multiple of the tile
    let (x, y) = inputs(&mut rng, n, m, d);
    let out = zeros(n * m);
    let (xb, yb) = (up(&x), up(&y));
    let ds = pw::sqdist(gpu(), &xb, &yb, d, &out).unwrap();
    let groups: u64 = ds.groups.iter().map(|&g| g as u64).product();
    assert!(groups > 65_535 && ds.groups[1] > 1, "grid {:?}", ds.groups);
    run(&[ds]);
    let want = cpu::sqdist(&to_f64(&x), &to_f64(&y), d);
    assert_close(&format!("D n={n}"), &down(&out), &want, 1e-5, 0.0);
}

#[test]
fn bad_input_is_an_error() {
    let g: &Gpu = gpu();
    let x = zeros(15); // [5, 3]
    let y8 = zeros(8); // not [m, 3]
    let y12 = zeros(12); // [4, 3]
    let (eps, idx) = (zeros(5), g.zeros(5, DType::U32).unwrap());
    // kNN: k must be in 1..n, and at most KNN_MAX_K.
    assert!(pw::knn(g, &x, 3, 0, &eps, &idx).is_err());
    assert!(pw::knn(g, &x, 3, 5, &eps, &idx).is_err());
    assert!(pw::knn(g, &x, 3, 4, &eps, &idx).is_ok());
    let big = zeros(40 * 3);
    let (e40, i40) = (zeros(40), g.zeros(40, DType::U32).unwrap());
    assert!(pw::knn(g, &big, 3, pw::KNN_MAX_K + 1, &e40, &i40).is_err());
    assert!(pw::knn(g, &x, 3, 1, &eps, &eps).is_err(), "idx must be u32");
    assert!(
        pw::knn(g, &x, 4, 1, &eps, &idx).is_err(),
        "15 is not [n, 4]"
    );
    assert!(pw::knn(g, &x, 0, 1, &eps, &idx).is_err(), "d = 0");
    // Mismatched d between x and y, and wrong output sizes.
    assert!(pw::sqdist(g, &x, &y8, 3, &zeros(10)).is_err());
    assert!(pw::sqdist(g, &x, &y12, 3, &zeros(21)).is_err());
    assert!(pw::sqdist(g, &x, &y12, 3, &zeros(20)).is_ok());
    let dd = zeros(20);
    assert!(pw::sqdist_backward(g, &x, &y12, 3, &dd, Some(&zeros(12)), None, false).is_err());
    assert!(pw::sqdist_self_backward(g, &x, 3, &dd, &zeros(15), false).is_err());
    let kern = PairKernel::Gaussian { s: 3.0 };
    assert!(pw::kernel_matrix(g, PairKernel::Imq { c: 0.0 }, &x, &y12, 3, &dd).is_err());
    assert!(pw::kernel_matrix(g, kern, &x, &y8, 3, &dd).is_err());
    assert!(
        pw::kernel_matrix_backward(g, kern, &x, &y12, 3, &dd, &zeros(19), None, None, false)
            .is_err()
    );
    // MMD: mismatched d, small scratch, the U-statistic with one row.
    let (s, out) = (zeros(pw::mmd_scratch_len(5, 4)), zeros(1));
    let est = MmdEstimator::Biased;
    assert!(pw::mmd(g, kern, est, &x, &y8, 3, &s, &out).is_err());
    assert!(pw::mmd(g, kern, est, &x, &y12, 3, &zeros(13), &out).is_err());
    assert!(pw::mmd(g, kern, est, &x, &y12, 3, &s, &out).is_ok());
    let one = zeros(3);
    let s1 = zeros(pw::mmd_scratch_len(1, 4));
    assert!(pw::mmd(g, kern, MmdEstimator::Unbiased, &one, &y12, 3, &s1, &out).is_err());
    assert!(pw::mmd(g, kern, est, &one, &y12, 3, &s1, &out).is_ok());
    let sb = zeros(pw::mmd_backward_scratch_len(5, 4));
    assert!(pw::mmd_backward(
        g,
        kern,
        est,
        &x,
        &y12,
        3,
        &out,
        &sb,
        &zeros(12),
        None,
        false
    )
    .is_err());
    assert!(
        pw::mmd_backward(g, kern, est, &x, &y12, 3, &out, &s, &zeros(15), None, false).is_err()
    );
}
