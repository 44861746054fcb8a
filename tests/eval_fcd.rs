//! The Fréchet classifier distance: the host eigensolver and matrix square root, the Gaussian
//! fit, the distance against closed forms (identical, diagonal, rotated pairs; invariance
//! under a joint rotation; symmetry; non-negativity on rank-deficient covariances), and one
//! end-to-end run on the bundled MNIST (a briefly trained classifier and VAE, then `fcd`, its
//! errors and the `eval --fcd` command line).
//!
//! Shapes: means [F]; covariances [F, F] row-major; features [N, F].
mod common;
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use shadergrad::data::dataset;
use shadergrad::eval::fcd::{self, frechet_distance, FcdOptions, Gaussian};
use shadergrad::eval::linalg::{matmul, sqrt_psd, sym_eigen};
use shadergrad::train::commands;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer;
use shadergrad::Error;

fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    (0..n * n).map(|k| a[(k % n) * n + k / n]).collect()
}

fn diag(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut a = vec![0.0; n * n];
    for (i, &x) in v.iter().enumerate() {
        a[i * n + i] = x;
    }
    a
}

/// A random orthogonal [n, n] matrix (Gram-Schmidt on Gaussian-ish columns).
fn orthogonal(r: &mut StdRng, n: usize) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = Vec::new();
    while cols.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0)).collect();
        for c in &cols {
            let dot: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-3 {
            cols.push(v.iter().map(|x| x / norm).collect());
        }
    }
    (0..n * n).map(|k| cols[k % n][k / n]).collect()
}

/// B B^T / n + `ridge` I for a random [n, rank] B: symmetric PSD of rank `rank` (+ ridge).
fn spd(r: &mut StdRng, n: usize, rank: usize, ridge: f64) -> Vec<f64> {
    let b: Vec<f64> = (0..n * rank).map(|_| r.random_range(-1.0..1.0)).collect();
    let mut s = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let x: f64 = (0..rank).map(|k| b[i * rank + k] * b[j * rank + k]).sum();
            s[i * n + j] = x / n as f64 + if i == j { ridge } else { 0.0 };
        }
    }
    s
}

/// Q A Q^T
fn conjugate(q: &[f64], a: &[f64], n: usize) -> Vec<f64> {
    matmul(&matmul(q, a, n), &transpose(q, n), n)
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "{what}: {got} vs closed form {want}"
    );
}

#[test]
fn jacobi_diagonalises_symmetric_matrices_with_orthogonal_vectors() {
    let mut r = rng();
    for n in [1, 2, 3, 17, 64] {
        let a = spd(&mut r, n, n, 0.0);
        // Indefinite too: subtract a multiple of the identity.
        let a: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(k, x)| x - if k % (n + 1) == 0 { 0.3 } else { 0.0 })
            .collect();
        let (lambda, v) = sym_eigen(&a, n);
        let av = matmul(&a, &v, n);
        let vl = matmul(&v, &diag(&lambda), n);
        let vtv = matmul(&transpose(&v, n), &v, n);
        for k in 0..n * n {
            close(&format!("n {n}: (A V)[{k}]"), av[k], vl[k], 1e-10);
            let eye = if k % (n + 1) == 0 { 1.0 } else { 0.0 };
            close(&format!("n {n}: (V^T V)[{k}]"), vtv[k], eye, 1e-12);
        }
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        close(
            "sum of eigenvalues = trace",
            lambda.iter().sum(),
            trace,
            1e-12,
        );
    }
    // Already diagonal (no rotation at all) and the zero matrix.
    assert_eq!(sym_eigen(&diag(&[3.0, -1.0]), 2).0, vec![3.0, -1.0]);
    assert_eq!(sym_eigen(&[0.0; 9], 3).0, vec![0.0; 3]);
}

