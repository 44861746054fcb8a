//! Loss family vs its f64 twin: every entry point on fresh random inputs at size 1, at sizes
//! that are not multiples of the workgroup (64), and at one size needing more than 65,535
//! workgroups in x; extreme logits; gradchecks of every backward twin; accumulate; bad input.
mod common;
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use shadergrad::kernels::loss::{self, cpu, JsTerm, Reduction};
use shadergrad::{Buf, DType, Dispatch, Gpu};

/// Rows for the large case: one invocation per row at WG = 64 needs 65,535 * 64 + 77 rows to
/// exceed 65,535 workgroups in x.
const LARGE: usize = 65_535 * 64 + 77;
/// (rows, cols): size 1, awkward sizes, and the large case with few columns (kept cheap).
const SIZES: [(usize, usize); 4] = [(1, 1), (77, 13), (5, 300), (LARGE, 1)];
const RTOL: f64 = 1e-5;

fn up(v: &[f32]) -> Buf {
    gpu().upload(v).unwrap()
}

fn run(d: &Dispatch) {
    gpu().run(&[d]).unwrap();
}

fn down(b: &Buf) -> Vec<f32> {
    gpu().download(b).unwrap()
}

fn labels(rng: &mut StdRng, rows: usize, k: usize) -> Vec<u32> {
    (0..rows).map(|_| rng.random_range(0..k as u32)).collect()
}

/// Run a backward kernel twice: writing over a NaN-filled gradient (the old value must be
/// ignored), then accumulating onto random old values. `build(grad, accumulate)` makes the
/// dispatch; `want` is the f64 gradient.
fn check_backward(
    what: &str,
    rng: &mut StdRng,
    want: &[f64],
    atol: f64,
    build: impl Fn(&Gpu, &Buf, bool) -> Dispatch,
) {
    let gpu = gpu();
    let g = up(&vec![f32::NAN; want.len()]);
    run(&build(gpu, &g, false));
    assert_close(&format!("{what} (write)"), &down(&g), want, RTOL, atol);
    let old = uniform(rng, want.len(), -1.0, 1.0);
    let g = up(&old);
    run(&build(gpu, &g, true));
    let sum: Vec<f64> = old.iter().zip(want).map(|(&o, w)| o as f64 + w).collect();
    // Adding old (|old| < 1) rounds at f32 epsilon of the sum, not of the gradient alone.
    assert_close(&format!("{what} (accumulate)"), &down(&g), &sum, RTOL, 1e-6);
}

// ---- BCE with logits ------------------------------------------------------------------------

/// `datol` is the backward's atol: sigmoid(x) - t cancels where t ~ sigmoid(x) (random soft
/// targets), leaving an absolute error of f32 epsilon times |dloss|.
fn check_bce(
    rng: &mut StdRng,
    rows: usize,
    cols: usize,
    x: &[f32],
    t: &[f32],
    atol: f64,
    datol: f64,
) {
    let gpu = gpu();
    let what = format!("bce {rows}x{cols}");
    let (xb, tb) = (up(x), up(t));
    let (xd, td) = (to_f64(x), to_f64(t));
    let lossb = gpu.zeros(rows, DType::F32).unwrap();
    run(&loss::bce_forward(gpu, rows, cols, &xb, &tb, &lossb).unwrap());
    let want = cpu::bce_forward(&xd, &td, rows, cols);
    assert_close(&format!("{what} forward"), &down(&lossb), &want, RTOL, atol);
    let dl = uniform(rng, rows, -2.0, 2.0);
    let dlb = up(&dl);
    let want = cpu::bce_backward(&xd, &td, &to_f64(&dl), rows, cols);
    check_backward(
        &format!("{what} backward"),
        rng,
        &want,
        datol,
        |gpu, g, acc| loss::bce_backward(gpu, rows, cols, &xb, &tb, &dlb, g, acc).unwrap(),
    );
}

#[test]
fn bce_matches_reference() {
    let mut rng = rng();
    for (rows, cols) in SIZES {
        let x = uniform(&mut rng, rows * cols, -6.0, 6.0);
        let t = uniform(&mut rng, rows * cols, 0.0, 1.0);
        check_bce(&mut rng, rows, cols, &x, &t, 0.0, 1e-6);
    }
}

