//! Representation evaluation for any model with an encoder: how much of the label a frozen code
//! carries, measured by a linear probe (softmax regression trained on the GPU) and by k-NN
//! classification with cosine similarity, each beside the same measure on raw pixels.
//!
//! Shapes: codes [N, D] row-major with labels [N]; k-NN indices [Q, k] into the reference set.
//!
//! Parts: `assign` (an unsupervised categorical code's accuracy), `knn` (chunked cosine
//! similarity + GPU top-k), `probe` (linear probe), `encode` (a model's deterministic codes
//! for a split, with the latent diagnostics), `report` (the `eval` command's table and
//! retrieval.png). For generative models, `fcd` (the Fréchet classifier distance of samples,
//! with `linalg`'s host eigensolver).

use crate::data::dataset::Split;
use crate::{Error, Result};

pub mod assign;
pub mod encode;
pub mod fcd;
pub mod knn;
pub mod linalg;
pub mod probe;
pub mod report;
pub mod whiten;

pub use encode::{
    check_layer, compile_encoder, compile_encoder_at, encode_split, encode_split_at, encode_with,
    Encoded, CODES,
};
pub use knn::{knn, knn_with, Knn, KnnPlan};
pub use probe::{linear_probe, linear_probe_with, Probe, ProbeConfig};

/// Frozen codes of N items with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Codes {
    /// [N, D] row-major.
    pub values: Vec<f32>,
    pub dim: usize,
    /// [N]
    pub labels: Vec<u32>,
}

impl Codes {
    /// Codes after checking that `values` holds `labels.len()` whole rows of `dim`.
    pub fn new(values: Vec<f32>, dim: usize, labels: Vec<u32>) -> Result<Codes> {
        let c = Codes {
            values,
            dim,
            labels,
        };
        c.check("codes")?;
        Ok(c)
    }

    /// The raw pixels of a split as codes (the baseline representation).
    pub fn pixels(split: &Split) -> Codes {
        Codes {
            values: split.images.clone(),
            dim: split.images.len() / split.len().max(1),
            labels: split.labels.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row i.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The first `n` items (all when n >= N).
    pub fn head(&self, n: usize) -> Codes {
        let n = n.min(self.len());
        Codes {
            values: self.values[..n * self.dim].to_vec(),
            dim: self.dim,
            labels: self.labels[..n].to_vec(),
        }
    }

    /// The items `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Codes {
        Codes {
            values: rows.iter().flat_map(|&i| self.row(i)).copied().collect(),
            dim: self.dim,
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Non-empty, whole rows, finite values; `what` names the set in errors.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.dim == 0 || self.is_empty() {
            return Err(Error::Shape(format!(
                "{what}: {} items of dimension {}; need at least one item and D >= 1",
                self.len(),
                self.dim
            )));
        }
        if self.values.len() != self.len() * self.dim {
            return Err(Error::Shape(format!(
                "{what}: {} values are not {} rows of D = {} (one per label)",
                self.values.len(),
                self.len(),
                self.dim
            )));
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Numeric(format!(
                "{what}: value {} of item {} is {}; codes must be finite (check the encoder's \
                 checkpoint)",
                i % self.dim,
                i / self.dim,
                self.values[i]
            )));
        }
        Ok(())
    }
}

/// Both sets valid and of the same dimension.
pub(crate) fn check_pair(a: &Codes, an: &str, b: &Codes, bn: &str) -> Result<()> {
    a.check(an)?;
    b.check(bn)?;
    if a.dim != b.dim {
        return Err(Error::Shape(format!(
            "{an} have D = {} but {bn} have D = {}; both must come from the same encoder",
            a.dim, b.dim
        )));
    }
    Ok(())
}

/// Burda et al.'s active units: latent dimensions whose code varies over the data,
/// Cov_x(E[z|x])_dd > `threshold` (they use 0.01). Variances in f64 over all rows of `codes`.
pub fn active_units(codes: &Codes, threshold: f64) -> usize {
    let (n, d) = (codes.len(), codes.dim);
    if n < 2 {
        return 0;
    }
    (0..d)
        .filter(|&j| {
            let col = codes.values.iter().skip(j).step_by(d).map(|&v| v as f64);
            let mean = col.clone().sum::<f64>() / n as f64;
            let var = col.map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            var > threshold
        })
        .count()
}

/// KL(q(z_j|x) || N(0, 1)) per latent dimension j, averaged over the rows of `mu` [N, D]
/// with `logvar` [N, D] = log sigma^2: 0.5 (mu^2 + sigma^2 - 1 - log sigma^2), written with
/// exp_m1 so dimensions near the prior (logvar ~ 0) keep their precision. Summed over j it is
/// the mean KL term of the ELBO. f64 on the host: one pass over N x D values.
pub fn kl_per_dim(mu: &Codes, logvar: &[f32]) -> Result<Vec<f64>> {
    let (n, d) = (mu.len(), mu.dim);
    if logvar.len() != n * d || n == 0 {
        return Err(Error::Shape(format!(
            "kl_per_dim: {} log-variances for {n} codes of D = {d}; need N x D with N >= 1",
            logvar.len()
        )));
    }
    let mut kl = vec![0.0f64; d];
    for (m, lv) in mu.values.chunks(d).zip(logvar.chunks(d)) {
        for ((acc, &m), &lv) in kl.iter_mut().zip(m).zip(lv) {
            let (m, lv) = (m as f64, lv as f64);
            *acc += 0.5 * (m * m + lv.exp_m1() - lv);
        }
    }
    Ok(kl.into_iter().map(|k| k / n as f64).collect())
}
