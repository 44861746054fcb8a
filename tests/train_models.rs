//! Training end to end on the bundled MNIST: every model learns, checkpoints round-trip
//! exactly, resuming equals an unbroken run, and bad runs fail with clear errors.
mod common;
use common::{gpu, small_mnist};
use shadergrad::data::batch::{batches, epoch_order};
use shadergrad::data::mnist;
use shadergrad::models::NAMES;
use shadergrad::train::checkpoint::TensorFile;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer::{self, Run};
use shadergrad::Error;

/// 2,000 training and 500 test images keep the per-epoch evaluation of these runs short.
fn config(model: &str, out: &std::path::Path, data: &std::path::Path) -> TrainConfig {
    let mut cfg = TrainConfig::for_model(model);
    cfg.out = out.to_path_buf();
    cfg.data_dir = data.to_path_buf();
    cfg.log_every = 10;
    cfg
}

#[test]
fn every_model_loss_falls_over_its_first_50_steps() {
    let gpu = gpu();
    let data = mnist::load(&mnist::default_dir()).unwrap();
    // mmd-vae-ref is mmd-vae's graph at the reference's widths (its gradients are checked in
    // model_gradients.rs); 50 steps of it take minutes on a CPU adapter.
    for model in NAMES.into_iter().filter(|&m| m != "mmd-vae-ref") {
        let dir = tempfile::tempdir().unwrap();
        let mut run = Run::new(gpu, config(model, dir.path(), &mnist::default_dir())).unwrap();
        let order = epoch_order(data.train.len(), 1, 0);
        let mut scratch = Vec::new();
        let mut per_step = Vec::new();
        let mut js = Vec::new();
        let mut players = Vec::new();
        for idx in batches(&order, run.cfg.batch_size).take(50) {
            run.train.reset_metrics(gpu).unwrap();
            let lr = run.cfg.lr;
            run.train_step(gpu, &data, idx, &mut scratch, lr).unwrap();
            let m = run.train.metrics(gpu).unwrap();
            per_step.push(m["loss"] / idx.len() as f64);
            if let (Some(g), Some(l)) = (m.get("js_global"), m.get("js_local")) {
                js.push((g + l) / idx.len() as f64);
            }
            if let (Some(d), Some(q)) = (m.get("d_loss"), m.get("info_cat")) {
                players.push((d / idx.len() as f64, q / idx.len() as f64));
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (first, last) = (mean(&per_step[..10]), mean(&per_step[40..]));
        if !players.is_empty() {
            // A GAN's total loss need not fall (the players pull against each other); what
            // must happen early is that D learns to tell real from generated (its loss falls
            // below its start and below chance, 2 ln 2, while its body also serves Q), and G
            // and Q start to carry the category code (its cross-entropy leaves ln 10).
            let d: Vec<f64> = players.iter().map(|p| p.0).collect();
            let q: Vec<f64> = players.iter().map(|p| p.1).collect();
            let (d_first, d_last, q_first, q_last) = (
                mean(&d[..10]),
                mean(&d[40..]),
                mean(&q[..10]),
                mean(&q[40..]),
            );
            assert!(
                d_last < 0.95 * d_first
                    && d_last < 2.0 * std::f64::consts::LN_2
                    && q_last < q_first - 0.01,
                "{model}: D loss {d_first:.4} -> {d_last:.4}, category CE {q_first:.4} -> {q_last:.4}"
            );
            continue;
        }
        if !js.is_empty() {
            // Deep InfoMax starts at the JS bound's chance value (both discriminators
            // guessing) and its loss falls slowly at first; what must move is the MI
            // estimate, up, by more than its step-to-step noise (~0.01 nats here).
            let (js_first, js_last) = (mean(&js[..10]), mean(&js[40..]));
            assert!(
                js_last > js_first + 0.03 && last < first,
                "{model}: JS estimates {js_first:.4} -> {js_last:.4}, loss {first:.4} -> {last:.4}"
            );
            continue;
        }
        assert!(
            per_step.iter().all(|l| l.is_finite()),
            "{model}: {per_step:?}"
        );
        assert!(
            last < 0.9 * first,
            "{model}: loss {first:.4} over steps 1-10 but {last:.4} over 41-50"
        );
    }
}

/// One training step moves every parameter tensor of every model (InfoGAN in both update
/// orders): an optimizer range left out of the step, or a parameter no gradient reaches,
/// would otherwise train part of a model silently while its loss still falls.
#[test]
fn one_step_moves_every_parameter_of_every_model() {
    let gpu = gpu();
    let data = mnist::load(&mnist::default_dir()).unwrap();
    let mut runs: Vec<(&str, Vec<String>)> = NAMES
        .into_iter()
        .filter(|&m| m != "mmd-vae-ref") // mmd-vae's graph at larger widths
        .map(|m| (m, Vec::new()))
        .collect();
    runs.push(("infogan", vec!["updates=simultaneous".into()]));
    let ports = ["q_side=generator", "cont_std=fixed"].map(String::from);
    runs.push(("infogan", ports.to_vec()));
    runs.push(("dim", vec!["critic=dot".into(), "head=fc".into()]));
    for (model, hparams) in runs {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(model, dir.path(), &mnist::default_dir());
        cfg.hparams = shadergrad::models::hparams::parse(&hparams).unwrap();
        let mut run = Run::new(gpu, cfg).unwrap();
        let before = run.store.to_tensor_file(gpu).unwrap();
        let order = epoch_order(data.train.len(), 1, 0);
        let idx = batches(&order, run.cfg.batch_size).next().unwrap();
        let lr = run.cfg.lr;
        run.train_step(gpu, &data, idx, &mut Vec::new(), lr)
            .unwrap();
        let after = run.store.to_tensor_file(gpu).unwrap();
        for p in run.model.params() {
            let values = |f: &TensorFile| {
                f.get(&p.name, &p.shape)
                    .unwrap()
                    .as_f32(&p.name)
                    .unwrap()
                    .to_vec()
            };
            assert_ne!(
                values(&before),
                values(&after),
                "{model} {hparams:?}: {} did not move in a training step",
                p.name
            );
        }
    }
}

#[test]
fn checkpoint_round_trip_is_exact() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("bn-vae", dir.path(), data.path());
    cfg.epochs = 1;
    cfg.max_steps = Some(7);
    trainer::train(gpu, cfg.clone(), None).unwrap();
    let saved = TensorFile::load(&dir.path().join("checkpoint.safetensors")).unwrap();
    let mut run = Run::new(gpu, cfg).unwrap();
    run.resume_from(gpu, dir.path()).unwrap();
    assert_eq!(run.step, 7);
    let loaded = run.store.to_tensor_file(gpu).unwrap();
    for (name, t) in &loaded.tensors {
        assert_eq!(&saved.tensors[name], t, "{name} changed in the round trip");
    }
    assert!(
        saved.tensors.contains_key("mu_bn.running_var"),
        "batch-norm state is saved"
    );
    // The epoch's row reports the active units of the test-set codes, out of D = 20.
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|&h| h == "active_units").unwrap();
    let active: f64 = row[col].parse().unwrap();
    assert!(
        (0.0..=20.0).contains(&active) && active.fract() == 0.0,
        "{active}"
    );
}

