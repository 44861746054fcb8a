//! Batchnorm family vs its f64 twin: batch statistics, normalisation (batch and running
//! statistics, with and without affine), running update, backward of both modes (gradcheck of
//! the twin, GPU vs twin, accumulation), large tensors on folded grids, the degenerate one
//! value per feature case, and bad input.
//!
//! Shapes: x [B, F] (Rows) or [N, C, H, W] (Nchw); statistics and parameters [F].
mod common;
use common::*;
use rand::rngs::StdRng;
use shadergrad::kernels::batchnorm::{
    self as bn, cpu, Affine, BatchNormSpec, Grads, ParamGrads, Stats,
};
use shadergrad::{Buf, DType, Dispatch};

fn up(v: &[f32]) -> Buf {
    gpu().upload(v).unwrap()
}
fn up64(v: &[f64]) -> Buf {
    up(&v.iter().map(|&x| x as f32).collect::<Vec<_>>())
}
fn down(b: &Buf) -> Vec<f32> {
    gpu().download(b).unwrap()
}
fn nans(n: usize) -> Buf {
    up(&vec![f32::NAN; n])
}
fn f32s(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}
fn run(ds: &[Dispatch]) {
    gpu().run(&ds.iter().collect::<Vec<_>>()).unwrap();
}
fn scratch(spec: &BatchNormSpec) -> Buf {
    let n = bn::batch_stats_scratch_len(spec).max(bn::backward_scratch_len(spec));
    gpu().zeros(n, DType::F32).unwrap()
}
fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Awkward shapes: one value per feature, single features, not multiples of 64, and counts
/// past 1024 (several levels of partial sums).
fn specs() -> Vec<BatchNormSpec> {
    vec![
        BatchNormSpec::rows(1, 1),
        BatchNormSpec::rows(1, 5),
        BatchNormSpec::rows(2, 1),
        BatchNormSpec::rows(128, 32),
        BatchNormSpec::rows(37, 3),
        BatchNormSpec::rows(3000, 2),
        BatchNormSpec::nchw(1, 1, 1, 1),
        BatchNormSpec::nchw(1, 3, 1, 1),
        BatchNormSpec::nchw(2, 3, 5, 7),
        BatchNormSpec::nchw(3, 2, 33, 17),
        BatchNormSpec::nchw(5, 4, 1, 1),
    ]
}

/// Random (gamma, beta) for a spec.
fn params(rng: &mut StdRng, spec: &BatchNormSpec) -> (Vec<f64>, Vec<f64>) {
    let f = spec.features();
    (
        to_f64(&uniform(rng, f, 0.5, 1.5)),
        to_f64(&uniform(rng, f, -1.0, 1.0)),
    )
}

/// GPU batch statistics of x.
fn gpu_stats(spec: &BatchNormSpec, x: &Buf) -> (Buf, Buf, Buf) {
    let gpu = gpu();
    let f = spec.features();
    let (m, v, r) = (nans(f), nans(f), nans(f));
    let s = scratch(spec);
    run(&bn::batch_stats(gpu, spec, x, &m, &v, &r, &s).unwrap());
    (m, v, r)
}

#[test]
fn batch_stats_match_f64() {
    let mut rng = rng();
    for spec in specs() {
        // Mean ~1 (a shifted distribution), and mean 100 with std ~0.6, where a one-pass
        // sum(x^2) - n mean^2 would lose most digits of the variance.
        for (lo, hi) in [(-1.0, 3.0), (99.0, 101.0)] {
            let x = uniform(&mut rng, spec.numel(), lo, hi);
            let (m, v, r) = gpu_stats(&spec, &up(&x));
            let (wm, wv, wr) = cpu::batch_stats(&spec, &to_f64(&x));
            let what = format!("{:?} x in [{lo}, {hi})", spec.layout);
            // The mean's rounding scales with the data (|x| <= 101), not with the mean itself.
            assert_close(
                &format!("mean {what}"),
                &down(&m),
                &wm,
                1e-5,
                1e-5 * hi as f64,
            );
            // var is 0 exactly for one value per feature, else ~0.3..1.3: relative.
            assert_close(&format!("var {what}"), &down(&v), &wv, 1e-5, 0.0);
            assert_close(&format!("rstd {what}"), &down(&r), &wr, 1e-5, 0.0);
        }
    }
}

