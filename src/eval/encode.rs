//! A model's deterministic codes for a whole split, through its `Encode` graph (the posterior
//! mean: mu for the VAE, BN-VAE's normalised and scaled mu, the VIB encoder's mean).
//!
//! Shapes: split images [N, P]; batches [B, P]; codes [N, D]. The graph's batch is fixed,
//! so the last batch is padded by repeating its last image and the padded rows are dropped.

use crate::data::mnist::Split;
use crate::eval::Codes;
use crate::models::{GraphKind, Model};
use crate::nn::params::ParamStore;
use crate::train::session::Compiled;
use crate::{Error, Gpu, Result};

/// The codes of every image of `split` in order, `batch` images per step.
pub fn encode_split(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    split: &Split,
    batch: usize,
) -> Result<Codes> {
    if !model.has_encoder() {
        return Err(Error::Config(format!(
            "model {} has no encoder; representation evaluation needs one",
            model.name()
        )));
    }
    let n = split.len();
    if n == 0 || batch == 0 {
        return Err(Error::Config(format!(
            "encoding {n} images in batches of {batch}: both must be at least 1"
        )));
    }
    let batch = batch.min(n);
    let enc = Compiled::new(gpu, model, store, GraphKind::Encode, batch, 0)?;
    let codes = *enc.outputs.get("codes").ok_or_else(|| {
        Error::Config(format!(
            "model {}'s Encode graph has no \"codes\" output",
            model.name()
        ))
    })?;
    let dim = match enc.program.graph.shape(codes) {
        [b, d] if *b == batch => *d,
        s => {
            return Err(Error::Shape(format!(
                "model {}'s codes are {s:?}, expected [{batch}, D]",
                model.name()
            )))
        }
    };
    let mut values = Vec::with_capacity(n * dim);
    let mut scratch = Vec::new();
    for b0 in (0..n).step_by(batch) {
        let rows = batch.min(n - b0);
        let idx: Vec<u32> = (0..batch).map(|i| (b0 + i.min(rows - 1)) as u32).collect();
        enc.load_batch(gpu, split, &idx, &mut scratch)?;
        enc.program.step(gpu, 0, &[])?;
        let out: Vec<f32> = gpu.download(enc.program.buf(codes)?)?;
        values.extend_from_slice(&out[..rows * dim]);
    }
    Codes::new(values, dim, split.labels.clone())
}
