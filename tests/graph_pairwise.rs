//! The batch-level graph ops of the entropic autoencoder and InfoVAE: knn_entropy and mmd
//! (forward values against f64 references, gradients by graph-level central differences,
//! every gradient-routing case of mmd), the log floor of knn_entropy at duplicate rows, and
//! normal() (moments, its Philox twin, fresh draws per step, a stream apart from the
//! Gaussian head's).
mod common;
use common::graph_check::{check_op_gradients, Check, Input};
use common::*;
use rand::rngs::StdRng;
use shadergrad::graph::ops::pairwise::{gaussian_kernel, imq_kernel, knn_entropy_const, LOG_FLOOR};
use shadergrad::graph::{Graph, Program, T};
use shadergrad::kernels::pairwise::{cpu, MmdEstimator, PairKernel};
use shadergrad::kernels::random::{self, Rng, Scale};
use shadergrad::nn::params::{Init, ParamSpec, ParamStore};

/// Run `outs` of graph `g` forward once at `step` with host values for its inputs; return
/// each output's values.
fn forward(mut g: Graph, outs: &[T], inputs: &[(&str, &[f32])], steps: &[u64]) -> Vec<Vec<f32>> {
    let gpu = gpu();
    for (i, &t) in outs.iter().enumerate() {
        g.output(&format!("out{i}"), t);
    }
    let store = ParamStore::new(gpu, &[], &[], &mut rng()).unwrap();
    let p = Program::compile(gpu, g, &store, false).unwrap();
    for (name, v) in inputs {
        gpu.write(p.buf_named(name).unwrap(), v).unwrap();
    }
    let mut all = Vec::new();
    for &s in steps {
        p.step(gpu, s, &[]).unwrap();
        for &t in outs {
            all.push(gpu.download::<f32>(p.buf(t).unwrap()).unwrap());
        }
    }
    all
}

/// The f64 Kozachenko-Leonenko estimate with the same log floor as the graph op.
fn entropy_f64(z: &[f64], d: usize, k: usize) -> f64 {
    let n = z.len() / d;
    let (eps, _) = cpu::knn(z, d, k);
    let s: f64 = eps.iter().map(|e| (e + LOG_FLOOR as f64).ln()).sum();
    d as f64 / n as f64 * s + knn_entropy_const(n, d, k)
}