/// Regression: |x| = 80..100 must not overflow exp, and saturated logits with matching targets
/// must keep their tiny loss and gradient e^-|x| instead of rounding to 0.
#[test]
fn bce_extreme_logits_stay_finite_and_exact() {
    let mut rng = rng();
    let xs = [80.0f32, -80.0, 100.0, -100.0, 80.0, -80.0, 17.0, -17.0];
    let ts = [1.0f32, 0.0, 0.0, 1.0, 0.5, 0.25, 1.0, 0.0];
    let (rows, cols) = (xs.len(), 1);
    // e^-100 = 3.7e-44 is below f32's normal range and may be flushed to zero.
    check_bce(&mut rng, rows, cols, &xs, &ts, 1e-37, 1e-37);
    let x: Vec<f32> = (0..77 * 9)
        .map(|i| if i % 2 == 0 { 80.0 } else { -80.0 })
        .collect();
    let t: Vec<f32> = (0..77 * 9).map(|_| rng.random_range(0..2) as f32).collect();
    check_bce(&mut rng, 77, 9, &x, &t, 1e-37, 1e-37);
}

// ---- softmax cross-entropy --------------------------------------------------------------

fn check_xent(rng: &mut StdRng, rows: usize, k: usize, x: &[f32], lab: &[u32], atol: f64) {
    let gpu = gpu();
    let what = format!("softmax xent {rows}x{k}");
    let (xb, lb) = (up(x), gpu.upload(lab).unwrap());
    let xd = to_f64(x);
    let lossb = gpu.zeros(rows, DType::F32).unwrap();
    run(&loss::softmax_xent_forward(gpu, rows, k, &xb, &lb, &lossb).unwrap());
    let want = cpu::softmax_xent_forward(&xd, lab, rows, k);
    assert_close(&format!("{what} forward"), &down(&lossb), &want, RTOL, atol);
    let dl = uniform(rng, rows, -2.0, 2.0);
    let dlb = up(&dl);
    let want = cpu::softmax_xent_backward(&xd, lab, &to_f64(&dl), rows, k);
    check_backward(
        &format!("{what} backward"),
        rng,
        &want,
        atol,
        |gpu, g, acc| loss::softmax_xent_backward(gpu, rows, k, &xb, &lb, &dlb, g, acc).unwrap(),
    );
    let cb = up(&vec![f32::NAN; rows]);
    run(&loss::correct(gpu, rows, k, &xb, &lb, &cb).unwrap());
    let want = cpu::correct(&xd, lab, rows, k);
    assert_close(&format!("{what} correct"), &down(&cb), &want, 0.0, 0.0);
}

#[test]
fn softmax_xent_matches_reference() {
    let mut rng = rng();
    let sizes = [(1, 1), (1, 10), (77, 10), (5, 300), (LARGE, 2)];
    for (rows, k) in sizes {
        let x = uniform(&mut rng, rows * k, -5.0, 5.0);
        let lab = labels(&mut rng, rows, k);
        check_xent(&mut rng, rows, k, &x, &lab, 0.0);
    }
}

/// Regression: logits of +-80 (e^160 overflows f32) give finite, exact losses and gradients,
/// including -(1 - p) ~ -e^-160 for a confident correct class (f32 flushes it to 0 or a
/// denormal, hence the atol).
#[test]
fn softmax_xent_extreme_logits_stay_finite() {
    let mut rng = rng();
    let (rows, k) = (77, 10);
    let x: Vec<f32> = (0..rows * k)
        .map(|_| if rng.random_bool(0.3) { 80.0 } else { -80.0 } + rng.random_range(-1.0..1.0))
        .collect();
    let lab = labels(&mut rng, rows, k);
    check_xent(&mut rng, rows, k, &x, &lab, 1e-37);
    // One dominant logit, label on it: loss = log1p(sum of e^-gap), far below f32 epsilon.
    let x = [30.0f32, 10.0, 12.0, 14.0];
    check_xent(&mut rng, 1, 4, &x, &[0], 1e-37);
}

