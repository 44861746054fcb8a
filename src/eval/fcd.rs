//! The Fréchet classifier distance (FCD) of a generative model: the Fréchet (2-Wasserstein)
//! distance between Gaussians fitted to a classifier's penultimate features of N generated
//! images and of N test images,
//!
//!   d^2 = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}),
//!
//! the recipe of FID (Heusel et al. 2017) with a small MNIST classifier trained by this
//! project (`models::classifier`) in place of Inception, so it is not called FID. The same
//! distance between N training and the N test images is printed beside it: the floor that
//! finite N and the train/test shift leave even for perfect samples.
//!
//! tr((S1 S2)^{1/2}) = tr((S1^{1/2} S2 S1^{1/2})^{1/2}) (similar matrices, the second one
//! symmetric PSD) = sum_i sqrt(lambda_i) over the eigenvalues of S1^{1/2} S2 S1^{1/2}.
//! Everything on the host is f64; features are f32 from the GPU.
//!
//! Shapes: features [N, F] row-major (F = 128); means [F]; covariances [F, F] row-major.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::dataset::{Dataset, ImageShape, Split};
use crate::eval::encode_split;
use crate::eval::linalg::{matmul, sqrt_psd, sym_eigen, symmetrize, trace};
use crate::models::Model;
use crate::train::commands::load_run;
use crate::train::config::TrainConfig;
use crate::train::session::evaluate;
use crate::train::trainer::{self, Run};
use crate::{Error, Gpu, Result};

/// Mean and covariance of N feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    /// [F]
    pub mean: Vec<f64>,
    /// [F, F], the unbiased estimate (divided by N - 1), as numpy.cov and FID use.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// Fit to `features` [N, dim] (N >= 2), accumulating in f64.
    pub fn fit(features: &[f32], dim: usize) -> Result<Gaussian> {
        if dim == 0 || !features.len().is_multiple_of(dim) || features.len() / dim < 2 {
            return Err(Error::Shape(format!(
                "a covariance needs at least 2 whole rows of D >= 1; got {} values for D = {dim}",
                features.len()
            )));
        }
        let n = features.len() / dim;
        let mut mean = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // Upper triangle of sum (x - mean)(x - mean)^T, mirrored at the end.
        let mut cov = vec![0.0f64; dim * dim];
        let mut centred = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = x as f64 - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                if ci == 0.0 {
                    continue; // ReLU features are often exactly zero
                }
                for (s, cj) in cov[i * dim + i..(i + 1) * dim]
                    .iter_mut()
                    .zip(&centred[i..])
                {
                    *s += ci * cj;
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / (n - 1) as f64;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        Ok(Gaussian { mean, cov })
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}) for means [F] and covariances [F, F]
/// (symmetric PSD). Eigenvalues of S1^{1/2} S2 S1^{1/2} that round-off makes negative count
/// as zero, and a result within round-off below zero is returned as 0.
pub fn frechet_distance(mu1: &[f64], cov1: &[f64], mu2: &[f64], cov2: &[f64]) -> Result<f64> {
    let n = mu1.len();
    if mu2.len() != n || cov1.len() != n * n || cov2.len() != n * n {
        return Err(Error::Shape(format!(
            "frechet_distance: means of {} and {} with covariances of {} and {} values; both \
             Gaussians need D means and D x D covariances of one D",
            n,
            mu2.len(),
            cov1.len(),
            cov2.len()
        )));
    }
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let root1 = sqrt_psd(cov1, n);
    let mut inner = matmul(&matmul(&root1, cov2, n), &root1, n);
    symmetrize(&mut inner, n);
    let (lambda, _) = sym_eigen(&inner, n);
    let tr_sqrt: f64 = lambda.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let d = mean_term + trace(cov1, n) + trace(cov2, n) - 2.0 * tr_sqrt;
    Ok(d.max(0.0))
}