/// The per-epoch latent diagnostics: KL per dimension (summing to the test-set KL that the
/// evaluation graph computes on the GPU), the k-NN code entropy, and one compile of the
/// diagnostics program for the whole run.
#[test]
fn metrics_csv_holds_the_test_kl_per_dimension_and_the_code_entropy() {
    use shadergrad::eval::encode::encoder_compiles;
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("vae", dir.path(), data.path());
    cfg.epochs = 2; // 15 steps each on 2,000 images
    let before = encoder_compiles();
    let rows = trainer::train(gpu, cfg, None).unwrap();
    assert_eq!(rows.len(), 2);
    // Counted per thread (the trainer runs on this one), so parallel tests do not interfere.
    assert_eq!(
        encoder_compiles() - before,
        1,
        "the diagnostics program is compiled once per run, not once per epoch"
    );
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let last: Vec<f64> = lines[2]
        .split(',')
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    let col = |name: &str| {
        let i = header.iter().position(|&h| h == name);
        last[i.unwrap_or_else(|| panic!("metrics.csv has no {name} column: {header:?}"))]
    };
    let kl: Vec<f64> = (0..20).map(|j| col(&format!("kl_z{j}"))).collect();
    assert!(
        !header.contains(&"kl_z20"),
        "one KL column per latent dimension"
    );
    assert!(kl.iter().all(|k| k.is_finite() && *k >= 0.0), "{kl:?}");
    let entropy = col("code_entropy");
    assert!(entropy.is_finite(), "code_entropy {entropy}");
    // The test-set KL of the saved weights as the Eval graph's fused KL kernel sums it (f32
    // on the GPU) against the host's f64 sum over dimensions of the csv's per-dimension
    // means, each written with 6 decimals (rounding <= 20 x 5e-7 = 1e-5 nats): 1e-4 relative
    // covers f32 accumulation over 500 images.
    let (run, _) = shadergrad::train::commands::load_run(gpu, dir.path()).unwrap();
    let test = shadergrad::data::dataset::load(data.path()).unwrap().test;
    let m = shadergrad::train::session::evaluate(gpu, &run.eval, &test).unwrap();
    let eval_kl = m["kl"] / test.len() as f64;
    let sum: f64 = kl.iter().sum();
    assert!(
        (sum - eval_kl).abs() <= 1e-4 * eval_kl.abs() + 2e-5,
        "sum of kl_z columns {sum:.6} vs the evaluation's test KL {eval_kl:.6}"
    );
    assert_eq!(rows[1].kl_per_dim.len(), 20);
}

