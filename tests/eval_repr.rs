//! Representation evaluation: k-NN (cosine, GPU top-k) against an f64 brute force at awkward
//! sizes, chunked plans equal to the default, zero rows, the vote's tie rule; the linear probe
//! on separable clusters and on shuffled labels; encoders of every model; bad input; and one
//! end-to-end run (train a VAE briefly, then the `eval` path and its retrieval.png).
//!
//! Shapes: reference [N, D], queries [Q, D], indices [Q, k].
mod common;
use common::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use shadergrad::data::mnist;
use shadergrad::eval::knn::{normalise_rows, vote};
use shadergrad::eval::report::{self, ReprOptions};
use shadergrad::eval::{
    compile_encoder, encode_split, encode_with, knn, knn_with, linear_probe, Codes, Knn, KnnPlan,
    ProbeConfig,
};
use shadergrad::graph::ops::pairwise::{knn_entropy_const, LOG_FLOOR};
use shadergrad::models;
use shadergrad::train::commands;

fn random_codes(rng: &mut StdRng, n: usize, dim: usize, classes: u32) -> Codes {
    let values = uniform(rng, n * dim, -1.0, 1.0);
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    Codes::new(values, dim, labels).unwrap()
}

/// f64 cosine similarity of every query with every reference: [Q][N].
fn cosine(reference: &Codes, queries: &Codes) -> Vec<Vec<f64>> {
    let unit = |c: &Codes| -> Vec<Vec<f64>> {
        c.values
            .chunks_exact(c.dim)
            .map(|r| {
                let norm = r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
                r.iter().map(|&v| v as f64 * inv).collect()
            })
            .collect()
    };
    let (r, q) = (unit(reference), unit(queries));
    q.iter()
        .map(|qi| {
            r.iter()
                .map(|rj| qi.iter().zip(rj).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect()
}

/// Brute force: per query the k most similar references (lower index first on ties).
fn brute_force(sims: &[Vec<f64>], k: usize) -> Vec<Vec<usize>> {
    sims.iter()
        .map(|s| {
            let mut order: Vec<usize> = (0..s.len()).collect();
            order.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap().then(a.cmp(&b)));
            order.truncate(k);
            order
        })
        .collect()
}

/// Near-ties (similarities within `tol` in f64) may be ordered either way by f32 sums; any
/// other difference from `want` fails. Returns whether the lists were identical.
fn assert_same_neighbours(what: &str, got: &Knn, want: &[Vec<usize>], sims: &[Vec<f64>]) -> bool {
    let tol = 1e-5;
    let k = got.k;
    let mut identical = true;
    for (q, w) in want.iter().enumerate() {
        let g = &got.indices[q * k..(q + 1) * k];
        for j in 0..k {
            if g[j] as usize != w[j] {
                identical = false;
                let (sg, sw) = (sims[q][g[j] as usize], sims[q][w[j]]);
                assert!(
                    (sg - sw).abs() < tol,
                    "{what}: query {q} neighbour {j} is {} (similarity {sg}) but the f64 brute \
                     force says {} ({sw})",
                    g[j],
                    w[j]
                );
            }
        }
    }
    identical
}

fn accuracy_of(lists: &[Vec<usize>], reference: &Codes, queries: &Codes) -> f64 {
    let correct = lists
        .iter()
        .zip(&queries.labels)
        .filter(|(nn, &l)| vote(nn.iter().map(|&i| reference.labels[i])) == l)
        .count();
    correct as f64 / queries.len() as f64
}

fn check_knn(reference: &Codes, queries: &Codes, k: usize, plan: Option<KnnPlan>, what: &str) {
    let got = knn_with(gpu(), reference, queries, k, plan, &mut |_, _| {}).unwrap();
    let sims = cosine(reference, queries);
    let want = brute_force(&sims, k);
    assert_eq!(got.indices.len(), queries.len() * k, "{what}");
    // Predictions are the vote of the returned neighbours, and the accuracy counts them.
    for (q, nn) in got.indices.chunks_exact(k).enumerate() {
        let v = vote(nn.iter().map(|&i| reference.labels[i as usize]));
        assert_eq!(got.predictions[q], v, "{what}: prediction of query {q}");
    }
    if assert_same_neighbours(what, &got, &want, &sims) {
        let acc = accuracy_of(&want, reference, queries);
        assert_eq!(got.accuracy, acc, "{what}: accuracy");
    }
}

#[test]
fn knn_matches_an_f64_brute_force_at_awkward_sizes() {
    let mut rng = rng();
    for (n, q, d, k) in [
        (1037, 211, 13, 9),
        (1037, 211, 13, 1),
        (1, 1, 1, 1),
        (500, 77, 1, 9), // D = 1: similarities are exactly +-1, so ties everywhere
        (64, 9, 20, 64),
        (300, 50, 784, 5),
    ] {
        let reference = random_codes(&mut rng, n, d, 10);
        let queries = random_codes(&mut rng, q, d, 10);
        check_knn(
            &reference,
            &queries,
            k,
            None,
            &format!("N={n} Q={q} D={d} k={k}"),
        );
    }
}

#[test]
fn d1_ties_go_to_the_lowest_reference_index() {
    let reference = Codes::new(vec![2.0, -1.0, 0.5, 3.0, -2.0, 1.0], 1, vec![0; 6]).unwrap();
    let queries = Codes::new(vec![7.0, -0.1], 1, vec![0; 2]).unwrap();
    let nn = knn(gpu(), &reference, &queries, 4).unwrap();
    // Positive references all have similarity 1 with a positive query, in index order.
    assert_eq!(nn.indices, vec![0, 2, 3, 5, 1, 4, 0, 2]);
}

#[test]
fn chunked_plans_equal_the_default_plan() {
    let mut rng = rng();
    let (n, q, d, k) = (1037, 211, 13, 9);
    let reference = random_codes(&mut rng, n, d, 10);
    let queries = random_codes(&mut rng, q, d, 10);
    let base = knn(gpu(), &reference, &queries, k).unwrap();
    let sims = cosine(&reference, &queries);
    let lists: Vec<Vec<usize>> = base
        .indices
        .chunks_exact(k)
        .map(|c| c.iter().map(|&i| i as usize).collect())
        .collect();
    // A plan for 4,096-element buffers: reference blocks of 32 rows, chunks of 64 queries.
    let small = KnnPlan::for_limit(4096, n, q, d);
    assert!(small.ref_block < n && small.query_chunk < q, "{small:?}");
    for plan in [
        small,
        KnnPlan {
            query_chunk: 17,
            ref_block: 100,
        },
        KnnPlan {
            query_chunk: 1,
            ref_block: 1037,
        },
    ] {
        let got = knn_with(gpu(), &reference, &queries, k, Some(plan), &mut |_, _| {}).unwrap();
        if assert_same_neighbours(&format!("{plan:?}"), &got, &lists, &sims) {
            assert_eq!(got, base, "{plan:?}");
        }
    }
}

#[test]
fn the_default_plan_fits_60000_by_10000_mnist_pixels_in_bindings() {
    let gpu = gpu();
    let plan = KnnPlan::for_adapter(gpu, 60_000, 10_000, 784);
    let elems = (gpu.limits.max_storage_buffer_binding_size / 4) as usize;
    assert!(plan.ref_block * 784 <= elems, "{plan:?}");
    assert!(plan.ref_block * plan.query_chunk <= elems, "{plan:?}");
    assert!(plan.query_chunk >= 64, "{plan:?}");
    assert_eq!(
        plan.query_chunk % 16,
        0,
        "vec4-aligned similarity rows: {plan:?}"
    );
}

#[test]
fn zero_rows_stay_zero_and_tie_by_index() {
    let mut rng = rng();
    let (n, q, d, k) = (200, 30, 7, 6);
    let mut reference = random_codes(&mut rng, n, d, 3);
    let mut queries = random_codes(&mut rng, q, d, 3);
    for r in [0usize, 5, 199] {
        reference.values[r * d..(r + 1) * d].fill(0.0);
    }
    for r in [0usize, 29] {
        queries.values[r * d..(r + 1) * d].fill(0.0);
    }
    assert!(normalise_rows(&reference.values, d)[..d]
        .iter()
        .all(|&v| v == 0.0));
    check_knn(&reference, &queries, k, None, "zero rows");
    // A zero query is equally similar (0) to everything: the lowest indices, in order.
    let nn = knn(gpu(), &reference, &queries, k).unwrap();
    assert_eq!(&nn.indices[..k], &[0, 1, 2, 3, 4, 5]);
}

#[test]
fn vote_breaks_ties_by_the_nearest_member() {
    assert_eq!(vote([3u32, 1, 1, 3].into_iter()), 3);
    assert_eq!(vote([1u32, 3, 3, 1, 2].into_iter()), 1);
    assert_eq!(vote([2u32, 0, 0].into_iter()), 0);
    assert_eq!(vote([7u32].into_iter()), 7);
}

/// `n` points of 10 Gaussian clusters in 20-D: centres N(0, 4^2) per coordinate, unit noise.
fn clusters(rng: &mut StdRng, centres: &[Vec<f32>], n: usize) -> Codes {
    let mut values = Vec::with_capacity(n * 20);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % centres.len();
        let noise = normal(rng, 20);
        values.extend(centres[c].iter().zip(noise).map(|(m, e)| m + e));
        labels.push(c as u32);
    }
    Codes::new(values, 20, labels).unwrap()
}

fn normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

fn cluster_sets(rng: &mut StdRng) -> (Codes, Codes) {
    let centres: Vec<Vec<f32>> = (0..10)
        .map(|_| normal(rng, 20).iter().map(|v| 4.0 * v).collect())
        .collect();
    (clusters(rng, &centres, 3000), clusters(rng, &centres, 1000))
}

#[test]
fn probe_separates_gaussian_clusters_and_is_at_chance_on_shuffled_labels() {
    let mut rng = rng();
    let (train, test) = cluster_sets(&mut rng);
    let cfg = ProbeConfig {
        epochs: 20,
        batch: 100,
        ..ProbeConfig::default()
    };
    let p = linear_probe(gpu(), &train, &test, &cfg).unwrap();
    assert!(p.test_accuracy >= 0.98, "{p:?}");
    assert!(p.train_accuracy >= 0.98, "{p:?}");
    // Deterministic from the seed.
    assert_eq!(linear_probe(gpu(), &train, &test, &cfg).unwrap(), p);
    // Labels carrying no information: test accuracy near 1/10.
    let mut shuffled = train.clone();
    shuffled.labels.shuffle(&mut rng);
    let mut test_shuffled = test.clone();
    test_shuffled.labels.shuffle(&mut rng);
    let p = linear_probe(gpu(), &shuffled, &test_shuffled, &cfg).unwrap();
    assert!(
        (0.05..0.17).contains(&p.test_accuracy),
        "shuffled labels: {p:?}"
    );
}

/// The probe whitens its inputs, so an ill-conditioned invertible linear map of the codes
/// (condition number 1e3, mixing every feature) barely moves it; unshrunk, the whitened
/// training codes have identity covariance (f64); a constant feature is dropped.
#[test]
fn probe_is_unmoved_by_an_ill_conditioned_linear_map_of_the_codes() {
    use shadergrad::eval::whiten::Whitening;
    let mut rng = rng();
    // Overlapping clusters: accuracy well below 100%, so a difference would show.
    let centres: Vec<Vec<f32>> = (0..10)
        .map(|_| normal(&mut rng, 20).iter().map(|v| 0.6 * v).collect())
        .collect();
    // 10,000 codes of 20 features: plenty, so the whitening's shrinkage stays near 0.
    let (train, test) = (
        clusters(&mut rng, &centres, 10_000),
        clusters(&mut rng, &centres, 1000),
    );
    // A = Q diag(10^(3 i / 19)): Q orthogonal by Gram-Schmidt of a Gaussian matrix.
    let mut q: Vec<Vec<f64>> = (0..20)
        .map(|_| normal(&mut rng, 20).iter().map(|&v| v as f64).collect())
        .collect();
    for i in 0..20 {
        for j in 0..i {
            let d: f64 = (0..20).map(|k| q[i][k] * q[j][k]).sum();
            let qj = q[j].clone();
            q[i].iter_mut().zip(&qj).for_each(|(a, b)| *a -= d * b);
        }
        let norm = q[i].iter().map(|v| v * v).sum::<f64>().sqrt();
        q[i].iter_mut().for_each(|v| *v /= norm);
    }
    let map = |c: &Codes| {
        let values = c
            .values
            .chunks_exact(20)
            .flat_map(|x| {
                let q = &q;
                (0..20).map(move |r| {
                    (0..20)
                        .map(|k| q[r][k] * 10f64.powf(3.0 * k as f64 / 19.0) * x[k] as f64)
                        .sum::<f64>() as f32
                })
            })
            .collect();
        Codes::new(values, 20, c.labels.clone()).unwrap()
    };
    // 1,500 steps, about what the default gives on 60,000 codes (1,200).
    let cfg = ProbeConfig {
        epochs: 15,
        batch: 100,
        ..ProbeConfig::default()
    };
    let plain = linear_probe(gpu(), &train, &test, &cfg).unwrap();
    let mixed = linear_probe(gpu(), &map(&train), &map(&test), &cfg).unwrap();
    assert!(
        plain.test_accuracy > 0.4 && plain.test_accuracy < 0.97,
        "clusters too easy or too hard to compare: {plain:?}"
    );

    // Standardising each feature instead loses 15-17 points here. What remains is the
    // shrinkage's price: it damps the directions of R far below its scale (variances down
    // to 1e-6 of the largest under this map), 1-2 points in this extreme case.
    assert!(
        (plain.test_accuracy - mixed.test_accuracy).abs() <= 0.03,
        "plain {plain:?} vs mixed {mixed:?}"
    );

    // A constant 21st feature is dropped.
    let mut widened = Vec::new();
    for row in map(&train).values.chunks_exact(20) {
        widened.extend_from_slice(row);
        widened.push(3.5);
    }
    let wide = Codes::new(widened, 21, train.labels.clone()).unwrap();
    // Ledoit-Wolf's shrinkage: small with 10,000 codes of 20 features, far larger with 40.
    let (many, few) = (
        Whitening::fit(&wide).shrinkage,
        Whitening::fit(&wide.head(40)).shrinkage,
    );
    assert!(
        many < 0.01 && few > 10.0 * many,
        "shrinkage {many} vs {few} on 40 codes"
    );
    // Unshrunk, the whitened training codes have identity covariance (f64).
    let white = Whitening::fit_with(&wide, Some(0.0));
    assert_eq!(white.dim(), 20);
    let z = white.apply(&wide);
    let n = train.len() as f64;
    for i in 0..20 {
        for j in 0..20 {
            let c: f64 = z
                .chunks_exact(20)
                .map(|r| r[i] as f64 * r[j] as f64)
                .sum::<f64>()
                / n;
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((c - want).abs() < 1e-3, "cov[{i}][{j}] = {c}");
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let mut rng = rng();
    let a = random_codes(&mut rng, 20, 4, 3);
    let b = random_codes(&mut rng, 5, 3, 3);
    let empty = Codes {
        values: vec![],
        dim: 4,
        labels: vec![],
    };
    assert!(knn(gpu, &a, &b, 3).is_err(), "D mismatch");
    assert!(knn(gpu, &a, &a.head(5), 21).is_err(), "k > references");
    assert!(knn(gpu, &a, &a.head(5), 0).is_err(), "k = 0");
    assert!(knn(gpu, &empty, &a, 1).is_err(), "empty reference");
    assert!(knn(gpu, &a, &empty, 1).is_err(), "empty queries");
    let zero_chunk = KnnPlan {
        query_chunk: 0,
        ref_block: 4,
    };
    assert!(knn_with(gpu, &a, &a, 1, Some(zero_chunk), &mut |_, _| {}).is_err());
    let mut nan = a.clone();
    nan.values[7] = f32::NAN;
    assert!(knn(gpu, &nan, &a, 1).is_err(), "NaN code");
    assert!(Codes::new(vec![0.0; 7], 2, vec![0; 3]).is_err(), "ragged");
    assert!(Codes::new(vec![0.0; 6], 2, vec![0; 2]).is_err(), "labels");
    let cfg = ProbeConfig::default();
    assert!(linear_probe(gpu, &a, &b, &cfg).is_err(), "probe D mismatch");
    assert!(linear_probe(gpu, &empty, &a, &cfg).is_err(), "probe empty");
    let bad = ProbeConfig {
        epochs: 0,
        ..ProbeConfig::default()
    };
    assert!(linear_probe(gpu, &a, &a, &bad).is_err(), "0 epochs");
    let bad = ProbeConfig {
        lr: f64::NAN,
        ..ProbeConfig::default()
    };
    assert!(linear_probe(gpu, &a, &a, &bad).is_err(), "NaN lr");
}

#[test]
fn every_model_encodes_deterministically_whatever_the_batch() {
    use rand::SeedableRng;
    let gpu = gpu();
    let data = mnist::load(&mnist::default_dir()).unwrap();
    let split = mnist::Split {
        images: data.test.images[..37 * 784].to_vec(),
        labels: data.test.labels[..37].to_vec(),
    };
    for name in models::NAMES {
        let model = models::by_name(name, shadergrad::data::dataset::ImageShape::MNIST).unwrap();
        assert!(model.has_encoder(), "{name}");
        let mut seeded = StdRng::seed_from_u64(3);
        let store = shadergrad::nn::params::ParamStore::new(
            gpu,
            &model.params(),
            &model.state(),
            &mut seeded,
        )
        .unwrap();
        let a = encode_split(gpu, model.as_ref(), &store, &split, 8).unwrap();
        let b = encode_split(gpu, model.as_ref(), &store, &split, 64).unwrap();
        assert_eq!(a.dim, model.code_dim(), "{name}");
        assert_eq!((a.len(), a.labels.clone()), (37, split.labels.clone()));
        // The padded last batch and the batch size change nothing but rounding.
        assert_close(name, &a.values, &to_f64(&b.values), 1e-4, 1e-5);
        assert!(a.values.iter().any(|&v| v != 0.0), "{name}: all-zero codes");
        // The diagnostics pass: Gaussian posteriors expose logvar; the GPU k-NN entropy of
        // the 4 full batches of 8 (the padded fifth left out) against an f64 estimate.
        let enc = compile_encoder(gpu, model.as_ref(), &store, 8).unwrap();
        let e = encode_with(gpu, &enc, &split).unwrap();
        assert_close(name, &e.codes.values, &to_f64(&a.values), 1e-6, 1e-7);
        match (name, &e.logvar) {
            ("eae" | "infogan" | "classifier", None) => {}
            ("eae", Some(_)) => panic!("eae is deterministic: no logvar"),
            (_, Some(lv)) => assert!(lv.len() == 37 * a.dim && lv.iter().all(|v| v.is_finite())),
            (_, None) => panic!("{name}: a Gaussian posterior must expose logvar"),
        }
        let d = a.dim;
        let host: f64 = (0..4)
            .map(|b| {
                let rows: Vec<f64> = to_f64(&a.values[b * 8 * d..(b + 1) * 8 * d]);
                let (eps, _) = shadergrad::kernels::pairwise::cpu::knn(&rows, d, 1);
                let logs: f64 = eps.iter().map(|&e| (e + LOG_FLOOR as f64).ln()).sum();
                d as f64 / 8.0 * logs + knn_entropy_const(8, d, 1)
            })
            .sum::<f64>()
            / 4.0;
        let got = e.code_entropy.unwrap();
        assert!(
            (got - host).abs() <= 1e-3 * host.abs().max(1.0),
            "{name}: code entropy {got} vs f64 {host}"
        );
    }
}

/// `eval --layer`: DIM's inner layers come out flattened, and its code is the fc_mu map of
/// the "summary" layer (checked in f64 against the stored weights); an unknown layer is a
/// one-line error naming the model's layers, raised before any GPU work.
#[test]
fn dim_inner_layers_encode_flattened_and_the_code_is_their_linear_map() {
    use rand::SeedableRng;
    use shadergrad::eval::{check_layer, encode_split_at};
    let gpu = gpu();
    let data = mnist::load(&mnist::default_dir()).unwrap();
    let n = 13;
    let split = mnist::Split {
        images: data.test.images[..n * 784].to_vec(),
        labels: data.test.labels[..n].to_vec(),
    };
    let items = ["widths=4,6,8", "latent=5"].map(String::from);
    let hp = shadergrad::models::hparams::parse(&items).unwrap();
    let shape = shadergrad::data::dataset::ImageShape::MNIST;
    let model = models::by_name_with("dim", shape, &hp).unwrap();
    let mut seeded = StdRng::seed_from_u64(rng().random());
    let store =
        shadergrad::nn::params::ParamStore::new(gpu, &model.params(), &model.state(), &mut seeded)
            .unwrap();
    let at = |layer: &str| encode_split_at(gpu, model.as_ref(), &store, &split, 4, layer).unwrap();
    let (local, summary, codes) = (at("local"), at("summary"), at("codes"));
    assert_eq!((local.dim, summary.dim, codes.dim), (6 * 7 * 7, 8, 5));
    assert!(local.values.iter().any(|&v| v != 0.0));
    let w: Vec<f32> = gpu
        .download(&store.param_view(gpu, "fc_mu.weight", &[5, 8]).unwrap())
        .unwrap();
    let b: Vec<f32> = gpu
        .download(&store.param_view(gpu, "fc_mu.bias", &[5]).unwrap())
        .unwrap();
    let want: Vec<f64> = (0..n * 5)
        .map(|e| {
            let (i, j) = (e / 5, e % 5);
            let dot: f64 = (0..8)
                .map(|c| summary.values[i * 8 + c] as f64 * w[j * 8 + c] as f64)
                .sum();
            dot + b[j] as f64
        })
        .collect();
    assert_close("dim codes from summary", &codes.values, &want, 1e-4, 1e-5);

    check_layer(model.as_ref(), "local").unwrap();
    let e = check_layer(model.as_ref(), "conv9")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"conv9\"") && e.contains("codes, local, summary"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// Train the VAE for a few steps on a small MNIST, then run the evaluation the CLI runs.
#[test]
fn end_to_end_vae_codes_probe_knn_and_retrieval_png() {
    let gpu = gpu();
    let data_dir = small_mnist(1000, 200);
    let out = tempfile::tempdir().unwrap();
    let mut cfg = shadergrad::train::config::TrainConfig::for_model("vae");
    cfg.out = out.path().to_path_buf();
    cfg.data_dir = data_dir.path().to_path_buf();
    cfg.epochs = 1;
    cfg.max_steps = Some(5);
    cfg.eval_batch = 100;
    shadergrad::train::trainer::train(gpu, cfg, None).unwrap();

    let (run, dir) = commands::load_run(gpu, out.path()).unwrap();
    let data = mnist::load(data_dir.path()).unwrap();
    let mut opts = ReprOptions {
        queries: Some(150),
        ..ReprOptions::default()
    };
    // 1,000 images are 2 steps of batch 500 per epoch: enough epochs for the probe to fit.
    opts.probe.epochs = 40;
    let rows = report::run(gpu, run.model.as_ref(), &run.store, &data, 100, &dir, &opts).unwrap();
    assert_eq!(rows.len(), 2, "codes and raw pixels");
    assert_eq!((rows[0].dim, rows[1].dim), (20, 784));
    for r in &rows {
        for v in [r.probe_train, r.probe_test, r.knn_test] {
            assert!((0.0..=1.0).contains(&v), "{r:?}");
        }
    }
    // Raw pixels on 1,000 MNIST images classify far above chance.
    assert!(
        rows[1].knn_test > 0.7 && rows[1].probe_test > 0.7,
        "{rows:?}"
    );

    // The CLI path: `shadergrad eval` with the representation flags.
    std::fs::remove_file(dir.join("retrieval.png")).unwrap();
    let d = dir.to_str().unwrap();
    let stdout = run_cli(&[
        "eval",
        "--checkpoint",
        d,
        "--knn-k",
        "3",
        "--probe-epochs",
        "1",
        "--queries",
        "50",
        "--no-baseline",
    ]);
    assert!(stdout.contains("3-NN (test)") && stdout.contains("over 50 test queries"));
    assert!(!stdout.contains("raw pixels"), "--no-baseline: {stdout}");
    let png = std::fs::File::open(dir.join("retrieval.png")).unwrap();
    let info = png::Decoder::new(std::io::BufReader::new(png))
        .read_info()
        .unwrap()
        .info()
        .clone();
    // 10 rows of (query + 9 neighbours), 28-pixel tiles with 2-pixel borders.
    assert_eq!((info.width, info.height), (10 * 30 + 2, 10 * 30 + 2));
}

#[test]
fn active_units_count_dimensions_whose_code_varies() {
    use shadergrad::eval::{active_units, Codes};
    let mut r = rng();
    // Five dimensions: variances ~1/3 (uniform on [-1, 1]), ~0.0033 (on [-0.1, 0.1]),
    // 0 (constant), ~1/3 and ~0.0208 (on [-0.25, 0.25]): active at 0.01 are 0, 3 and 4.
    let n = 4000;
    let mut values = Vec::with_capacity(n * 5);
    for _ in 0..n {
        values.push(uniform(&mut r, 1, -1.0, 1.0)[0]);
        values.push(uniform(&mut r, 1, -0.1, 0.1)[0]);
        values.push(0.7);
        values.push(uniform(&mut r, 1, -1.0, 1.0)[0]);
        values.push(uniform(&mut r, 1, -0.25, 0.25)[0]);
    }
    let codes = Codes {
        values,
        dim: 5,
        labels: vec![0; n],
    };
    assert_eq!(active_units(&codes, 0.01), 3);
    assert_eq!(active_units(&codes, 0.1), 2);
}