#[test]
fn normalize_and_eval_match_f64_with_and_without_affine() {
    let gpu = gpu();
    let mut rng = rng();
    for spec in specs() {
        let f = spec.features();
        let x = uniform(&mut rng, spec.numel(), -1.0, 3.0);
        let xf = to_f64(&x);
        let (xb, y) = (up(&x), nans(spec.numel()));
        let (gamma, beta) = params(&mut rng, &spec);
        let (gb, bb) = (up64(&gamma), up64(&beta));
        // Statistics as the GPU holds them (f32), so only the normalisation is compared.
        let (mean, _, rstd) = cpu::batch_stats(&spec, &xf);
        let (mean, rstd) = (f32s(&mean), f32s(&rstd));
        let rm = to_f64(&uniform(&mut rng, f, -1.0, 3.0));
        let rv = to_f64(&uniform(&mut rng, f, 0.5, 2.0));
        let (mb, rb, rmb, rvb) = (up64(&mean), up64(&rstd), up64(&rm), up64(&rv));
        for affine in [false, true] {
            let spec = spec.with_affine(affine);
            let aff = affine.then_some(Affine {
                gamma: &gb,
                beta: &bb,
            });
            let aff64 = affine.then_some((&gamma[..], &beta[..]));
            let what = format!("{:?} affine={affine}", spec.layout);
            // y = gamma xhat + beta is O(1) here and crosses zero; its f32 rounding is absolute
            // at that scale, hence atol 1e-5.
            let batch = Stats::Batch {
                mean: &mb,
                rstd: &rb,
            };
            run(&[bn::normalize(gpu, &spec, &xb, batch, aff, &y).unwrap()]);
            let want = cpu::normalize(&spec, &xf, &mean, &rstd, aff64);
            assert_close(&format!("normalize {what}"), &down(&y), &want, 1e-5, 1e-5);
            run(&[bn::eval(gpu, &spec, &xb, &rmb, &rvb, aff, &y).unwrap()]);
            let want = cpu::eval(&spec, &xf, &rm, &rv, aff64);
            assert_close(&format!("eval {what}"), &down(&y), &want, 1e-5, 1e-5);
            // End to end: GPU statistics, then normalize, vs the f64 training forward.
            let (m, _, r) = gpu_stats(&spec, &xb);
            let batch = Stats::Batch { mean: &m, rstd: &r };
            run(&[bn::normalize(gpu, &spec, &xb, batch, aff, &y).unwrap()]);
            let want = cpu::forward_train(&spec, &xf, aff64);
            assert_close(&format!("forward {what}"), &down(&y), &want, 1e-5, 1e-5);
        }
    }
}

#[test]
fn running_update_matches_f64() {
    let gpu = gpu();
    let mut rng = rng();
    for spec in specs() {
        for momentum in [0.1, 0.37, 0.0, 1.0] {
            let spec = spec.with_momentum(momentum);
            let f = spec.features();
            let mean = to_f64(&uniform(&mut rng, f, -1.0, 1.0));
            let var = to_f64(&uniform(&mut rng, f, 0.0, 2.0));
            let rm = to_f64(&uniform(&mut rng, f, -1.0, 1.0));
            let rv = to_f64(&uniform(&mut rng, f, 0.5, 2.0));
            let (rmb, rvb) = (up64(&rm), up64(&rv));
            let d = bn::running_update(gpu, &spec, &up64(&mean), &up64(&var), &rmb, &rvb);
            run(&[d.unwrap()]);
            let (wm, wv) = cpu::running_update(&spec, &mean, &var, &rm, &rv);
            let what = format!("{:?} momentum {momentum}", spec.layout);
            // (1 - m) running + m batch can cancel to near 0 for the mean; its rounding is
            // absolute at the scale of the O(1) terms.
            assert_close(
                &format!("running mean {what}"),
                &down(&rmb),
                &wm,
                1e-6,
                1e-6,
            );
            assert_close(&format!("running var {what}"), &down(&rvb), &wv, 1e-6, 0.0);
        }
    }
}

