//! What a training run is asked to do; saved as config.json in the run directory and read
//! back by `eval`, `sample` and `--resume`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    pub data_dir: PathBuf,
    pub out: PathBuf,
    /// Stop after this many optimizer steps in total (a checkpoint is written there).
    pub max_steps: Option<u64>,
    /// Images per evaluation batch (must divide the test set).
    pub eval_batch: usize,
    /// Read the GPU-side loss every this many steps for the progress line.
    pub log_every: u64,
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
            data_dir: crate::data::mnist::default_dir(),
            out: PathBuf::new(),
            max_steps: None,
            eval_batch: 500,
            log_every: 50,
        };
        match model {
            // Alemi et al.: batch 100, Adam(1e-4, beta1 0.5), lr x0.97 every 2 epochs.
            "vib" => TrainConfig {
                batch_size: 100,
                lr: 1e-4,
                beta1: 0.5,
                lr_decay_factor: 0.97,
                lr_decay_every: 2,
                ..base
            },
            // InfoVAE's MMD-VAE: batch 200, Adam 1e-3.
            "mmd-vae" => TrainConfig {
                batch_size: 200,
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
        if self.eval_batch == 0 || self.log_every == 0 || self.lr_decay_every == 0 {
            return bad("eval batch, log interval and decay interval must be at least 1".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Data(e.to_string()))?;
        crate::train::checkpoint::write_atomic(path, text.as_bytes())
    }

    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Data(format!("{} is not a valid run config: {e}", path.display())))
    }
}
