//! The end-to-end golden test (as llm.c's test_gpt2): a small MLP VAE with a fixed seed.
//! Its step-0 loss and every parameter gradient must match an f64 CPU evaluation of the
//! whole model (gradients by central differences of the f64 loss: no autodiff in the
//! oracle), and 20 Adam steps on the GPU must track 20 f64 Adam steps.
mod common;
use std::collections::BTreeMap;

use common::*;
use rand::SeedableRng;
use shadergrad::graph::Program;
use shadergrad::kernels::optimizer::{self, Adam};
use shadergrad::kernels::random::{cpu::normal, Rng};
use shadergrad::models::vae::Vae;
use shadergrad::models::{GraphKind, Model};
use shadergrad::nn::params::ParamStore;
use shadergrad::train::checkpoint::Data;

const B: usize = 5;
const SEED: u64 = 7;

fn tiny() -> Vae {
    Vae {
        input: 13,
        hidden: 9,
        latent: 3,
    }
}

type Params = BTreeMap<String, Vec<f64>>;

/// y[b, o] = sum_i x[b, i] w[o, i] + bias[o], optionally ReLU.
fn linear(x: &[f64], w: &[f64], bias: &[f64], relu: bool) -> Vec<f64> {
    let (fan_out, fan_in) = (bias.len(), w.len() / bias.len());
    let rows = x.len() / fan_in;
    let mut y = vec![0.0; rows * fan_out];
    for r in 0..rows {
        for o in 0..fan_out {
            let s: f64 = (0..fan_in)
                .map(|i| x[r * fan_in + i] * w[o * fan_in + i])
                .sum::<f64>()
                + bias[o];
            y[r * fan_out + o] = if relu { s.max(0.0) } else { s };
        }
    }
    y
}

/// The VAE's summed negative ELBO in f64 (written from the formula, independent of the
/// library's kernels and autodiff).
fn loss_f64(p: &Params, x: &[f64], eps: &[f64]) -> f64 {
    let l = |name: &str, input: &[f64], relu| {
        linear(
            input,
            &p[&format!("{name}.weight")],
            &p[&format!("{name}.bias")],
            relu,
        )
    };
    let h = l("fc1", x, true);
    let mu = l("fc21", &h, false);
    let lv = l("fc22", &h, false);
    let z: Vec<f64> = (0..mu.len())
        .map(|i| mu[i] + (0.5 * lv[i]).exp() * eps[i])
        .collect();
    let logits = l("fc4", &l("fc3", &z, true), false);
    let rec: f64 = logits
        .iter()
        .zip(x)
        .map(|(&q, &t)| q.max(0.0) - q * t + (-q.abs()).exp().ln_1p())
        .sum();
    let kl: f64 = (0..mu.len())
        .map(|i| 0.5 * (mu[i] * mu[i] + lv[i].exp() - 1.0 - lv[i]))
        .sum();
    rec + kl
}

fn grads_f64(p: &Params, x: &[f64], eps: &[f64]) -> Params {
    let mut q = p.clone();
    let mut out = Params::new();
    for (name, values) in p {
        let mut g = vec![0.0; values.len()];
        for i in 0..values.len() {
            let h = 1e-6 * values[i].abs().max(1.0);
            q.get_mut(name).unwrap()[i] = values[i] + h;
            let up = loss_f64(&q, x, eps);
            q.get_mut(name).unwrap()[i] = values[i] - h;
            let down = loss_f64(&q, x, eps);
            q.get_mut(name).unwrap()[i] = values[i];
            g[i] = (up - down) / (2.0 * h);
        }
        out.insert(name.clone(), g);
    }
    out
}

struct Gpu1 {
    store: ParamStore,
    program: Program,
    model: Vae,
}

fn setup() -> Gpu1 {
    let gpu = gpu();
    let model = tiny();
    let store = ParamStore::new(
        gpu,
        &model.params(),
        &[],
        &mut rand::rngs::StdRng::seed_from_u64(SEED),
    )
    .unwrap();
    let built = model.build(GraphKind::Train, B, SEED).unwrap();
    let program = Program::compile(gpu, built.graph, &store, true).unwrap();
    Gpu1 {
        store,
        program,
        model,
    }
}

