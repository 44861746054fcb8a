//! Bitwise reproducibility on one adapter: two runs with the same seed and data give the same
//! metrics.csv (all columns but the timing ones, images_per_sec and seconds, which measure the
//! machine) and byte-identical checkpoint.safetensors. This holds because every reduction has
//! a fixed order (no float atomics), the noise is Philox keyed by (seed, step, head), the batch
//! order by (seed, epoch), and the parameter init by the seed.
mod common;
use std::path::Path;

use common::{gpu, small_mnist};
use shadergrad::train::checkpoint::TensorFile;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer;

/// Timing columns: they measure the machine, not the computation.
const TIMING: [&str; 2] = ["images_per_sec", "seconds"];

/// metrics.csv without its timing columns.
fn metrics_without_timing(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in TIMING {
        assert!(header.contains(&col), "metrics.csv has no '{col}' column");
    }
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !TIMING.contains(&header[i]))
        .collect();
    std::iter::once(header.join(","))
        .chain(lines.map(String::from))
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            keep.iter().map(|&i| cells[i].to_string()).collect()
        })
        .collect()
}

fn run_twice(model: &str) {
    let gpu = gpu();
    let data = small_mnist(2000, 500);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        let mut cfg = TrainConfig::for_model(model);
        cfg.out = dir.path().to_path_buf();
        cfg.data_dir = data.path().to_path_buf();
        cfg.seed = 7;
        cfg.epochs = 3;
        cfg.max_steps = Some(30); // two epochs of 15 (vae, bn-vae) or 20 (vib) steps
        trainer::train(gpu, cfg, None).unwrap();
    }
    let (a, b) = (dirs[0].path(), dirs[1].path());
    let rows = metrics_without_timing(a);
    assert!(
        rows.len() >= 3,
        "{model}: expected two epochs, got {rows:?}"
    );
    assert_eq!(
        rows,
        metrics_without_timing(b),
        "{model}: metrics.csv differs"
    );
    let ca = std::fs::read(a.join("checkpoint.safetensors")).unwrap();
    let cb = std::fs::read(b.join("checkpoint.safetensors")).unwrap();
    if ca != cb {
        let (ta, tb) = (
            TensorFile::from_bytes(&ca, "run 1").unwrap(),
            TensorFile::from_bytes(&cb, "run 2").unwrap(),
        );
        let differ: Vec<&String> = ta
            .tensors
            .keys()
            .filter(|k| ta.tensors.get(*k) != tb.tensors.get(*k))
            .collect();
        panic!(
            "{model}: checkpoint.safetensors differs between two identical runs; tensors that \
             differ: {differ:?}; metadata equal: {}; header bytes: {:?} vs {:?}",
            ta.metadata == tb.metadata,
            String::from_utf8_lossy(&ca[8..120.min(ca.len())]),
            String::from_utf8_lossy(&cb[8..120.min(cb.len())])
        );
    }
}

#[test]
fn bn_vae_runs_are_bitwise_identical() {
    run_twice("bn-vae");
}

#[test]
fn vib_runs_are_bitwise_identical() {
    run_twice("vib");
}

/// Regression: safetensors keeps metadata in a HashMap, so before `TensorFile::to_bytes`
/// sorted it, the same file serialised twice could come out in two key orders.
#[test]
fn tensor_file_bytes_do_not_depend_on_metadata_order() {
    use shadergrad::train::checkpoint::Tensor;
    let mut f = TensorFile::default();
    f.insert("w", Tensor::f32(vec![2], vec![1.0, 2.0]));
    for k in ["model", "step", "seed", "adapter", "producer", "a", "z"] {
        f.metadata.insert(k.into(), format!("value of {k}"));
    }
    let first = f.to_bytes().unwrap();
    for _ in 0..20 {
        assert_eq!(f.clone().to_bytes().unwrap(), first);
    }
    assert_eq!(TensorFile::from_bytes(&first, "bytes").unwrap(), f);
}