/// B = 1 (one value per feature): variance 0, rstd = 1/sqrt(eps), xhat = 0 so y = beta; the
/// unbiased running variance n/(n-1) is undefined, so the running variance is left unchanged
/// (PyTorch refuses to train here; we keep the step finite) while the running mean moves.
#[test]
fn one_value_per_feature_is_degenerate_but_finite() {
    let gpu = gpu();
    let mut rng = rng();
    for spec in [BatchNormSpec::rows(1, 6), BatchNormSpec::nchw(1, 6, 1, 1)] {
        let x = uniform(&mut rng, 6, -1.0, 1.0);
        let xb = up(&x);
        let (m, v, r) = gpu_stats(&spec, &xb);
        assert_eq!(down(&m), x);
        assert_eq!(down(&v), vec![0.0; 6]);
        assert_close(
            "rstd",
            &down(&r),
            &[1.0 / (1e-5f32 as f64).sqrt(); 6],
            1e-6,
            0.0,
        );
        let (g, b) = (up(&[2.0; 6]), up(&[0.25; 6]));
        let y = nans(6);
        let aff = Some(Affine {
            gamma: &g,
            beta: &b,
        });
        let batch = Stats::Batch { mean: &m, rstd: &r };
        run(&[bn::normalize(gpu, &spec, &xb, batch, aff, &y).unwrap()]);
        assert_eq!(down(&y), vec![0.25; 6]);
        let rv0 = vec![0.75f32; 6];
        let (rm, rv) = (up(&[0.0; 6]), up(&rv0));
        run(&[bn::running_update(gpu, &spec, &m, &v, &rm, &rv).unwrap()]);
        assert_eq!(down(&rv), rv0, "running var must be left unchanged");
        let want: Vec<f64> = x.iter().map(|&v| 0.1f32 as f64 * v as f64).collect();
        assert_close("running mean", &down(&rm), &want, 1e-6, 0.0);
    }
}

/// Small shapes for central differences, both layouts; count 1 included (dx = 0 there).
fn grad_specs() -> Vec<BatchNormSpec> {
    vec![
        BatchNormSpec::rows(4, 3),
        BatchNormSpec::rows(2, 2),
        BatchNormSpec::rows(1, 3),
        BatchNormSpec::nchw(2, 2, 2, 3),
        BatchNormSpec::nchw(1, 3, 1, 2),
    ]
}

#[test]
fn backward_twins_pass_gradcheck() {
    let mut rng = rng();
    for spec in grad_specs() {
        for affine in [false, true] {
            let spec = spec.with_affine(affine);
            let (n, f) = (spec.numel(), spec.features());
            let x = to_f64(&uniform(&mut rng, n, -1.0, 1.0));
            let dy = to_f64(&uniform(&mut rng, n, -1.0, 1.0));
            let (gamma, beta) = params(&mut rng, &spec);
            let aff = affine.then_some((&gamma[..], &beta[..]));
            let g = affine.then_some(&gamma[..]);
            let what = format!("{:?} affine={affine}", spec.layout);
            // Training: the statistics are functions of x.
            let (mean, _, rstd) = cpu::batch_stats(&spec, &x);
            let gr = cpu::backward(&spec, &x, &mean, &rstd, &dy, g);
            let fx = |x: &[f64]| cpu::forward_train(&spec, x, aff);
            gradcheck(&format!("train dx {what}"), fx, &x, &dy, &gr.dx, 1e-5, 1e-6);
            let fg = |g: &[f64]| cpu::forward_train(&spec, &x, Some((g, &beta[..])));
            gradcheck(
                &format!("train dgamma {what}"),
                fg,
                &gamma,
                &dy,
                &gr.dgamma,
                1e-5,
                1e-6,
            );
            let fb = |b: &[f64]| cpu::forward_train(&spec, &x, Some((&gamma[..], b)));
            gradcheck(
                &format!("train dbeta {what}"),
                fb,
                &beta,
                &dy,
                &gr.dbeta,
                1e-5,
                1e-6,
            );
            // Eval: the running statistics are constants.
            let rm = to_f64(&uniform(&mut rng, f, -1.0, 1.0));
            let rv = to_f64(&uniform(&mut rng, f, 0.5, 2.0));
            let gr = cpu::eval_backward(&spec, &x, &rm, &rv, &dy, g);
            let fx = |x: &[f64]| cpu::eval(&spec, x, &rm, &rv, aff);
            gradcheck(&format!("eval dx {what}"), fx, &x, &dy, &gr.dx, 1e-5, 1e-6);
            let fg = |g: &[f64]| cpu::eval(&spec, &x, &rm, &rv, Some((g, &beta[..])));
            gradcheck(
                &format!("eval dgamma {what}"),
                fg,
                &gamma,
                &dy,
                &gr.dgamma,
                1e-5,
                1e-6,
            );
            let fb = |b: &[f64]| cpu::eval(&spec, &x, &rm, &rv, Some((&gamma[..], b)));
            gradcheck(
                &format!("eval dbeta {what}"),
                fb,
                &beta,
                &dy,
                &gr.dbeta,
                1e-5,
                1e-6,
            );
        }
    }
}