#[test]
fn resuming_gives_the_same_weights_as_an_unbroken_run() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    // Without and with a weight average (whose live weights travel in the train state).
    for ema_decay in [0.0, 0.9] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut cfg = config("vae", a.path(), data.path());
        cfg.epochs = 3; // 15 steps per epoch on 2,000 images
        cfg.max_steps = Some(40);
        cfg.ema_decay = ema_decay;
        trainer::train(gpu, cfg.clone(), None).unwrap();
        let mut half = cfg.clone();
        half.out = b.path().to_path_buf();
        half.max_steps = Some(20); // stops mid-way through the second epoch
        trainer::train(gpu, half.clone(), None).unwrap();
        half.max_steps = Some(40);
        trainer::train(gpu, half, Some(b.path())).unwrap();
        for file in ["checkpoint.safetensors", "train_state.safetensors"] {
            let x = TensorFile::load(&a.path().join(file)).unwrap();
            let y = TensorFile::load(&b.path().join(file)).unwrap();
            assert_eq!(x.metadata["step"], "40");
            assert_eq!(
                x, y,
                "{file} (ema {ema_decay}): a run resumed at step 20 must end where the \
                 unbroken run does"
            );
        }
    }
}

#[test]
fn with_a_weight_average_the_checkpoint_holds_the_average_of_the_live_weights() {
    let gpu = gpu();
    let data = mnist::load(small_mnist(500, 500).path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("vae", dir.path(), &mnist::default_dir());
    cfg.ema_decay = 0.5; // a short memory, so 5 steps move the average well away from start
    let mut run = Run::new(gpu, cfg).unwrap();
    let live = |run: &Run| -> Vec<f64> {
        let f = run.store.to_tensor_file(gpu).unwrap();
        f.tensors
            .values()
            .flat_map(|t| match &t.data {
                shadergrad::train::checkpoint::Data::F32(v) => v.iter().map(|&x| x as f64),
                _ => unreachable!(),
            })
            .collect::<Vec<f64>>()
    };
    // f64 average of the live weights the GPU produced: starts at the initial weights.
    let mut average = live(&run);
    let order = epoch_order(data.train.len(), 1, 0);
    let mut scratch = Vec::new();
    for idx in batches(&order, run.cfg.batch_size).take(5) {
        let lr = run.cfg.lr;
        run.train_step(gpu, &data, idx, &mut scratch, lr).unwrap();
        for (a, w) in average.iter_mut().zip(live(&run)) {
            *a -= 0.5 * (*a - w);
        }
    }
    run.save(gpu, dir.path()).unwrap();
    let saved = TensorFile::load(&dir.path().join("checkpoint.safetensors")).unwrap();
    let got: Vec<f32> = saved
        .tensors
        .values()
        .flat_map(|t| match &t.data {
            shadergrad::train::checkpoint::Data::F32(v) => v.clone(),
            _ => unreachable!(),
        })
        .collect();
    common::assert_close("averaged checkpoint", &got, &average, 1e-5, 1e-7);
    // Training continues from the live weights, which differ from the average (Adam at
    // lr 1e-3 moves a weight at most ~1e-3 a step, so the lag is of that order).
    let now = live(&run);
    assert!(now.iter().zip(&average).any(|(a, b)| (a - b).abs() > 1e-4));
    // A run loaded for `eval` / `sample` evaluates the average, not the live weights.
    run.cfg.save(&dir.path().join("config.json")).unwrap();
    let (loaded, _) = shadergrad::train::commands::load_run(gpu, dir.path()).unwrap();
    let evaluated: Vec<f32> = live(&loaded).iter().map(|&v| v as f32).collect();
    assert!(
        evaluated == got,
        "eval must see the checkpoint's averaged weights, not the live ones"
    );
}

#[test]
fn a_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("vae", dir.path(), data.path());
    cfg.epochs = 1;
    cfg.max_steps = Some(10);
    trainer::train(gpu, cfg.clone(), None).unwrap();
    let good = std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap();
    cfg.max_steps = Some(200);
    cfg.lr = 1e30; // the first update sends the weights to infinity
    match trainer::train(gpu, cfg, Some(dir.path())) {
        Err(Error::Numeric(msg)) => {
            assert!(msg.contains("step") && msg.contains("checkpoint"), "{msg}")
        }
        other => panic!("expected a numeric failure, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap(),
        good
    );
}

#[test]
fn a_batch_too_large_for_the_adapter_is_a_limit_error() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("vae", dir.path(), data.path());
    // 50,000 x 784 floats = 157 MB: over lavapipe's 128 MiB per binding (any adapter with a
    // larger limit still refuses the VAE's [B, 784] buffers somewhere below 2^32 bytes).
    cfg.batch_size = 50_000;
    match Run::new(gpu, cfg) {
        Err(Error::Limit(msg)) => assert!(msg.contains("smaller batch"), "{msg}"),
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(_) if gpu.limits.max_storage_buffer_binding_size >= 50_000 * 784 * 4 => {}
        Ok(_) => panic!("an oversized batch was accepted"),
    }
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("vae", dir.path(), data.path());
    cfg.epochs = 1;
    cfg.max_steps = Some(2);
    trainer::train(gpu, cfg, None).unwrap();
    let mut other = Run::new(gpu, config("bn-vae", dir.path(), data.path())).unwrap();
    match other.resume_from(gpu, dir.path()) {
        Err(Error::Data(msg)) => assert!(msg.contains("'vae' model"), "{msg}"),
        other => panic!("expected a data error, got {:?}", other.err()),
    }
}

