//! What a training run is asked to do; saved as config.json in the run directory and read
//! back by `eval`, `sample` and `--resume`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::dataset::ImageShape;
use crate::data::mnist;
use crate::models::hparams::Hparams;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Adam's beta1 (beta2 is PyTorch's 0.999).
    pub beta1: f64,
    /// Multiply the learning rate by `factor` every `every` epochs (1.0: constant).
    pub lr_decay_factor: f64,
    pub lr_decay_every: usize,
    pub seed: u64,
    /// Saved as null when it is the bundled MNIST, so a run directory copied to another
    /// machine (or checkout) finds that machine's copy; a missing field also means bundled.
    #[serde(
        default = "mnist::default_dir",
        serialize_with = "save_data_dir",
        deserialize_with = "load_data_dir"
    )]
    pub data_dir: PathBuf,
    /// The dataset's name and image shape, set from the data when training starts (configs
    /// written before these fields existed are MNIST runs).
    #[serde(default = "mnist_name")]
    pub dataset: String,
    #[serde(default)]
    pub shape: ImageShape,
    pub out: PathBuf,
    /// Stop after this many optimizer steps in total (a checkpoint is written there).
    pub max_steps: Option<u64>,
    /// Images per evaluation batch (must divide the test set).
    pub eval_batch: usize,
    /// Read the GPU-side loss every this many steps for the progress line.
    pub log_every: u64,
    /// Evaluate (and checkpoint) an exponential moving average of the weights with this
    /// decay per step; 0 turns it off. Older configs without it mean off.
    #[serde(default)]
    pub ema_decay: f64,
    /// Model hyperparameters set with `--hparam NAME=VALUE` (the model's defaults otherwise).
    #[serde(default, skip_serializing_if = "Hparams::is_empty")]
    pub hparams: Hparams,
}

impl TrainConfig {
    /// Defaults for `model`: the settings its paper or reference implementation uses.
    pub fn for_model(model: &str) -> TrainConfig {
        let base = TrainConfig {
            model: model.to_string(),
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            beta1: 0.9,
            lr_decay_factor: 1.0,
            lr_decay_every: 1,
            seed: 1,
            data_dir: mnist::default_dir(),
            dataset: mnist_name(),
            shape: ImageShape::MNIST,
            out: PathBuf::new(),
            max_steps: None,
            eval_batch: 500,
            log_every: 50,
            ema_decay: 0.0,
            hparams: Hparams::new(),
        };
        match model {
            // Alemi et al.: batch 100, Adam(1e-4, beta1 0.5), lr x0.97 every 2 epochs, and
            // (their public demo) tested with a 0.999 moving average of the weights.
            "vib" => TrainConfig {
                batch_size: 100,
                lr: 1e-4,
                beta1: 0.5,
                lr_decay_factor: 0.97,
                lr_decay_every: 2,
                ema_decay: 0.999,
                ..base
            },
            // InfoGAN / DCGAN: Adam(2e-4, beta1 0.5); batch 100 holds each of the 10
            // categories 10 times.
            "infogan" => TrainConfig {
                batch_size: 100,
                lr: 2e-4,
                beta1: 0.5,
                ..base
            },
            // InfoVAE's MMD-VAE: batch 200, Adam 1e-3 (both networks).
            "mmd-vae" | "mmd-vae-mlp" | "mmd-vae-ref" => TrainConfig {
                batch_size: 200,
                ..base
            },
            // The FCD classifier: batch 128, Adam 1e-3, the rate times 0.7 every epoch
            // (noisy Adam steps settle; measured in the README).
            "classifier" => TrainConfig {
                epochs: 5,
                lr_decay_factor: 0.7,
                ..base
            },
            // vae, bn-vae (PyTorch's example) and eae: batch 128, Adam 1e-3.
            _ => base,
        }
    }

    /// The learning rate in `epoch` (0-based) under the step-decay schedule.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.lr
            * self
                .lr_decay_factor
                .powi((epoch / self.lr_decay_every.max(1)) as i32)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 {
            return bad("--batch-size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad(format!("beta1 must lie in [0, 1), got {}", self.beta1));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad(format!(
                "--ema must lie in [0, 1) (0 turns the weight average off), got {}",
                self.ema_decay
            ));
        }
        if !(self.lr_decay_factor.is_finite() && self.lr_decay_factor > 0.0) {
            return bad(format!(
                "--lr-decay must be a positive factor (1 keeps the rate constant), got {}",
                self.lr_decay_factor
            ));
        }
        if self.lr_decay_every == 0 {
            return bad("--lr-decay-every must be at least 1 epoch".into());
        }
        if self.eval_batch == 0 || self.log_every == 0 {
            return bad("eval batch and log interval must be at least 1".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Data(e.to_string()))?;
        crate::train::checkpoint::write_atomic(path, text.as_bytes())
    }

    /// A saved run's config; hyperparameters it predates get the values it ran with.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
        let mut cfg: TrainConfig = serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!("{} is not a valid run config: {e}", path.display()))
        })?;
        crate::models::hparams::fill_saved(&cfg.model, &mut cfg.hparams);
        Ok(cfg)
    }
}

fn mnist_name() -> String {
    "mnist".into()
}

/// Whether `dir` is the bundled MNIST (compared after resolving links and `..`).
fn is_bundled(dir: &Path) -> bool {
    let bundled = mnist::default_dir();
    dir == bundled
        || matches!(
            (dir.canonicalize(), bundled.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}

fn save_data_dir<S: Serializer>(dir: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    match is_bundled(dir) {
        true => s.serialize_none(),
        false => s.serialize_some(dir),
    }
}

/// null: the bundled MNIST. An absolute path that does not exist here but ends in
/// data/mnist is another checkout's bundled copy (configs from before null was written).
fn load_data_dir<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<PathBuf, D::Error> {
    let Some(dir) = Option::<PathBuf>::deserialize(d)? else {
        return Ok(mnist::default_dir());
    };
    let foreign_bundle = dir.is_absolute() && !dir.exists() && dir.ends_with("data/mnist");
    Ok(if foreign_bundle {
        mnist::default_dir()
    } else {
        dir
    })
}