#[test]
fn sqrt_psd_squares_back_and_clamps_round_off_negatives() {
    let mut r = rng();
    let n = 20;
    for rank in [20, 5] {
        let s = spd(&mut r, n, rank, 0.0);
        let root = sqrt_psd(&s, n);
        let sq = matmul(&root, &root, n);
        for k in 0..n * n {
            close(&format!("rank {rank}: (S^1/2)^2[{k}]"), sq[k], s[k], 1e-10);
        }
    }
    assert_eq!(sqrt_psd(&diag(&[4.0, -1e-17]), 2), diag(&[2.0, 0.0]));
}

#[test]
fn gaussian_fit_is_the_unbiased_mean_and_covariance() {
    // Rows (1, 2), (3, 0), (5, 4): mean (3, 2); centred (-2, 0), (0, -2), (2, 2);
    // sums: xx 8, xy 4, yy 8; divided by N - 1 = 2.
    let g = Gaussian::fit(&[1.0, 2.0, 3.0, 0.0, 5.0, 4.0], 2).unwrap();
    assert_eq!(g.mean, vec![3.0, 2.0]);
    assert_eq!(g.cov, vec![4.0, 2.0, 2.0, 4.0]);
    for (values, dim) in [(vec![1.0, 2.0], 2), (vec![1.0, 2.0, 3.0], 2), (vec![], 0)] {
        assert!(matches!(Gaussian::fit(&values, dim), Err(Error::Shape(_))));
    }
}

#[test]
fn identical_gaussians_are_at_distance_zero() {
    let mut r = rng();
    for n in [1, 6, 40] {
        let s = spd(&mut r, n, n, 0.01);
        let mu: Vec<f64> = (0..n).map(|_| r.random_range(-3.0..3.0)).collect();
        let d = frechet_distance(&mu, &s, &mu, &s).unwrap();
        let scale: f64 = (0..n).map(|i| s[i * n + i]).sum();
        assert!(d >= 0.0 && d <= 1e-10 * scale, "n {n}: {d}");
    }
}

/// Diagonal covariances: sum_i (s1 + s2 - 2 sqrt(s1 s2)) + ||mu1 - mu2||^2.
fn diagonal_closed_form(mu1: &[f64], s1: &[f64], mu2: &[f64], s2: &[f64]) -> f64 {
    let mean: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b).powi(2)).sum();
    let cov: f64 = s1
        .iter()
        .zip(s2)
        .map(|(a, b)| a + b - 2.0 * (a * b).sqrt())
        .sum();
    mean + cov
}

#[test]
fn diagonal_covariances_match_the_closed_form() {
    let mut r = rng();
    for n in [1, 3, 25] {
        let mut draw = |lo: f64, hi: f64| (0..n).map(|_| r.random_range(lo..hi)).collect();
        let (mu1, mu2): (Vec<f64>, Vec<f64>) = (draw(-2.0, 2.0), draw(-2.0, 2.0));
        let (s1, s2): (Vec<f64>, Vec<f64>) = (draw(0.01, 4.0), draw(0.01, 4.0));
        let got = frechet_distance(&mu1, &diag(&s1), &mu2, &diag(&s2)).unwrap();
        close(
            &format!("n {n}"),
            got,
            diagonal_closed_form(&mu1, &s1, &mu2, &s2),
            1e-12,
        );
    }
    // A zero variance (a dead feature) on one side.
    let got = frechet_distance(&[0.0], &[0.0], &[1.0], &[4.0]).unwrap();
    close("dead feature", got, 1.0 + 4.0, 1e-12);
}