#[test]
fn correct_takes_the_first_argmax_on_ties() {
    let gpu = gpu();
    let x = [1.0f32, 1.0, 0.0, 0.0, 2.0, 2.0];
    // Rows [1, 1, 0] and [0, 2, 2]: the first maxima are classes 0 and 1.
    let lab = [0u32, 1, 2, 2];
    let (xb, lb, cb) = (up(&x), gpu.upload(&lab[..2]).unwrap(), up(&[0.0; 2]));
    run(&loss::correct(gpu, 2, 3, &xb, &lb, &cb).unwrap());
    assert_eq!(down(&cb), vec![1.0, 1.0]);
    let lb = gpu.upload(&lab[2..]).unwrap();
    run(&loss::correct(gpu, 2, 3, &xb, &lb, &cb).unwrap());
    assert_eq!(down(&cb), vec![0.0, 0.0]);
}

/// VIB's test rule: average softmax over S samples (write, then accumulate with weight 1/S),
/// then accuracy and cross-entropy of the averaged probabilities.
#[test]
fn softmax_accumulate_averages_samples_then_scores_them() {
    let gpu = gpu();
    let mut rng = rng();
    for (rows, k) in [(1, 1), (77, 10), (5, 300), (LARGE, 2)] {
        let what = format!("softmax average {rows}x{k}");
        let samples = 3;
        let probs = up(&vec![f32::NAN; rows * k]);
        let mut want = vec![0.0f64; rows * k];
        for s in 0..samples {
            let x = uniform(&mut rng, rows * k, -5.0, 5.0);
            let xb = up(&x);
            let w = 1.0 / samples as f32;
            run(&loss::softmax_accumulate(gpu, rows, k, &xb, &probs, w, s > 0).unwrap());
            for (a, p) in want.iter_mut().zip(cpu::softmax(&to_f64(&x), rows, k)) {
                *a += w as f64 * p;
            }
        }
        let got = down(&probs);
        assert_close(&format!("{what} probs"), &got, &want, RTOL, 0.0);
        // Score the GPU's probabilities so both sides rank exactly the same numbers.
        let pd = to_f64(&got);
        let lab = labels(&mut rng, rows, k);
        let lb = gpu.upload(&lab).unwrap();
        let out = gpu.zeros(rows, DType::F32).unwrap();
        run(&loss::probs_nll(gpu, rows, k, &probs, &lb, &out).unwrap());
        let want = cpu::probs_nll(&pd, &lab, rows, k);
        assert_close(&format!("{what} nll"), &down(&out), &want, RTOL, 0.0);
        run(&loss::correct(gpu, rows, k, &probs, &lb, &out).unwrap());
        let want = cpu::correct(&pd, &lab, rows, k);
        assert_close(&format!("{what} correct"), &down(&out), &want, 0.0, 0.0);
    }
}

#[test]
fn probs_nll_floors_a_vanished_probability() {
    let gpu = gpu();
    let (pb, lb, out) = (up(&[1.0, 0.0]), gpu.upload(&[1u32]).unwrap(), up(&[0.0]));
    run(&loss::probs_nll(gpu, 1, 2, &pb, &lb, &out).unwrap());
    let got = down(&out)[0];
    let want = -(f32::MIN_POSITIVE as f64).ln(); // 87.34
    assert!(got.is_finite() && (got as f64 - want).abs() < 1e-4, "{got}");
}

// ---- MSE ----------------------------------------------------------------------------------

#[test]
fn mse_matches_reference() {
    let gpu = gpu();
    let mut rng = rng();
    for (rows, cols) in SIZES {
        for red in [Reduction::Sum, Reduction::Mean] {
            let what = format!("mse {red:?} {rows}x{cols}");
            let (x, t) = (
                uniform(&mut rng, rows * cols, -3.0, 3.0),
                uniform(&mut rng, rows * cols, -3.0, 3.0),
            );
            let (xb, tb) = (up(&x), up(&t));
            let (xd, td) = (to_f64(&x), to_f64(&t));
            let lossb = gpu.zeros(rows, DType::F32).unwrap();
            run(&loss::mse_forward(gpu, rows, cols, &xb, &tb, &lossb, red).unwrap());
            let want = cpu::mse_forward(&xd, &td, rows, cols, red);
            assert_close(&format!("{what} forward"), &down(&lossb), &want, RTOL, 0.0);
            let dl = uniform(&mut rng, rows, -2.0, 2.0);
            let dlb = up(&dl);
            let want = cpu::mse_backward(&xd, &td, &to_f64(&dl), rows, cols, red);
            check_backward(
                &format!("{what} backward"),
                &mut rng,
                &want,
                0.0,
                |gpu, g, acc| {
                    loss::mse_backward(gpu, rows, cols, &xb, &tb, &dlb, g, red, acc).unwrap()
                },
            );
        }
    }
}

