//! The entropic autoencoder and the MMD-VAE end to end on a small MNIST: the loss falls over
//! the first 50 steps, and a training run writes the models' extra metrics.csv columns
//! (eae: entropy and its N(0, I) closed form; mmd-vae: mmd).
mod common;
use common::{gpu, small_mnist};
use shadergrad::data::batch::{batches, epoch_order};
use shadergrad::data::mnist;
use shadergrad::graph::ops::pairwise::gaussian_entropy;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer::{self, Run};

fn config(model: &str, out: &std::path::Path, data: &std::path::Path) -> TrainConfig {
    let mut cfg = TrainConfig::for_model(model);
    cfg.out = out.to_path_buf();
    cfg.data_dir = data.to_path_buf();
    cfg.log_every = 10;
    cfg
}

#[test]
fn loss_falls_over_the_first_50_steps() {
    let gpu = gpu();
    let data_dir = small_mnist(2000, 500);
    let data = mnist::load(data_dir.path()).unwrap();
    for model in ["eae", "mmd-vae"] {
        let dir = tempfile::tempdir().unwrap();
        let mut run = Run::new(gpu, config(model, dir.path(), data_dir.path())).unwrap();
        let mut scratch = Vec::new();
        let mut per_step = Vec::new();
        // 2,000 images are 10-15 batches: walk as many epochs' orders as 50 steps need.
        'outer: for epoch in 0.. {
            let order = epoch_order(data.train.len(), 1, epoch);
            for idx in batches(&order, run.cfg.batch_size) {
                run.train.reset_metrics(gpu).unwrap();
                let lr = run.cfg.lr;
                run.train_step(gpu, &data, idx, &mut scratch, lr).unwrap();
                per_step.push(run.train.metrics(gpu).unwrap()["loss"] / idx.len() as f64);
                if per_step.len() == 50 {
                    break 'outer;
                }
            }
        }
        let first: f64 = per_step[..10].iter().sum::<f64>() / 10.0;
        let last: f64 = per_step[40..].iter().sum::<f64>() / 10.0;
        println!("{model}: loss {first:.3} over steps 1-10, {last:.3} over 41-50");
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

/// The metrics.csv column `name` of every data row.
fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column '{name}' in {header:?}"));
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn metrics_csv_has_the_entropy_and_mmd_columns() {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    for model in ["eae", "mmd-vae"] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(model, dir.path(), data.path());
        cfg.epochs = 2;
        trainer::train(gpu, cfg, None).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        println!("{model}:\n{csv}");
        assert_eq!(csv.lines().count(), 3, "header and two epochs");
        if model == "eae" {
            // Batch estimates of H(Z) averaged over each epoch's steps, next to the closed
            // form for N(0, I_8); BN keeps z at unit variance, so H cannot exceed it by much
            // beyond the estimator's spread (2.3% at batch 128).
            for (h, g) in column(&csv, "entropy")
                .iter()
                .zip(column(&csv, "entropy_gaussian"))
            {
                assert!((g - gaussian_entropy(8)).abs() < 1e-4, "{g}");
                assert!(h.is_finite() && *h < 1.1 * g, "entropy {h} vs {g}");
            }
            assert!(column(&csv, "rec").iter().all(|r| r.is_finite()));
        } else {
            assert!(column(&csv, "mmd")
                .iter()
                .all(|m| m.is_finite() && *m >= -1e-6));
            assert!(column(&csv, "kl").iter().all(|k| k.is_finite()));
        }
        assert!(dir.path().join("samples.png").exists());
    }
}
