//! What `shadergrad eval` adds for models with an encoder: a table of representation x
//! (linear probe test accuracy, k-NN test accuracy) for the model's codes and, as the baseline,
//! the raw pixels; and retrieval.png beside the checkpoint (rows: a test query, then its
//! nearest training images by code).
//!
//! Shapes: codes [N, D]; retrieval grid 10 rows x (1 + 9) tiles of the dataset's images.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::dataset::{Dataset, ImageShape, Split};
use crate::eval::{encode_split_at, knn, knn_with, linear_probe_with, Codes, ProbeConfig, CODES};
use crate::models::Model;
use crate::nn::params::ParamStore;
use crate::train::images::save_image_grid;
use crate::{Gpu, Result};

/// Queries (rows) of retrieval.png and neighbours shown per query.
pub const RETRIEVAL_ROWS: usize = 10;
pub const RETRIEVAL_NEIGHBOURS: usize = 9;

/// Settings of the representation evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReprOptions {
    /// Neighbours voting in k-NN classification.
    pub knn_k: usize,
    pub probe: ProbeConfig,
    /// Test images used as k-NN queries (the first N; None: all).
    pub queries: Option<usize>,
    /// Also evaluate the raw pixels.
    pub baseline: bool,
    /// Which output of the Encode graph to evaluate: "codes" (the model's code), or a named
    /// inner layer such as DIM's "local" feature map.
    pub layer: String,
}

impl Default for ReprOptions {
    fn default() -> Self {
        ReprOptions {
            knn_k: DEFAULT_KNN_K,
            probe: ProbeConfig::default(),
            queries: None,
            baseline: true,
            layer: CODES.to_string(),
        }
    }
}

/// k = 5. Measured once on the bundled MNIST's raw pixels (cosine, 60,000 references, 10,000
/// test queries; one run with k = 20 gives every smaller k): k = 1: 97.23%, 3: 97.42%,
/// 5: 97.37%, 7: 97.33%, 9: 97.20%, 15: 96.99%, 20: 96.96%. k = 3..7 is a plateau above k = 1
/// (one noisy neighbour decides) and k >= 9 (votes reach across class boundaries); 5 sits in
/// its middle.
pub const DEFAULT_KNN_K: usize = 5;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReprRow {
    pub name: String,
    pub dim: usize,
    pub probe_train: f64,
    pub probe_test: f64,
    pub knn_test: f64,
    pub seconds: f64,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg}").unwrap());
    b.set_prefix(what.to_string());
    b
}

/// Probe and k-NN of one representation, with progress output.
fn measure(gpu: &Gpu, name: &str, train: &Codes, test: &Codes, o: &ReprOptions) -> Result<ReprRow> {
    let t0 = Instant::now();
    let epochs = bar(
        o.probe.epochs as u64,
        &format!("{name}: linear probe, epoch"),
    );
    let probe = linear_probe_with(gpu, train, test, &o.probe, &mut |done, _| {
        epochs.set_position(done as u64)
    })?;
    epochs.finish_and_clear();
    println!(
        "{name}: linear probe {:.2}% test ({:.2}% train) in {:.1}s",
        100.0 * probe.test_accuracy,
        100.0 * probe.train_accuracy,
        t0.elapsed().as_secs_f64()
    );
    let t1 = Instant::now();
    let queries = test.head(o.queries.unwrap_or(test.len()).max(1));
    let k = o.knn_k.min(train.len());
    let done = bar(queries.len() as u64, &format!("{name}: {k}-NN, queries"));
    let nn = knn_with(gpu, train, &queries, k, None, &mut |d, _| {
        done.set_position(d as u64)
    })?;
    done.finish_and_clear();
    println!(
        "{name}: {k}-NN {:.2}% over {} test queries x {} references in {:.1}s",
        100.0 * nn.accuracy,
        queries.len(),
        train.len(),
        t1.elapsed().as_secs_f64()
    );
    Ok(ReprRow {
        name: name.to_string(),
        dim: train.dim,
        probe_train: probe.train_accuracy,
        probe_test: probe.test_accuracy,
        knn_test: nn.accuracy,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The first test image of each class in class order, then the earliest unused images, up to
/// `RETRIEVAL_ROWS`.
fn retrieval_queries(labels: &[u32]) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..RETRIEVAL_ROWS as u32)
        .filter_map(|c| labels.iter().position(|&l| l == c))
        .collect();
    for i in 0..labels.len() {
        if rows.len() >= RETRIEVAL_ROWS.min(labels.len()) {
            break;
        }
        if !rows.contains(&i) {
            rows.push(i);
        }
    }
    rows
}

/// retrieval.png: each row a test query, then its nearest training images by code.
pub fn write_retrieval(
    gpu: &Gpu,
    path: &Path,
    train: &Codes,
    test: &Codes,
    images: (&Split, &Split),
    shape: ImageShape,
) -> Result<()> {
    let pixels = shape.pixels();
    let rows = retrieval_queries(&test.labels);
    let k = RETRIEVAL_NEIGHBOURS.min(train.len());
    let nn = knn(gpu, train, &test.select(&rows), k)?;
    let image = |s: &Split, i: usize| s.images[i * pixels..(i + 1) * pixels].to_vec();
    let mut tiles = Vec::with_capacity(rows.len() * (k + 1) * pixels);
    for (r, &q) in rows.iter().enumerate() {
        tiles.extend(image(images.1, q));
        for &i in &nn.indices[r * k..(r + 1) * k] {
            tiles.extend(image(images.0, i as usize));
        }
    }
    save_image_grid(path, &tiles, shape, k + 1)
}

/// Encode both splits, measure the codes (and the raw pixels unless disabled), print the
/// table and write `dir/retrieval.png` (`retrieval-LAYER.png` for an inner layer). Returns
/// the table's rows (codes first).
pub fn run(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    data: &Dataset,
    batch: usize,
    dir: &Path,
    o: &ReprOptions,
) -> Result<Vec<ReprRow>> {
    let t0 = Instant::now();
    println!(
        "representations: encoding {} train and {} test images",
        data.train.len(),
        data.test.len()
    );
    let layer = o.layer.as_str();
    let train = encode_split_at(gpu, model, store, &data.train, batch, layer)?;
    let test = encode_split_at(gpu, model, store, &data.test, batch, layer)?;
    println!(
        "representations: {layer} of D = {} in {:.1}s",
        train.dim,
        t0.elapsed().as_secs_f64()
    );
    let mut rows = vec![measure(gpu, layer, &train, &test, o)?];
    let path = match layer {
        CODES => dir.join("retrieval.png"),
        _ => dir.join(format!("retrieval-{layer}.png")),
    };
    write_retrieval(
        gpu,
        &path,
        &train,
        &test,
        (&data.train, &data.test),
        data.shape,
    )?;
    if o.baseline {
        let (px_train, px_test) = (Codes::pixels(&data.train), Codes::pixels(&data.test));
        rows.push(measure(gpu, "raw pixels", &px_train, &px_test, o)?);
    }
    let k = o.knn_k.min(train.len());
    println!(
        "\n{:<14} {:>5}  {:>19}  {:>16}",
        "representation",
        "D",
        "linear probe (test)",
        format!("{k}-NN (test)")
    );
    for r in &rows {
        println!(
            "{:<14} {:>5}  {:>18.2}%  {:>15.2}%",
            r.name,
            r.dim,
            100.0 * r.probe_test,
            100.0 * r.knn_test
        );
    }
    println!("wrote {}", path.display());
    Ok(rows)
}