// ---- Jensen-Shannon softplus terms ------------------------------------------------------

fn check_js(rng: &mut StdRng, term: JsTerm, rows: usize, cols: usize, s: &[f32], atol: f64) {
    let gpu = gpu();
    let what = format!("js {term:?} {rows}x{cols}");
    let sb = up(s);
    let sd = to_f64(s);
    let out = gpu.zeros(rows, DType::F32).unwrap();
    run(&loss::js_forward(gpu, term, rows, cols, &sb, &out).unwrap());
    let want = cpu::js_forward(term, &sd, rows, cols);
    assert_close(&format!("{what} forward"), &down(&out), &want, RTOL, atol);
    let dl = uniform(rng, rows, -2.0, 2.0);
    let dlb = up(&dl);
    let want = cpu::js_backward(term, &sd, &to_f64(&dl), rows, cols);
    check_backward(
        &format!("{what} backward"),
        rng,
        &want,
        atol,
        |gpu, g, acc| loss::js_backward(gpu, term, rows, cols, &sb, &dlb, g, acc).unwrap(),
    );
}

#[test]
fn js_terms_match_reference() {
    let mut rng = rng();
    for (rows, cols) in SIZES {
        for term in [JsTerm::Positive, JsTerm::Negative] {
            let s = uniform(&mut rng, rows * cols, -8.0, 8.0);
            check_js(&mut rng, term, rows, cols, &s, 0.0);
        }
    }
}

/// Regression: |T| = 80..100 gives softplus = |T| or e^-|T|, sigmoid 1 or e^-|T|, never inf.
#[test]
fn js_terms_extreme_scores_stay_finite() {
    let mut rng = rng();
    let s = [80.0f32, -80.0, 100.0, -100.0, 0.0, 20.0, -20.0];
    for term in [JsTerm::Positive, JsTerm::Negative] {
        // e^-100 is below f32's normal range and may be flushed to zero.
        check_js(&mut rng, term, s.len(), 1, &s, 1e-37);
        check_js(&mut rng, term, 1, s.len(), &s, 1e-37);
    }
}

// ---- Gaussian NLL -------------------------------------------------------------------------

#[test]
fn gaussian_nll_matches_reference() {
    let gpu = gpu();
    let mut rng = rng();
    for (rows, cols) in SIZES {
        for learned in [true, false] {
            let what = format!("gaussian nll learned={learned} {rows}x{cols}");
            let n = rows * cols;
            let (mu, c) = (
                uniform(&mut rng, n, -2.0, 2.0),
                uniform(&mut rng, n, -2.0, 2.0),
            );
            // logvar >= -1.5 keeps every term positive (0.919 + 0.5 lv > 0): no cancellation.
            let lv = uniform(&mut rng, n, -1.5, 2.0);
            let (mub, cb, lvb) = (up(&mu), up(&c), up(&lv));
            let (mud, cd, lvd) = (to_f64(&mu), to_f64(&c), to_f64(&lv));
            let lvo = learned.then_some(&lvb);
            let lvdo = learned.then_some(&lvd[..]);
            let nll = gpu.zeros(rows, DType::F32).unwrap();
            run(&loss::gaussian_nll_forward(gpu, rows, cols, &mub, lvo, &cb, &nll).unwrap());
            let want = cpu::gaussian_nll_forward(&mud, lvdo, &cd, rows, cols);
            assert_close(&format!("{what} forward"), &down(&nll), &want, RTOL, 0.0);
            let dl = uniform(&mut rng, rows, -2.0, 2.0);
            let dlb = up(&dl);
            let (dmu, dlv) = cpu::gaussian_nll_backward(&mud, lvdo, &cd, &to_f64(&dl), rows, cols);
            let spare = gpu.zeros(n, DType::F32).unwrap();
            check_backward(
                &format!("{what} dmu"),
                &mut rng,
                &dmu,
                0.0,
                |gpu, g, acc| {
                    let dlvo = learned.then_some(&spare);
                    loss::gaussian_nll_backward(gpu, rows, cols, &mub, lvo, &cb, &dlb, g, dlvo, acc)
                        .unwrap()
                },
            );
            if let Some(dlv) = dlv {
                // 0.5 - 0.5 r^2 e^-lv cancels where r^2 e^-lv ~ 1: absolute error ~ f32 eps.
                check_backward(
                    &format!("{what} dlogvar"),
                    &mut rng,
                    &dlv,
                    1e-6,
                    |gpu, g, acc| {
                        loss::gaussian_nll_backward(
                            gpu,
                            rows,
                            cols,
                            &mub,
                            lvo,
                            &cb,
                            &dlb,
                            &spare,
                            Some(g),
                            acc,
                        )
                        .unwrap()
                    },
                );
            }
        }
    }
}