/// Tolerances for one backward's outputs. dx = g r (dy - mean(dy) - xhat mean(dy xhat)) is a
/// difference of terms of size |g r dy| whose per-feature mean is 0, so its rounding is absolute
/// at that scale; dgamma and dbeta are sums whose rounding scales with count * |dy| * |xhat|.
fn backward_atol(spec: &BatchNormSpec, gr: &[f64], dy: &[f64], xhat_max: f64) -> (f64, f64) {
    let dy_max = max_abs(dy);
    (
        1e-5 * max_abs(gr) * dy_max,
        1e-5 * spec.count() as f64 * dy_max * xhat_max.max(1.0),
    )
}

/// Run the GPU backward (dx over NaN unless accumulating) and compare with the twin.
#[test]
fn gpu_backward_matches_f64_and_accumulates() {
    let gpu = gpu();
    let mut rng = rng();
    for spec in specs() {
        for (affine, eval) in [(false, false), (true, false), (false, true), (true, true)] {
            let spec = spec.with_affine(affine);
            let (n, f) = (spec.numel(), spec.features());
            let x = uniform(&mut rng, n, -1.0, 3.0);
            let dy = uniform(&mut rng, n, -1.0, 1.0);
            let (xf, dyf) = (to_f64(&x), to_f64(&dy));
            let (gamma, _) = params(&mut rng, &spec);
            let gamma = f32s(&gamma);
            let g = affine.then_some(&gamma[..]);
            // Statistics as f32 values, the same on both sides.
            let (mean, rstat, want) = if eval {
                let rm = f32s(&to_f64(&uniform(&mut rng, f, -1.0, 3.0)));
                let rv = f32s(&to_f64(&uniform(&mut rng, f, 0.5, 2.0)));
                let w = cpu::eval_backward(&spec, &xf, &rm, &rv, &dyf, g);
                (rm, rv, w)
            } else {
                let (m, _, r) = cpu::batch_stats(&spec, &xf);
                let (m, r) = (f32s(&m), f32s(&r));
                let w = cpu::backward(&spec, &xf, &m, &r, &dyf, g);
                (m, r, w)
            };
            let rstd: Vec<f64> = match eval {
                true => rstat
                    .iter()
                    .map(|v| 1.0 / (v + 1e-5f32 as f64).sqrt())
                    .collect(),
                false => rstat.clone(),
            };
            let gr: Vec<f64> = (0..f).map(|k| g.map_or(1.0, |g| g[k]) * rstd[k]).collect();
            let xhat_max = (0..f)
                .map(|k| rstd[k] * (4.0 + mean[k].abs()))
                .fold(0.0, f64::max);
            let (atol_dx, atol_p) = backward_atol(&spec, &gr, &dyf, xhat_max);

            let (xb, dyb, mb, rb, gb) = (up(&x), up(&dy), up64(&mean), up64(&rstat), up64(&gamma));
            let (dx, dgamma, dbeta) = (nans(n), nans(f), nans(f));
            let s = scratch(&spec);
            let stats = match eval {
                true => Stats::Running {
                    mean: &mb,
                    var: &rb,
                },
                false => Stats::Batch {
                    mean: &mb,
                    rstd: &rb,
                },
            };
            let build = |acc_dx: bool, acc_p: bool| {
                let grads = Grads {
                    dy: &dyb,
                    dx: &dx,
                    accumulate_dx: acc_dx,
                    params: affine.then_some(ParamGrads {
                        dgamma: &dgamma,
                        dbeta: &dbeta,
                        accumulate: acc_p,
                    }),
                };
                bn::backward(gpu, &spec, &xb, stats, affine.then_some(&gb), &grads, &s).unwrap()
            };
            let what = format!("{:?} affine={affine} eval={eval}", spec.layout);
            let check = |k_dx: f64, k_p: f64| {
                let scaled = |v: &[f64], k: f64| v.iter().map(|a| a * k).collect::<Vec<_>>();
                let dxw = scaled(&want.dx, k_dx);
                assert_close(
                    &format!("dx {what} x{k_dx}"),
                    &down(&dx),
                    &dxw,
                    1e-5,
                    k_dx * atol_dx,
                );
                if affine {
                    let dg = scaled(&want.dgamma, k_p);
                    let db = scaled(&want.dbeta, k_p);
                    assert_close(
                        &format!("dgamma {what}"),
                        &down(&dgamma),
                        &dg,
                        1e-5,
                        k_p * atol_p,
                    );
                    assert_close(
                        &format!("dbeta {what}"),
                        &down(&dbeta),
                        &db,
                        1e-5,
                        k_p * atol_p,
                    );
                }
            };
            // Write over NaN; then add to dx only; then add to the parameters only.
            run(&build(false, false));
            check(1.0, 1.0);
            run(&build(true, false));
            check(2.0, 1.0);
            run(&build(false, true));
            check(1.0, 2.0);
        }
    }
}