/// `frechet_distance` of two fitted Gaussians.
pub fn distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    frechet_distance(&a.mean, &a.cov, &b.mean, &b.cov)
}

/// Settings of `eval --fcd`.
#[derive(Debug, Clone, PartialEq)]
pub struct FcdOptions {
    /// Run directory of a `classifier` model; trained there first when absent or empty.
    pub classifier: PathBuf,
    /// Generated images, and test (and training) images compared (at most the test set).
    pub samples: usize,
    /// Seed of the latent draws (`Model::sample_latent`).
    pub seed: u64,
}

pub const DEFAULT_CLASSIFIER_DIR: &str = "runs/fcd-classifier";
pub const DEFAULT_SAMPLES: usize = 10_000;

impl Default for FcdOptions {
    fn default() -> Self {
        FcdOptions {
            classifier: PathBuf::from(DEFAULT_CLASSIFIER_DIR),
            samples: DEFAULT_SAMPLES,
            seed: 1,
        }
    }
}

/// What `fcd` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Fcd {
    /// Generated vs test images.
    pub distance: f64,
    /// Training vs test images (the floor).
    pub reference: f64,
    /// N per set.
    pub samples: usize,
    /// The classifier's accuracy on the whole test split.
    pub classifier_accuracy: f64,
    pub classifier: PathBuf,
}

impl std::fmt::Display for Fcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frechet classifier distance (classifier {}, test acc {:.2}%, N = {}): {:.4}  \
             [test vs train reference: {:.4}]",
            self.classifier.display(),
            100.0 * self.classifier_accuracy,
            self.samples,
            self.distance,
            self.reference
        )
    }
}

/// The classifier run in `dir`, trained there first (default settings of model `classifier`
/// on `data_dir`) when `dir` does not exist or is empty; it must take images of `shape`.
pub fn classifier_run(gpu: &Gpu, dir: &Path, data_dir: &Path, shape: ImageShape) -> Result<Run> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => !dir.exists(),
    };
    if empty {
        let mut cfg = TrainConfig::for_model("classifier");
        cfg.data_dir = data_dir.to_path_buf();
        cfg.out = dir.to_path_buf();
        println!(
            "FCD: no classifier in {}; training one there once ({} epochs of model classifier \
             on {}, seed {}); later evaluations reuse it",
            dir.display(),
            cfg.epochs,
            data_dir.display(),
            cfg.seed
        );
        trainer::train(gpu, cfg, None)?;
    }
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::Config(format!(
            "{} is not a classifier run directory (no config.json); pass --fcd-classifier with \
             a `shadergrad train --model classifier` run, or a new directory to train one in",
            dir.display()
        )));
    }
    let cfg = TrainConfig::load(&config)?;
    if cfg.model != "classifier" {
        return Err(Error::Config(format!(
            "{} holds a '{}' run, not a classifier; pass --fcd-classifier with a \
             `shadergrad train --model classifier` run, or a new directory to train one in",
            dir.display(),
            cfg.model
        )));
    }
    if cfg.shape != shape {
        return Err(Error::Config(format!(
            "the classifier in {} takes {} images ({}) but the generator makes {shape} images; \
             pass --fcd-classifier with a classifier trained on the generator's dataset",
            dir.display(),
            cfg.shape,
            cfg.dataset,
        )));
    }
    if !dir.join("checkpoint.safetensors").is_file() {
        return Err(Error::Config(format!(
            "{} has no checkpoint yet (an interrupted classifier training?); finish it with \
             `shadergrad train --resume {}` or delete the directory to retrain",
            dir.display(),
            dir.display()
        )));
    }
    Ok(load_run(gpu, dir)?.0)
}

/// The first `n` images of `split` (labels kept).
fn head(split: &Split, n: usize) -> Split {
    let p = split.images.len() / split.len().max(1);
    Split {
        images: split.images[..n * p].to_vec(),
        labels: split.labels[..n].to_vec(),
    }
}