// ---- batch total --------------------------------------------------------------------------

#[test]
fn batch_sum_matches_reference() {
    let gpu = gpu();
    let mut rng = rng();
    for rows in [1, 77, 1_000_003] {
        let l = uniform(&mut rng, rows, 0.0, 3.0);
        let lb = up(&l);
        let ld = to_f64(&l);
        for scale in [1.0f32, 1.0 / rows as f32] {
            let what = format!("batch_sum {rows} scale {scale}");
            let total = up(&[f32::NAN]);
            run(&loss::batch_sum(gpu, &lb, &total, scale, false).unwrap());
            let want = cpu::batch_sum(&ld, scale as f64);
            assert_close(&format!("{what} write"), &down(&total), &[want], RTOL, 0.0);
            let total = up(&[5.0]);
            run(&loss::batch_sum(gpu, &lb, &total, scale, true).unwrap());
            assert_close(
                &format!("{what} accumulate"),
                &down(&total),
                &[want + 5.0],
                RTOL,
                0.0,
            );
        }
    }
    for rows in [1, 77, LARGE] {
        let dt = rng.random_range(-2.0f32..2.0);
        let dtb = up(&[dt]);
        let scale = 1.0 / rows as f32;
        let want = cpu::batch_sum_backward(dt as f64, rows, scale as f64);
        check_backward(
            &format!("batch_sum_backward {rows}"),
            &mut rng,
            &want,
            0.0,
            |gpu, g, acc| loss::batch_sum_backward(gpu, &dtb, g, scale, acc).unwrap(),
        );
    }
}

// ---- gradchecks of the f64 twins ----------------------------------------------------------