/// Tensors of 4.2M and 4.6M elements: the elementwise kernels need more than 65,535
/// workgroups (a folded grid), and each feature's sums run over 600k-2.3M values (several
/// levels). GPU statistics -> normalize -> backward, end to end against the f64 twin.
#[test]
fn large_tensors_end_to_end() {
    let gpu = gpu();
    let mut rng = rng();
    for spec in [
        BatchNormSpec::rows(600_001, 7),
        BatchNormSpec::nchw(3, 2, 1100, 700),
    ] {
        let (n, f) = (spec.numel(), spec.features());
        let x = uniform(&mut rng, n, -1.0, 3.0);
        let dy = uniform(&mut rng, n, -1.0, 1.0);
        let (xf, dyf) = (to_f64(&x), to_f64(&dy));
        let (gamma, beta) = params(&mut rng, &spec);
        let what = format!("{:?}", spec.layout);
        let (xb, dyb, gb, bb) = (up(&x), up(&dy), up64(&gamma), up64(&beta));
        let (m, _, r) = gpu_stats(&spec, &xb);
        let (wm, _, wr) = cpu::batch_stats(&spec, &xf);
        assert_close(&format!("mean {what}"), &down(&m), &wm, 1e-5, 3e-5);
        assert_close(&format!("rstd {what}"), &down(&r), &wr, 1e-5, 0.0);
        let y = gpu.zeros(n, DType::F32).unwrap();
        let aff = Some(Affine {
            gamma: &gb,
            beta: &bb,
        });
        let batch = Stats::Batch { mean: &m, rstd: &r };
        let d = bn::normalize(gpu, &spec, &xb, batch, aff, &y).unwrap();
        assert!(
            d.groups[1] > 1,
            "expected a folded grid, got {:?}",
            d.groups
        );
        run(&[d]);
        let want = cpu::forward_train(&spec, &xf, Some((&gamma[..], &beta[..])));
        assert_close(&format!("y {what}"), &down(&y), &want, 1e-5, 1e-5);
        let (dx, dg, db) = (nans(n), nans(f), nans(f));
        let grads = Grads {
            dy: &dyb,
            dx: &dx,
            accumulate_dx: false,
            params: Some(ParamGrads {
                dgamma: &dg,
                dbeta: &db,
                accumulate: false,
            }),
        };
        let s = scratch(&spec);
        run(&bn::backward(gpu, &spec, &xb, batch, Some(&gb), &grads, &s).unwrap());
        let w = cpu::backward(&spec, &xf, &wm, &wr, &dyf, Some(&gamma));
        let gr: Vec<f64> = (0..f).map(|k| gamma[k] * wr[k]).collect();
        let (atol_dx, atol_p) = backward_atol(&spec, &gr, &dyf, 3.0);
        assert_close(&format!("dx {what}"), &down(&dx), &w.dx, 1e-5, atol_dx);
        assert_close(
            &format!("dgamma {what}"),
            &down(&dg),
            &w.dgamma,
            1e-5,
            atol_p,
        );
        assert_close(&format!("dbeta {what}"), &down(&db), &w.dbeta, 1e-5, atol_p);
    }
}