#[test]
fn a_rotated_pair_matches_its_closed_form() {
    // S1 = diag(a, b), S2 = R S1 R^T with R the rotation by t (c = cos t, s = sin t).
    // M = S1^1/2 S2 S1^1/2 has det M = (ab)^2 and tr M = (a^2 + b^2) c^2 + 2ab s^2, and for a
    // 2 x 2 PSD M, tr(M^1/2) = sqrt(tr M + 2 sqrt(det M)), so
    //   d = 2 (a + b) - 2 sqrt((a^2 + b^2) c^2 + 2ab (1 + s^2)).
    // t = 0 gives 0; t = pi/2 swaps the variances: 2 (sqrt(a) - sqrt(b))^2, the diagonal case.
    let (a, b) = (3.0f64, 0.5f64);
    for t in [0.0, 0.3, 1.0, std::f64::consts::FRAC_PI_2, 2.5] {
        let (c, s) = (f64::cos(t), f64::sin(t));
        let rot = [c, -s, s, c];
        let s1 = diag(&[a, b]);
        let s2 = conjugate(&rot, &s1, 2);
        let want =
            2.0 * (a + b) - 2.0 * ((a * a + b * b) * c * c + 2.0 * a * b * (1.0 + s * s)).sqrt();
        let got = frechet_distance(&[0.0, 0.0], &s1, &[0.0, 0.0], &s2).unwrap();
        close(&format!("t {t}"), got, want, 1e-12);
    }
    let swapped = frechet_distance(&[0.0; 2], &diag(&[a, b]), &[0.0; 2], &diag(&[b, a])).unwrap();
    close("pi/2", swapped, 2.0 * (a.sqrt() - b.sqrt()).powi(2), 1e-12);
}

#[test]
fn a_joint_rotation_leaves_the_distance_unchanged() {
    // d(Q mu1, Q S1 Q^T, Q mu2, Q S2 Q^T) = d(mu1, S1, mu2, S2): dense matrices whose answer is
    // the diagonal closed form.
    let mut r = rng();
    let n = 12;
    let mut draw =
        |lo: f64, hi: f64| -> Vec<f64> { (0..n).map(|_| r.random_range(lo..hi)).collect() };
    let (mu1, mu2, s1, s2) = (
        draw(-1.0, 1.0),
        draw(-1.0, 1.0),
        draw(0.0, 2.0),
        draw(0.0, 2.0),
    );
    let q = orthogonal(&mut r, n);
    let rotate = |v: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| (0..n).map(|j| q[i * n + j] * v[j]).sum())
            .collect()
    };
    let got = frechet_distance(
        &rotate(&mu1),
        &conjugate(&q, &diag(&s1), n),
        &rotate(&mu2),
        &conjugate(&q, &diag(&s2), n),
    )
    .unwrap();
    close(
        "rotated",
        got,
        diagonal_closed_form(&mu1, &s1, &mu2, &s2),
        1e-9,
    );
}

#[test]
fn the_distance_is_symmetric_and_non_negative() {
    let mut r = rng();
    let n = 30;
    // Full rank, and rank-deficient like ReLU features with dead units.
    for (rank1, rank2) in [(30, 30), (8, 30), (5, 3)] {
        let (s1, s2) = (spd(&mut r, n, rank1, 0.0), spd(&mut r, n, rank2, 0.0));
        let mu1: Vec<f64> = (0..n).map(|_| r.random_range(-0.1..0.1)).collect();
        let mu2: Vec<f64> = (0..n).map(|_| r.random_range(-0.1..0.1)).collect();
        let d12 = frechet_distance(&mu1, &s1, &mu2, &s2).unwrap();
        let d21 = frechet_distance(&mu2, &s2, &mu1, &s1).unwrap();
        assert!(
            d12.is_finite() && d12 > 0.0,
            "ranks {rank1}, {rank2}: {d12}"
        );
        // Eigenvalues that are 0 in exact arithmetic come out at round-off (~1e-17 here), and
        // their square roots (~3e-9 each) enter the trace: rank-deficient pairs agree to
        // about 1e-8 relative, full-rank ones to round-off.
        let tol = if rank1.min(rank2) < n { 1e-7 } else { 1e-10 };
        close(&format!("ranks {rank1}, {rank2}: symmetry"), d12, d21, tol);
        // A set against itself: 0 up to round-off, never negative.
        let d11 = frechet_distance(&mu1, &s1, &mu1, &s1).unwrap();
        assert!((0.0..1e-9).contains(&d11), "rank {rank1}: {d11}");
    }
    assert!(matches!(
        frechet_distance(&[0.0; 2], &[0.0; 4], &[0.0; 3], &[0.0; 9]),
        Err(Error::Shape(_))
    ));
}

