//! The Kozachenko-Leonenko entropy estimate on the GPU (graph op knn_entropy, k = 1 as the
//! entropic autoencoder uses it) against the closed form H(N(0, I_d)) = (d/2) log(2 pi e),
//! on n = 1024 samples, and against its f64 twin.
//!
//! Why a fixed draw: the estimate is a random variable. Over 40 independent draws of
//! n = 1024 (f64 twin, k = 1) its standard deviation is 1.9% of H at d = 2 (0.055 nats),
//! 0.7% at d = 8, and its bias -0.1% and -0.4%: a 2% bound on one fresh draw would be a
//! 1-sigma test at d = 2 and fail about a third of the time. So the data are a fixed Philox
//! draw (reproducible on every platform, unlike a host generator whose algorithm may change),
//! chosen before looking at the result; `spread` below recomputes the spread over a few draws
//! and checks the fixed draw is not an outlier (within 3 sigma of the mean).
//! At d = 32 the estimator is biased upward at this n (+5.6% measured over 40 draws; k-NN
//! distances concentrate in high d and the local-uniformity assumption fails): printed, only
//! finiteness and agreement with the twin are asserted.
mod common;
use common::*;
use shadergrad::graph::ops::pairwise::{gaussian_entropy, knn_entropy_const, LOG_FLOOR};
use shadergrad::graph::{Graph, Program};
use shadergrad::kernels::pairwise::cpu;
use shadergrad::kernels::random::{self, Rng};
use shadergrad::nn::params::ParamStore;

const N: usize = 1024;
const K: usize = 1;
const SEED: u64 = 20200224;

/// n x d standard normal values from Philox (seed, stream d).
fn draw(seed: u64, n: usize, d: usize) -> Vec<f64> {
    let rng = Rng {
        seed,
        offset: 0,
        stream: d as u32,
    };
    // Round to f32 so the GPU and the twin see the same numbers.
    random::cpu::normal(rng, n * d)
        .into_iter()
        .map(|v| v as f32 as f64)
        .collect()
}

fn entropy_f64(z: &[f64], d: usize) -> f64 {
    let n = z.len() / d;
    let (eps, _) = cpu::knn(z, d, K);
    let s: f64 = eps.iter().map(|e| (e + LOG_FLOOR as f64).ln()).sum();
    d as f64 / n as f64 * s + knn_entropy_const(n, d, K)
}

fn entropy_gpu(z: &[f64], d: usize) -> f64 {
    let gpu = gpu();
    let n = z.len() / d;
    let mut g = Graph::new();
    let zt = g.input("z", &[n, d]);
    let h = g.knn_entropy(zt, K).unwrap();
    let h = g.output("h", h);
    let store = ParamStore::new(gpu, &[], &[], &mut rng()).unwrap();
    let p = Program::compile(gpu, g, &store, false).unwrap();
    let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    gpu.write(p.buf_named("z").unwrap(), &zf).unwrap();
    p.step(gpu, 0, &[]).unwrap();
    gpu.download::<f32>(p.buf(h).unwrap()).unwrap()[0] as f64
}

/// (GPU estimate, f64 estimate, closed form) on the fixed draw.
fn estimate(d: usize) -> (f64, f64, f64) {
    let z = draw(SEED, N, d);
    let (got, twin, exact) = (entropy_gpu(&z, d), entropy_f64(&z, d), gaussian_entropy(d));
    println!(
        "d = {d}: GPU {got:.5}, f64 {twin:.5}, closed form {exact:.5}, relative error {:+.3}%",
        100.0 * (got - exact) / exact
    );
    // f32 distances and a sum of 1024 logs against f64: 1e-5 relative.
    assert_close(&format!("H at d = {d}"), &[got as f32], &[twin], 1e-5, 1e-5);
    (got, twin, exact)
}

#[test]
fn estimate_is_within_2_percent_of_the_closed_form_at_d2_and_d8() {
    for d in [2, 8] {
        let (got, _, exact) = estimate(d);
        assert!(
            ((got - exact) / exact).abs() < 0.02,
            "d = {d}: estimate {got} vs closed form {exact}"
        );
    }
}

#[test]
fn high_dimensional_bias_is_reported() {
    let (got, _, exact) = estimate(32);
    assert!(got.is_finite());
    println!(
        "d = 32: bias of the k = 1 estimate at n = {N}: {:+.3} nats ({:+.2}%)",
        got - exact,
        100.0 * (got - exact) / exact
    );
}

/// The spread that motivates the fixed draw, and a check that the draw is typical.
#[test]
fn spread() {
    for d in [2, 8] {
        let reps = 12;
        let v: Vec<f64> = (0..reps)
            .map(|s| entropy_f64(&draw(1000 + s, N, d), d))
            .collect();
        let mean = v.iter().sum::<f64>() / reps as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
        let exact = gaussian_entropy(d);
        let fixed = entropy_f64(&draw(SEED, N, d), d);
        println!(
            "d = {d}: over {reps} draws mean {mean:.4} (closed form {exact:.4}), sd {sd:.4} \
             ({:.2}% of H); the fixed draw is {:+.2} sd from the mean",
            100.0 * sd / exact,
            (fixed - mean) / sd
        );
        assert!((fixed - mean).abs() < 3.0 * sd);
    }
}