/// Regression for llvmpipe's silent cap of 65,535 loop iterations per invocation: a feature
/// with 200k values must be summed in bounded chunks. Values 0, 1, 2, 3 repeating: the sums
/// are exact in f32, mean 1.5 and variance 1.25 exactly.
#[test]
fn long_features_stay_under_lavapipe_loop_limit() {
    let count = 200_000;
    for spec in [
        BatchNormSpec::rows(count, 1),
        BatchNormSpec::nchw(2, 1, 400, 250),
    ] {
        let x: Vec<f32> = (0..count).map(|j| (j % 4) as f32).collect();
        let (m, v, _) = gpu_stats(&spec, &up(&x));
        assert_eq!(
            (down(&m), down(&v)),
            (vec![1.5], vec![1.25]),
            "{:?}",
            spec.layout
        );
    }
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let z = |n| gpu.zeros(n, DType::F32).unwrap();
    let spec = BatchNormSpec::rows(4, 3).with_affine(false);
    let (x, y, m, v, r) = (z(12), z(12), z(3), z(3), z(3));
    let s = z(bn::batch_stats_scratch_len(&spec));
    let (short, g, b) = (z(11), z(3), z(3));
    assert!(bn::batch_stats(gpu, &spec, &x, &m, &v, &r, &s).is_ok());
    assert!(
        bn::batch_stats(gpu, &spec, &short, &m, &v, &r, &s).is_err(),
        "x length"
    );
    assert!(
        bn::batch_stats(gpu, &spec, &x, &m, &v, &x, &s).is_err(),
        "rstd length"
    );
    assert!(
        bn::batch_stats(gpu, &spec, &x, &m, &v, &r, &z(1)).is_err(),
        "scratch"
    );
    assert!(
        bn::batch_stats(gpu, &spec, &x, &m, &m, &r, &s).is_err(),
        "aliasing"
    );
    for bad in [
        BatchNormSpec::rows(0, 3),
        BatchNormSpec::nchw(2, 3, 0, 4),
        spec.with_eps(0.0),
        spec.with_eps(f32::NAN),
        spec.with_momentum(1.5),
    ] {
        assert!(
            bn::batch_stats(gpu, &bad, &x, &m, &v, &r, &s).is_err(),
            "{bad:?}"
        );
    }
    let batch = Stats::Batch { mean: &m, rstd: &r };
    let aff = Some(Affine {
        gamma: &g,
        beta: &b,
    });
    assert!(bn::normalize(gpu, &spec, &x, batch, None, &y).is_ok());
    assert!(
        bn::normalize(gpu, &spec, &x, batch, aff, &y).is_err(),
        "affine mismatch"
    );
    let affine = spec.with_affine(true);
    assert!(
        bn::normalize(gpu, &affine, &x, batch, None, &y).is_err(),
        "affine missing"
    );
    assert!(bn::normalize(gpu, &affine, &x, batch, aff, &y).is_ok());
    assert!(
        bn::normalize(gpu, &spec, &x, batch, None, &x).is_err(),
        "y is x"
    );
    assert!(
        bn::normalize(gpu, &spec, &x, batch, None, &short).is_err(),
        "y length"
    );
    assert!(
        bn::eval(gpu, &spec, &x, &m, &short, None, &y).is_err(),
        "running var length"
    );
    assert!(bn::running_update(gpu, &spec, &m, &v, &g, &b).is_ok());
    assert!(
        bn::running_update(gpu, &spec, &m, &v, &g, &x).is_err(),
        "running var length"
    );
    assert!(
        bn::running_update(gpu, &spec, &m, &v, &g, &g).is_err(),
        "aliasing"
    );
    let (dy, dx) = (z(12), z(12));
    let grads = Grads {
        dy: &dy,
        dx: &dx,
        accumulate_dx: false,
        params: None,
    };
    assert!(bn::backward(gpu, &spec, &x, batch, None, &grads, &s).is_ok());
    assert!(
        bn::backward(gpu, &spec, &x, batch, Some(&g), &grads, &s).is_err(),
        "gamma"
    );
    assert!(
        bn::backward(gpu, &affine, &x, batch, Some(&g), &grads, &s).is_err(),
        "no dgamma"
    );
    assert!(
        bn::backward(gpu, &spec, &short, batch, None, &grads, &s).is_err(),
        "x length"
    );
    assert!(
        bn::backward(gpu, &spec, &x, batch, None, &grads, &z(1)).is_err(),
        "scratch"
    );
    let bad = Grads { dx: &dy, ..grads };
    assert!(
        bn::backward(gpu, &spec, &x, batch, None, &bad, &s).is_err(),
        "dx is dy"
    );
}