/// `n` images from the generator's prior through its Decode graph: [n, P].
fn generate(gpu: &Gpu, gen: &Run, n: usize, seed: u64) -> Result<Vec<f32>> {
    let dec = gen
        .decode
        .as_ref()
        .ok_or_else(|| Error::Config(format!("model {} has no decoder", gen.model.name())))?;
    let (b, d) = (dec.batch, gen.model.latent_dim());
    let steps = n.div_ceil(b);
    let z = gen.model.sample_latent(steps * b, seed);
    let mut images = Vec::new();
    let zbuf = dec.program.buf_named("z")?;
    for codes in z.chunks_exact(b * d) {
        gpu.write(zbuf, codes)?;
        dec.program.step(gpu, 0, &[])?;
        images.extend(dec.read(gpu, "probs")?);
    }
    images.truncate(n * gen.cfg.shape.pixels());
    Ok(images)
}

/// Ok for models that generate images (the FCD applies), else a one-line error.
pub fn check_generator(model: &dyn Model) -> Result<()> {
    if model.generative() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "model {} does not generate images; the Frechet classifier distance needs the \
         checkpoint of a generative model",
        model.name()
    )))
}

/// The FCD of generator `gen` (a loaded run) against `data`'s test split (the generator's
/// dataset), with the classifier of `o.classifier`.
pub fn fcd(gpu: &Gpu, gen: &Run, data: &Dataset, o: &FcdOptions) -> Result<Fcd> {
    check_generator(gen.model.as_ref())?;
    if gen.cfg.shape != data.shape {
        return Err(Error::Config(format!(
            "the generator makes {} images but its dataset now holds {} images",
            gen.cfg.shape, data.shape
        )));
    }
    let clf = classifier_run(gpu, &o.classifier, &gen.cfg.data_dir, gen.cfg.shape)?;
    let same = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    if !same(&clf.cfg.data_dir, &gen.cfg.data_dir) {
        // Same image shape, maybe another dataset (MNIST vs Fashion-MNIST): allowed, said.
        println!(
            "FCD: note: the classifier was trained on {}, the generator on {}",
            clf.cfg.data_dir.display(),
            gen.cfg.data_dir.display()
        );
    }
    let n = o.samples.min(data.test.len()).min(data.train.len());
    if n < 2 {
        return Err(Error::Config(format!(
            "--fcd-samples {} (test set {}): the covariances need at least 2 images per set",
            o.samples,
            data.test.len()
        )));
    }
    let t0 = Instant::now();
    println!("FCD: generating {n} images");
    let fake = gen.with_eval_weights(gpu, || generate(gpu, gen, n, o.seed))?;
    let fake = Split {
        images: fake,
        labels: vec![0; n],
    };
    println!("FCD: classifier features of {n} generated, test and training images");
    let (clf_model, batch) = (clf.model.as_ref(), clf.cfg.eval_batch.min(n));
    let (accuracy, feats) = clf.with_eval_weights(gpu, || {
        let m = evaluate(gpu, &clf.eval, &data.test)?;
        let accuracy = m.get("correct").copied().unwrap_or(f64::NAN) / data.test.len() as f64;
        let mut feats = Vec::new();
        for split in [&fake, &head(&data.test, n), &head(&data.train, n)] {
            feats.push(encode_split(gpu, clf_model, &clf.store, split, batch)?);
        }
        Ok((accuracy, feats))
    })?;
    let [fake, test, train] = [0, 1, 2].map(|i| Gaussian::fit(&feats[i].values, feats[i].dim));
    let test = test?;
    let out = Fcd {
        distance: distance(&fake?, &test)?,
        reference: distance(&train?, &test)?,
        samples: n,
        classifier_accuracy: accuracy,
        classifier: o.classifier.clone(),
    };
    println!("FCD: done in {:.1}s", t0.elapsed().as_secs_f64());
    Ok(out)
}