/// A short run of `model` into `out` on `data` (max `steps` optimizer steps).
fn short_run(model: &str, out: &std::path::Path, data: &std::path::Path, steps: u64) {
    let mut cfg = TrainConfig::for_model(model);
    cfg.out = out.to_path_buf();
    cfg.data_dir = data.to_path_buf();
    cfg.epochs = 1;
    cfg.max_steps = Some(steps);
    trainer::train(gpu(), cfg, None).unwrap();
}

#[test]
fn end_to_end_fcd_of_a_short_vae_run_is_far_above_the_real_data_floor() {
    let gpu = gpu();
    let data_dir = small_mnist(2000, 500);
    let (clf_dir, vae_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    short_run("classifier", clf_dir.path(), data_dir.path(), 30);
    short_run("vae", vae_dir.path(), data_dir.path(), 30);
    let data = dataset::load(data_dir.path()).unwrap();
    let (vae, _) = commands::load_run(gpu, vae_dir.path()).unwrap();
    let o = FcdOptions {
        classifier: clf_dir.path().to_path_buf(),
        samples: 500,
        seed: 1,
    };
    let m = fcd::fcd(gpu, &vae, &data, &o).unwrap();
    eprintln!("{m}");
    assert_eq!(m.samples, 500);
    assert!((0.0..=1.0).contains(&m.classifier_accuracy), "{m}");
    assert!(m.distance.is_finite() && m.distance > 0.0, "{m}");
    assert!(m.reference.is_finite() && m.reference >= 0.0, "{m}");
    assert!(m.distance > 3.0 * m.reference, "{m}");
    // The same draws give the same number.
    assert_eq!(fcd::fcd(gpu, &vae, &data, &o).unwrap().distance, m.distance);

    // A classifier is not a generator.
    let (clf, _) = commands::load_run(gpu, clf_dir.path()).unwrap();
    match fcd::fcd(gpu, &clf, &data, &o) {
        Err(Error::Config(msg)) => assert!(msg.contains("generative"), "{msg}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // A run directory of another model as the classifier.
    let wrong = FcdOptions {
        classifier: vae_dir.path().to_path_buf(),
        ..o.clone()
    };
    match fcd::fcd(gpu, &vae, &data, &wrong) {
        Err(Error::Config(msg)) => assert!(msg.contains("'vae' run, not a classifier"), "{msg}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // A classifier for other images (its config says CIFAR-10's shape).
    let cifar = tempfile::tempdir().unwrap();
    let mut cfg = TrainConfig::load(&clf_dir.path().join("config.json")).unwrap();
    cfg.shape = dataset::ImageShape::CIFAR10;
    cfg.save(&cifar.path().join("config.json")).unwrap();
    let other = FcdOptions {
        classifier: cifar.path().to_path_buf(),
        ..o.clone()
    };
    match fcd::fcd(gpu, &vae, &data, &other) {
        Err(Error::Config(msg)) => {
            assert!(msg.contains("3x32x32") && msg.contains("1x28x28"), "{msg}")
        }
        other => panic!("expected a config error, got {other:?}"),
    }

    // The command line prints the line, and the representation table still follows.
    let vae = vae_dir.path().to_str().unwrap();
    let clf = clf_dir.path().to_str().unwrap();
    let stdout = run_cli(&[
        "eval",
        "--checkpoint",
        vae,
        "--fcd",
        "--fcd-samples",
        "200",
        "--fcd-classifier",
        clf,
        "--probe-epochs",
        "1",
        "--queries",
        "50",
        "--no-baseline",
    ]);
    assert!(
        stdout.contains("Frechet classifier distance (classifier")
            && stdout.contains("N = 200")
            && stdout.contains("[test vs train reference: ")
            && stdout.contains("linear probe (test)"),
        "{stdout}"
    );
}