/// An InfoGAN run writes its categorical code's accuracy (a fraction) in metrics.csv, its
/// code grids instead of interpolations and reconstructions, and its checkpoint evaluates.
#[test]
fn infogan_run_writes_code_accuracy_and_code_grids() {
    let gpu = gpu();
    let data = small_mnist(1000, 500);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("infogan", dir.path(), data.path());
    cfg.max_steps = Some(3);
    trainer::train(gpu, cfg, None).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let i = header.iter().position(|&h| h == "code_accuracy").unwrap();
    let acc: f64 = lines[1].split(',').nth(i).unwrap().parse().unwrap();
    // At least the largest label's share (the best assignment can always match it).
    assert!((0.1..=1.0).contains(&acc), "code_accuracy {acc}");
    for png in ["samples", "categories", "continuous1", "continuous2"] {
        assert!(dir.path().join(format!("{png}.png")).exists(), "{png}.png");
    }
    for absent in ["interpolation", "reconstructions"] {
        assert!(
            !dir.path().join(format!("{absent}.png")).exists(),
            "{absent}.png"
        );
    }
    shadergrad::train::commands::eval(gpu, dir.path(), &Default::default()).unwrap();
}

/// Training steps allocate nothing that outlives them: after a warm-up, the resident size of
/// the process stays flat over further steps, for every model (DIM also with dot critics).
/// On lavapipe GPU buffers are host memory, so this also catches driver-side growth: Mesa
/// 22.3's lavapipe recompiles (and keeps) a shader on every dispatch when inlining the
/// dispatch's uniform values halves it, ~2.8 MiB and ~40 ms each; our transposed matmul hit
/// that for layers of 32 or 64 outputs (see matmul/plan.rs and examples/matmul_host_memory).
/// The driver decides per pipeline, and for good once a dispatch's values do not halve the
/// shader, so a pipeline's history matters: DIM with dot critics, the case that grew, runs
/// first on a device of its own, whose pipelines no other test has dispatched.
#[test]
fn training_steps_hold_host_memory_flat() {
    use shadergrad::bench::memory::{growth_per_step, resident_bytes};
    let own_device = shadergrad::Gpu::from_env().unwrap();
    let data = mnist::load(&mnist::default_dir()).unwrap();
    let runs = [("dim", vec!["critic=dot".to_string()], &own_device)]
        .into_iter()
        .chain(
            NAMES
                .into_iter()
                .filter(|&m| m != "mmd-vae-ref") // mmd-vae's graph; minutes per 15 steps
                .map(|m| (m, vec![], gpu())),
        );
    for (model, hparams, gpu) in runs {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(model, dir.path(), &mnist::default_dir());
        cfg.hparams = shadergrad::models::hparams::parse(&hparams).unwrap();
        let mut run = Run::new(gpu, cfg).unwrap();
        let order = epoch_order(data.train.len(), 1, 0);
        let all: Vec<&[u32]> = batches(&order, run.cfg.batch_size).collect();
        let mut scratch = Vec::new();
        let lr = run.cfg.lr;
        let mut steps = |run: &mut Run, range: std::ops::Range<usize>| {
            for i in range {
                run.train_step(gpu, &data, all[i], &mut scratch, lr)
                    .unwrap();
            }
            gpu.sync().unwrap();
        };
        steps(&mut run, 0..5);
        let Some(before) = resident_bytes() else {
            eprintln!("no /proc/self/statm on this system: nothing to measure");
            return;
        };
        steps(&mut run, 5..15);
        let after = resident_bytes().unwrap();
        let per_step = growth_per_step(before, after, 10);
        // One recompiled shader per step would be 2.8 MiB; allocator noise is KiBs.
        assert!(
            per_step < 256.0 * 1024.0,
            "{model} {hparams:?}: host memory grew {:.1} KiB per training step ({} -> {} MiB)",
            per_step / 1024.0,
            before >> 20,
            after >> 20
        );
    }
}