fn host_params(g: &Gpu1) -> Params {
    let f = g.store.to_tensor_file(gpu()).unwrap();
    f.tensors
        .into_iter()
        .map(|(k, t)| match t.data {
            Data::F32(v) => (k, to_f64(&v)),
            Data::I64(_) => unreachable!(),
        })
        .collect()
}

fn eps_at(step: u64, d: usize) -> Vec<f64> {
    normal(
        Rng {
            seed: SEED,
            offset: step * (B * d) as u64,
            stream: 0,
        },
        B * d,
    )
}

fn batch(k: usize, n: usize) -> Vec<f32> {
    // A fixed synthetic dataset of four batches with pixel-like values in [0, 1].
    let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + (k % 4) as u64);
    uniform(&mut rng, B * n, 0.0, 1.0)
}

fn run_step(g: &Gpu1, step: u64, x: &[f32], tail: &[&shadergrad::Dispatch]) -> f64 {
    let gpu = gpu();
    gpu.write(g.program.buf_named("x").unwrap(), x).unwrap();
    gpu.write(g.program.buf_named("metric:loss").unwrap(), &[0.0f32])
        .unwrap();
    g.program.step(gpu, step, tail).unwrap();
    gpu.download::<f32>(g.program.buf_named("metric:loss").unwrap())
        .unwrap()[0] as f64
}

#[test]
fn step0_loss_and_every_gradient_match_f64() {
    let gpu = gpu();
    let g = setup();
    let x = batch(0, g.model.input);
    let p = host_params(&g);
    let eps = eps_at(0, g.model.latent);
    let loss = run_step(&g, 0, &x, &[]);
    let want = loss_f64(&p, &to_f64(&x), &eps);
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs(),
        "loss {loss} vs f64 {want}"
    );
    let grads = grads_f64(&p, &to_f64(&x), &eps);
    for spec in g.model.params() {
        let got: Vec<f32> = gpu
            .download(&g.store.grad_view(gpu, &spec.name, &spec.shape).unwrap())
            .unwrap();
        let want = &grads[&spec.name];
        // 1e-4 relative per element, plus 1e-5 of the tensor's largest gradient for
        // elements whose exact value is near zero (f32 sums of O(1) terms cancel there).
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_close(
            &format!("d loss / d {}", spec.name),
            &got,
            want,
            1e-4,
            1e-5 * scale,
        );
    }
}

#[test]
fn twenty_adam_steps_track_f64() {
    let gpu = gpu();
    let g = setup();
    let n = g.store.params.len();
    let mut adam = Adam::new(n, 1e-3);
    let m = gpu.zeros(n, shadergrad::DType::F32).unwrap();
    let v = gpu.zeros(n, shadergrad::DType::F32).unwrap();
    let step_dispatch = adam
        .dispatch(gpu, &g.store.params, &g.store.grads, &m, &v)
        .unwrap();
    // The f64 twin runs on the flat arena layout, so read the arena and map names to offsets.
    let mut p64 = host_params(&g);
    let mut m64 = Params::new();
    let mut v64 = Params::new();
    let f64_adam = Adam::new(1, 1e-3);
    for step in 0..20u64 {
        let x = batch(step as usize, g.model.input);
        gpu.set_params(&step_dispatch, &adam.params_for_step());
        let loss = run_step(&g, step, &x, &[&step_dispatch]);
        let eps = eps_at(step, g.model.latent);
        let want = loss_f64(&p64, &to_f64(&x), &eps);
        // The GPU trains in f32: its parameters drift from the f64 trajectory by ~1e-7 per
        // step, which moves the summed loss far less than 1e-4 of itself over 20 steps.
        assert!(
            (loss - want).abs() <= 1e-4 * want.abs(),
            "step {step}: loss {loss} vs f64 {want}"
        );
        let grads = grads_f64(&p64, &to_f64(&x), &eps);
        let mut opt = f64_adam.clone();
        opt.t = step as u32 + 1;
        for (name, values) in p64.iter_mut() {
            let mm = m64
                .entry(name.clone())
                .or_insert_with(|| vec![0.0; values.len()]);
            let vv = v64
                .entry(name.clone())
                .or_insert_with(|| vec![0.0; values.len()]);
            optimizer::cpu::adam(&opt, values, &grads[name], mm, vv);
        }
    }
}