#[test]
fn every_backward_twin_passes_gradcheck() {
    let mut rng = rng();
    let (rows, cols) = (3, 5);
    let n = rows * cols;
    let f = |v: Vec<f32>| to_f64(&v);
    let x = f(uniform(&mut rng, n, -4.0, 4.0));
    let t = f(uniform(&mut rng, n, 0.0, 1.0));
    let dl = f(uniform(&mut rng, rows, -2.0, 2.0));
    let (h, tol) = (1e-6, 1e-6);

    let dx = cpu::bce_backward(&x, &t, &dl, rows, cols);
    gradcheck(
        "bce",
        |x| cpu::bce_forward(x, &t, rows, cols),
        &x,
        &dl,
        &dx,
        h,
        tol,
    );

    let lab: Vec<u32> = labels(&mut rng, rows, cols);
    let dx = cpu::softmax_xent_backward(&x, &lab, &dl, rows, cols);
    gradcheck(
        "xent",
        |x| cpu::softmax_xent_forward(x, &lab, rows, cols),
        &x,
        &dl,
        &dx,
        h,
        tol,
    );
    // The label on the argmax takes the cancellation-free branch: check it too.
    let top: Vec<u32> = (0..rows)
        .map(|b| {
            let row = &x[b * cols..(b + 1) * cols];
            (0..cols).fold(0, |a, j| if row[j] > row[a] { j } else { a }) as u32
        })
        .collect();
    let dx = cpu::softmax_xent_backward(&x, &top, &dl, rows, cols);
    gradcheck(
        "xent argmax",
        |x| cpu::softmax_xent_forward(x, &top, rows, cols),
        &x,
        &dl,
        &dx,
        h,
        tol,
    );

    for red in [Reduction::Sum, Reduction::Mean] {
        let dx = cpu::mse_backward(&x, &t, &dl, rows, cols, red);
        gradcheck(
            "mse",
            |x| cpu::mse_forward(x, &t, rows, cols, red),
            &x,
            &dl,
            &dx,
            h,
            tol,
        );
    }
    for term in [JsTerm::Positive, JsTerm::Negative] {
        let dx = cpu::js_backward(term, &x, &dl, rows, cols);
        gradcheck(
            "js",
            |x| cpu::js_forward(term, x, rows, cols),
            &x,
            &dl,
            &dx,
            h,
            tol,
        );
    }

    let c = f(uniform(&mut rng, n, -2.0, 2.0));
    let lv = f(uniform(&mut rng, n, -1.5, 2.0));
    let (dmu, dlv) = cpu::gaussian_nll_backward(&x, Some(&lv), &c, &dl, rows, cols);
    let fwd_mu = |mu: &[f64]| cpu::gaussian_nll_forward(mu, Some(&lv), &c, rows, cols);
    gradcheck("gnll dmu", fwd_mu, &x, &dl, &dmu, h, tol);
    let fwd_lv = |lv: &[f64]| cpu::gaussian_nll_forward(&x, Some(lv), &c, rows, cols);
    gradcheck("gnll dlogvar", fwd_lv, &lv, &dl, &dlv.unwrap(), h, tol);
    let (dmu, _) = cpu::gaussian_nll_backward(&x, None, &c, &dl, rows, cols);
    let fwd_unit = |mu: &[f64]| cpu::gaussian_nll_forward(mu, None, &c, rows, cols);
    gradcheck("gnll unit dmu", fwd_unit, &x, &dl, &dmu, h, tol);

    let dtotal = [0.7];
    let dx = cpu::batch_sum_backward(dtotal[0], n, 0.25);
    gradcheck(
        "batch_sum",
        |l| vec![cpu::batch_sum(l, 0.25)],
        &x,
        &dtotal,
        &dx,
        h,
        tol,
    );
}

// ---- bad input ----------------------------------------------------------------------------

#[test]
fn validate_labels_rejects_out_of_range() {
    assert!(loss::validate_labels(&[0, 9, 3], 10).is_ok());
    assert!(loss::validate_labels(&[], 10).is_ok());
    let e = loss::validate_labels(&[0, 10, 3], 10).unwrap_err();
    assert!(e.to_string().contains("position 1"), "{e}");
    assert!(loss::validate_labels(&[u32::MAX], 10).is_err());
}

/// Regression: a label >= K (not validated) never reads out of bounds; its row turns NaN so
/// training stops loudly, other rows are unaffected and accuracy counts it as wrong.
#[test]
fn bad_label_poisons_only_its_row() {
    let gpu = gpu();
    let mut rng = rng();
    let (rows, k) = (5, 3);
    let x = uniform(&mut rng, rows * k, -3.0, 3.0);
    let lab = [0u32, 3, 2, u32::MAX, 1];
    let (xb, lb) = (up(&x), gpu.upload(&lab).unwrap());
    let out = gpu.zeros(rows, DType::F32).unwrap();
    run(&loss::softmax_xent_forward(gpu, rows, k, &xb, &lb, &out).unwrap());
    let got = down(&out);
    let want = cpu::softmax_xent_forward(&to_f64(&x), &lab, rows, k);
    for b in 0..rows {
        match lab[b] < k as u32 {
            true => assert_close("good row", &got[b..b + 1], &want[b..b + 1], RTOL, 0.0),
            false => assert!(got[b].is_nan(), "row {b}: {}", got[b]),
        }
    }
    let dx = gpu.zeros(rows * k, DType::F32).unwrap();
    let dl = up(&[1.0; 5]);
    run(&loss::softmax_xent_backward(gpu, rows, k, &xb, &lb, &dl, &dx, false).unwrap());
    let got = down(&dx);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g.is_nan(), lab[i / k] >= k as u32, "dx[{i}] = {g}");
    }
    run(&loss::correct(gpu, rows, k, &xb, &lb, &out).unwrap());
    let c = down(&out);
    assert_eq!((c[1], c[3]), (0.0, 0.0));
    run(&loss::probs_nll(gpu, rows, k, &xb, &lb, &out).unwrap());
    let got = down(&out);
    assert!(
        got[1].is_nan() && got[3].is_nan() && got[0].is_finite(),
        "{got:?}"
    );
}

