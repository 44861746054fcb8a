//! Shared test support: one device per test binary, fresh random inputs with a printed seed,
//! tolerance comparison against f64 references, and central-difference gradient checks.
#![allow(dead_code)]

pub mod graph_check;

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shadergrad::Gpu;

/// The device every test in this binary shares (device injection: tests take `&Gpu`).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::from_env().unwrap_or_else(|e| panic!("{e}")))
}

/// A fresh generator per call. Set SHADERGRAD_TEST_SEED to replay a failure; the seed in use
/// is printed (cargo test shows it when the test fails).
pub fn rng() -> StdRng {
    let seed = std::env::var("SHADERGRAD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    eprintln!("SHADERGRAD_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Assert |got - want| <= atol + rtol * |want| elementwise, naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs reference {}",
        got.len(),
        want.len()
    );
    // Worst element by how far past its allowance it is; NaN or Inf always fails.
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        let allowed = atol + rtol * w.abs();
        if err <= allowed && g.is_finite() {
            continue;
        }
        let excess = if g.is_finite() {
            err - allowed
        } else {
            f64::INFINITY
        };
        if worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: element {i} is {} but the f64 reference says {} (rtol {rtol}, atol {atol})",
            got[i], want[i]
        );
    }
}

/// Central-difference check of a vector-Jacobian product: for y = f(x) and upstream dy, the
/// analytic `dx` must equal d(sum dy*f(x))/dx. Steps `h` in f64; relative tolerance `tol`.
pub fn gradcheck(
    what: &str,
    f: impl Fn(&[f64]) -> Vec<f64>,
    x: &[f64],
    dy: &[f64],
    dx: &[f64],
    h: f64,
    tol: f64,
) {
    assert_eq!(dx.len(), x.len(), "{what}: gradient length");
    let loss = |x: &[f64]| f(x).iter().zip(dy).map(|(a, b)| a * b).sum::<f64>();
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let up = loss(&xp);
        xp[i] = x[i] - h;
        let down = loss(&xp);
        xp[i] = x[i];
        let numeric = (up - down) / (2.0 * h);
        let err = (numeric - dx[i]).abs();
        assert!(
            err <= tol * (1.0 + numeric.abs()),
            "{what}: d/dx[{i}] analytic {} vs central difference {numeric}",
            dx[i]
        );
    }
}

/// A MNIST-format directory with the first `train` and `test` images of the bundled MNIST,
/// so end-to-end runs (which evaluate the whole test split every epoch) stay quick.
pub fn small_mnist(train: usize, test: usize) -> tempfile::TempDir {
    use shadergrad::data::mnist;
    let full = mnist::load(&mnist::default_dir()).expect("the bundled MNIST loads");
    let dir = tempfile::tempdir().unwrap();
    let idx = |dims: &[usize], data: Vec<u8>| {
        let mut v = vec![0u8, 0, 8, dims.len() as u8];
        for &d in dims {
            v.extend_from_slice(&(d as u32).to_be_bytes());
        }
        v.extend(data);
        v
    };
    for (prefix, split, n) in [("train", &full.train, train), ("t10k", &full.test, test)] {
        let pixels: Vec<u8> = split.images[..n * 784]
            .iter()
            .map(|&p| (p * 255.0).round() as u8)
            .collect();
        let labels: Vec<u8> = split.labels[..n].iter().map(|&l| l as u8).collect();
        std::fs::write(
            dir.path().join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n, 28, 28], pixels),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[n], labels),
        )
        .unwrap();
    }
    dir
}

/// Run the `shadergrad` binary with `args`; its stdout, after asserting it exited 0 (the
/// failure shows both streams).
pub fn run_cli(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