/// Rows uniform in [-2, 2]^d whose sorted distances around the k-th neighbour are at least
/// `gap` apart for every row, so a finite-difference step cannot swap neighbours (the
/// estimate has kinks where the k-th neighbour changes).
fn separated_rows(r: &mut StdRng, n: usize, d: usize, k: usize, gap: f64) -> Vec<f32> {
    for _ in 0..100_000 {
        let z = uniform(r, n * d, -2.0, 2.0);
        let zf = to_f64(&z);
        let ok = (0..n).all(|i| {
            let mut ds: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (0..d)
                        .map(|f| (zf[i * d + f] - zf[j * d + f]).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            ds.sort_by(f64::total_cmp);
            let lo = if k >= 2 { ds[k - 1] - ds[k - 2] } else { 1.0 };
            let hi = ds.get(k).map_or(1.0, |x| x - ds[k - 1]);
            lo >= gap && hi >= gap
        });
        if ok {
            return z;
        }
    }
    panic!("no well-separated point set found");
}

#[test]
fn knn_entropy_forward_matches_f64() {
    let mut r = rng();
    for (n, d, k) in [(2, 1, 1), (37, 3, 1), (100, 5, 3), (257, 8, 16)] {
        let z = uniform(&mut r, n * d, -2.0, 2.0);
        let mut g = Graph::new();
        let zt = g.input("z", &[n, d]);
        let h = g.knn_entropy(zt, k).unwrap();
        let got = forward(g, &[h], &[("z", &z)], &[0]);
        let want = entropy_f64(&to_f64(&z), d, k);
        // Sums of n logs in f32 and a constant of size ~psi(n): 1e-5 relative plus 1e-5.
        assert_close(
            &format!("H n={n} d={d} k={k}"),
            &got[0],
            &[want],
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn knn_entropy_gradients_k1_and_k3() {
    let mut r = rng();
    for (n, d, k) in [(9, 3, 1), (12, 4, 3)] {
        // Steps of h = 2e-3 along directions in [-1, 1]^(n d) move a distance by at most
        // 2 h sqrt(d) = 0.008: a gap of 0.02 keeps every neighbour order.
        let z = separated_rows(&mut r, n, d, k, 0.02);
        let inputs = [Input {
            name: "z",
            shape: vec![n, d],
            values: z,
        }];
        check_op_gradients(
            &format!("knn_entropy k={k}"),
            &mut r,
            &inputs,
            &|g, t| g.knn_entropy(t[0], k),
            &Check {
                h: 2e-3,
                ..Check::default()
            },
        );
    }
}

/// Regression (log floor): a duplicated row has eps = 0; the estimate must stay finite
/// (log(0 + LOG_FLOOR) for that row), match the f64 value with the same floor, and give
/// finite gradients.
#[test]
fn knn_entropy_of_duplicate_rows_is_finite() {
    let gpu = gpu();
    let mut r = rng();
    let (n, d) = (16, 4);
    let mut z = uniform(&mut r, n * d, -1.0, 1.0);
    let (a, b) = z.split_at_mut(d);
    b[..d].copy_from_slice(a); // row 1 = row 0
    let mut g = Graph::new();
    let zt = g.input("z", &[n, d]);
    let h = g.knn_entropy(zt, 1).unwrap();
    let got = forward(g, &[h], &[("z", &z)], &[0]);
    let want = entropy_f64(&to_f64(&z), d, 1);
    assert!(want.is_finite() && got[0][0].is_finite(), "{got:?}");
    assert_close("H with a duplicate row", &got[0], &[want], 1e-5, 1e-5);
    // Training graph: z as a parameter, loss = H.
    let mut g = Graph::new();
    let zp = g.param("z", &[n, d]);
    let h = g.knn_entropy(zp, 1).unwrap();
    g.metric("h", h).unwrap();
    g.set_loss(h).unwrap();
    let spec = [ParamSpec::new("z", &[n, d], Init::Values(z.clone()))];
    let store = ParamStore::new(gpu, &spec, &[], &mut r).unwrap();
    let p = Program::compile(gpu, g, &store, true).unwrap();
    p.step(gpu, 0, &[]).unwrap();
    let grad: Vec<f32> = gpu
        .download(&store.grad_view(gpu, "z", &[n, d]).unwrap())
        .unwrap();
    assert!(grad.iter().all(|v| v.is_finite()), "{grad:?}");
    // The duplicate pair gets the subgradient 0 from its own (zero-length) pair.
    assert!(grad.iter().any(|&v| v != 0.0));
}

#[test]
fn mmd_forward_matches_f64_for_both_kernels() {
    let mut r = rng();
    for (n, m, d) in [(1, 1, 1), (7, 5, 3), (64, 200, 20), (131, 67, 8)] {
        for kern in [gaussian_kernel(d), imq_kernel(d)] {
            let a = uniform(&mut r, n * d, -1.5, 1.5);
            let b = uniform(&mut r, m * d, -1.0, 1.0);
            let mut g = Graph::new();
            let (at, bt) = (g.input("a", &[n, d]), g.input("b", &[m, d]));
            let y = g.mmd(at, bt, kern).unwrap();
            let got = forward(g, &[y], &[("a", &a), ("b", &b)], &[0]);
            let want = cpu::mmd(kern, MmdEstimator::Biased, &to_f64(&a), &to_f64(&b), d);
            // Three means of kernel values in [0, 1] cancel: absolute error ~1e-6.
            assert_close(
                &format!("mmd {kern:?} {n}x{m}"),
                &got[0],
                &[want],
                1e-4,
                2e-6,
            );
        }
    }
}

fn mmd_inputs(r: &mut StdRng, n: usize, m: usize, d: usize) -> [Input; 2] {
    [
        Input::uniform(r, "a", &[n, d], -1.5, 1.5),
        Input::uniform(r, "b", &[m, d], -1.0, 1.0),
    ]
}

#[test]
fn mmd_gradients_both_kernels() {
    let mut r = rng();
    let d = 3;
    for kern in [gaussian_kernel(d), imq_kernel(d)] {
        let inputs = mmd_inputs(&mut r, 7, 5, d);
        check_op_gradients(
            &format!("mmd {kern:?}"),
            &mut r,
            &inputs,
            &|g, t| g.mmd(t[0], t[1], kern),
            &Check::default(),
        );
    }
}

/// Gradient routing: only b learned (a and b swap inside the backward), and b also used by
/// a later op, so db accumulates while da is written (the scratch-and-add path).
#[test]
fn mmd_gradients_one_side_and_mixed_accumulation() {
    let mut r = rng();
    let d = 4;
    let kern = PairKernel::Gaussian { s: 2.0 };
    let a_fixed = uniform(&mut r, 6 * d, -1.0, 1.0);
    let b_only = [Input::uniform(&mut r, "b", &[9, d], -1.0, 1.0)];
    check_op_gradients(
        "mmd, only b learned",
        &mut r,
        &b_only,
        &|g, t| {
            let a = g.constant("a", &[6, d], a_fixed.clone())?;
            g.mmd(a, t[0], kern)
        },
        &Check::default(),
    );
    let inputs = mmd_inputs(&mut r, 6, 9, d);
    check_op_gradients(
        "mmd + mean(b)",
        &mut r,
        &inputs,
        &|g, t| {
            let m = g.mmd(t[0], t[1], kern)?;
            let s = g.mean(t[1]);
            g.add(m, s)
        },
        &Check::default(),
    );
    // And a accumulating while b is written.
    let inputs = mmd_inputs(&mut r, 6, 9, d);
    check_op_gradients(
        "mmd + mean(a)",
        &mut r,
        &inputs,
        &|g, t| {
            let m = g.mmd(t[0], t[1], kern)?;
            let s = g.mean(t[0]);
            g.add(m, s)
        },
        &Check::default(),
    );
}

#[test]
fn bad_shapes_are_errors() {
    let mut g = Graph::new();
    let a = g.input("a", &[5, 3]);
    let b = g.input("b", &[5, 4]);
    assert!(g.mmd(a, b, gaussian_kernel(3)).is_err());
    assert!(g.mmd(a, a, gaussian_kernel(3)).is_err());
    assert!(g.knn_entropy(a, 5).is_err()); // k must be < n
    assert!(g.knn_entropy(a, 0).is_err());
    let v = g.input("v", &[5]);
    assert!(g.knn_entropy(v, 1).is_err());
    assert!(g.mmd(a, b, PairKernel::Imq { c: -1.0 }).is_err());
}

#[test]
fn normal_moments_twin_and_fresh_draws_per_step() {
    let (rows, d, seed) = (4096, 8, 77);
    let len = rows * d;
    let mut g = Graph::new();
    let z = g.normal(&[rows, d], seed);
    let got = forward(g, &[z], &[], &[0, 1, 0, 5]);
    let (s0, s1, again, s5) = (&got[0], &got[1], &got[2], &got[3]);
    assert_eq!(s0, again, "a step's draws are reproducible");
    assert_ne!(s0, s1, "each step draws fresh values");
    // The Philox twin: step s is elements s * len .. of stream NORMAL_STREAM_BASE + 0.
    let stream = shadergrad::graph::ops::pairwise::NORMAL_STREAM_BASE;
    for (step, vals) in [(0u64, s0), (5, s5)] {
        let want = random::cpu::normal(
            Rng {
                seed,
                offset: step * len as u64,
                stream,
            },
            len,
        );
        // Box-Muller in f32 (log, sqrt, cos) against f64: ~1e-6 absolute in the tails.
        assert_close(&format!("normal step {step}"), vals, &want, 1e-5, 1e-5);
    }
    // Moments of 32,768 draws: standard errors 0.0055 (mean) and 0.0078 (variance); 5 sigma.
    for vals in [s0, s1] {
        let n = vals.len() as f64;
        let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.04, "variance {var}");
    }
}

/// normal() and gaussian_head() with the same seed draw from different Philox streams, and
/// two normal() ops in one graph differ too.
#[test]
fn normal_streams_are_distinct() {
    let (b, d, seed) = (16, 4, 3);
    let mut g = Graph::new();
    // mu = 0 and log sigma^2 = 0: z is the head's eps.
    let mu = g.constant("mu", &[b, d], vec![0.0; b * d]).unwrap();
    let lv = g.constant("logvar", &[b, d], vec![0.0; b * d]).unwrap();
    let (eps, _) = g.gaussian_head(mu, lv, Scale::LogVar, seed).unwrap();
    let n1 = g.normal(&[b, d], seed);
    let n2 = g.normal(&[b, d], seed);
    let got = forward(g, &[eps, n1, n2], &[], &[0]);
    assert_ne!(got[0], got[1]);
    assert_ne!(got[1], got[2]);
}

/// uniform(): its Philox twin, fresh draws per step, values in [0, 1), a stream of its own
/// beside normal() draws in the same graph.
#[test]
fn uniform_twin_range_and_fresh_draws() {
    let (rows, d, seed) = (1000, 3, 5);
    let len = rows * d;
    let mut g = Graph::new();
    let n = g.normal(&[rows, d], seed);
    let u = g.uniform(&[rows, d], seed);
    let got = forward(g, &[n, u], &[], &[0, 2]);
    let (u0, u2) = (&got[1], &got[3]);
    assert_ne!(u0, u2, "each step draws fresh values");
    // The second draw op of the graph takes stream NORMAL_STREAM_BASE + 1.
    let stream = shadergrad::graph::ops::pairwise::NORMAL_STREAM_BASE + 1;
    for (step, vals) in [(0u64, u0), (2, u2)] {
        let rng = Rng {
            seed,
            offset: step * len as u64,
            stream,
        };
        assert_close("uniform", vals, &random::cpu::uniform(rng, len), 0.0, 0.0);
        assert!(vals.iter().all(|v| (0.0..1.0).contains(v)));
    }
    let mean = u0.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
    assert!((mean - 0.5).abs() < 0.03, "mean {mean}"); // sd of the mean 0.0053
}

/// constant_u32: class indices a loss can take as labels, uploaded bit for bit.
#[test]
fn u32_constants_feed_softmax_xent() {
    let (b, k) = (5, 4);
    let mut g = Graph::new();
    let labels: Vec<u32> = vec![0, 3, 1, 1, 2];
    let logits = g.input("logits", &[b, k]);
    let lab = g.constant_u32("labels", &[b], &labels).unwrap();
    let ce = g.softmax_xent(logits, lab).unwrap();
    let x = uniform(&mut rng(), b * k, -2.0, 2.0);
    let got = forward(g, &[ce], &[("logits", &x)], &[0]);
    let want: Vec<f64> = (0..b)
        .map(|i| {
            let row = &x[i * k..(i + 1) * k];
            let lse = row.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
            lse - row[labels[i] as usize] as f64
        })
        .collect();
    assert_close("softmax_xent on u32 constants", &got[0], &want, 1e-5, 1e-6);
    assert!(Graph::new().constant_u32("bad", &[3], &[1, 2]).is_err());
}