#[test]
fn shape_mismatches_are_errors() {
    let gpu = gpu();
    let f = |n: usize| gpu.zeros(n, DType::F32).unwrap();
    let u = |n: usize| gpu.zeros(n, DType::U32).unwrap();
    let (x, t, l, dx) = (f(12), f(12), f(3), f(12));
    assert!(loss::bce_forward(gpu, 3, 4, &x, &t, &l).is_ok());
    assert!(loss::bce_forward(gpu, 3, 4, &x, &f(11), &l).is_err());
    assert!(loss::bce_forward(gpu, 3, 4, &x, &t, &f(4)).is_err());
    assert!(loss::bce_forward(gpu, 0, 4, &x, &t, &l).is_err());
    assert!(loss::bce_backward(gpu, 3, 4, &x, &t, &l, &f(13), false).is_err());
    assert!(loss::mse_forward(gpu, 4, 3, &x, &t, &l, Reduction::Mean).is_err());
    assert!(loss::mse_backward(gpu, 3, 4, &x, &t, &f(12), &dx, Reduction::Sum, true).is_err());
    assert!(loss::js_forward(gpu, JsTerm::Positive, 12, 1, &x, &l).is_err());
    assert!(loss::js_backward(gpu, JsTerm::Negative, 3, 4, &x, &l, &f(3), false).is_err());
    // labels must be u32 [B]
    assert!(loss::softmax_xent_forward(gpu, 3, 4, &x, &u(3), &l).is_ok());
    assert!(loss::softmax_xent_forward(gpu, 3, 4, &x, &f(3), &l).is_err());
    assert!(loss::softmax_xent_forward(gpu, 3, 4, &x, &u(4), &l).is_err());
    assert!(loss::softmax_xent_backward(gpu, 3, 4, &x, &u(3), &l, &f(3), false).is_err());
    assert!(loss::correct(gpu, 3, 0, &x, &u(3), &l).is_err());
    assert!(loss::softmax_accumulate(gpu, 3, 4, &x, &f(3), 1.0, false).is_err());
    assert!(loss::probs_nll(gpu, 4, 3, &x, &u(3), &l).is_err());
    let lv = f(12);
    assert!(loss::gaussian_nll_forward(gpu, 3, 4, &x, Some(&f(3)), &t, &l).is_err());
    assert!(loss::gaussian_nll_forward(gpu, 3, 4, &x, Some(&lv), &t, &l).is_ok());
    assert!(
        loss::gaussian_nll_backward(gpu, 3, 4, &x, Some(&lv), &t, &l, &dx, None, false).is_err()
    );
    assert!(
        loss::gaussian_nll_backward(gpu, 3, 4, &x, None, &t, &l, &dx, Some(&lv), false).is_err()
    );
    assert!(loss::batch_sum(gpu, &l, &f(2), 1.0, false).is_err());
    assert!(loss::batch_sum_backward(gpu, &f(2), &l, 1.0, false).is_err());
}

/// The large sizes above really exercise the folded grid: more workgroups than fit in x, so
/// the shaders must recover the linear index from x, y and z.
#[test]
fn large_case_needs_a_folded_grid() {
    let gpu = gpu();
    assert!(LARGE.div_ceil(64) > 65_535);
    let (x, l) = (
        gpu.zeros(LARGE, DType::F32).unwrap(),
        gpu.zeros(LARGE, DType::F32).unwrap(),
    );
    let d = loss::js_forward(gpu, JsTerm::Positive, LARGE, 1, &x, &l).unwrap();
    if gpu.limits.max_compute_workgroups_per_dimension <= 65_535 {
        assert!(d.groups[1] > 1 || d.groups[2] > 1, "grid {:?}", d.groups);
    }
}
