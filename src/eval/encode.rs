//! A model's deterministic codes for a whole split, through its `Encode` graph (the posterior
//! mean: mu for the VAE, BN-VAE's normalised and scaled mu, the VIB encoder's mean), and the
//! latent diagnostics that come with them: "logvar" for Gaussian posteriors and the
//! Kozachenko-Leonenko k-NN entropy (k = 1) of each batch of codes, a GPU metric.
//!
//! The program is compiled once (`compile_encoder`) and reused: the trainer builds it in
//! `Run::new` and runs it every epoch; `encode_split` compiles one for a single pass.
//!
//! Shapes: split images [N, P]; batches [B, P]; codes and logvar [N, D]. The graph's batch
//! is fixed, so the last batch is padded by repeating its last image and the padded rows are
//! dropped (and that batch's entropy, whose repeated rows are at distance 0, is left out).

use std::cell::Cell;

use crate::data::mnist::Split;
use crate::eval::Codes;
use crate::models::{Built, GraphKind, Model};
use crate::nn::params::ParamStore;
use crate::train::session::Compiled;
use crate::{Error, Gpu, Result};

/// The output of an Encode graph that holds the model's code.
pub const CODES: &str = "codes";

/// The metric of the encoder program: the k-NN entropy estimate of a batch's codes (nats).
pub const CODE_ENTROPY: &str = "code_entropy";

thread_local! {
    static COMPILES: Cell<usize> = const { Cell::new(0) };
}

/// How many encoder programs `compile_encoder` has compiled on this thread (tests use it to
/// check that training compiles its diagnostics program once, not once per epoch).
pub fn encoder_compiles() -> usize {
    COMPILES.with(Cell::get)
}

/// One pass of an encoder program over a split.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub codes: Codes,
    /// [N, D] log sigma^2 of q(z|x), for models with a Gaussian posterior.
    pub logvar: Option<Vec<f32>>,
    /// The k-NN entropy of the codes, averaged over the full batches (None: batch < 2 or no
    /// full batch).
    pub code_entropy: Option<f64>,
}

/// `model`'s Encode graph for `batch` images per step, plus the metric CODE_ENTROPY (when
/// batch >= 2: the k = 1 estimate needs another row), compiled against `store`.
pub fn compile_encoder(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    batch: usize,
) -> Result<Compiled> {
    compile_encoder_at(gpu, model, store, batch, CODES)
}

/// `compile_encoder`, reading `layer` instead of the code: any named output of the model's
/// Encode graph (DIM's "local" feature map and "summary", as in the paper's conv/fc/Y
/// evaluation), flattened to [B, features]. Only "codes" carries a logvar.
pub fn compile_encoder_at(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    batch: usize,
    layer: &str,
) -> Result<Compiled> {
    if !model.has_encoder() {
        return Err(Error::Config(format!(
            "model {} has no encoder; representation evaluation needs one",
            model.name()
        )));
    }
    let mut built = model.build(GraphKind::Encode, batch, 0)?;
    let codes = *built
        .outputs
        .get(layer)
        .ok_or_else(|| no_layer(model, &built, layer))?;
    let g = &mut built.graph;
    let codes = match g.shape(codes).to_vec() {
        // A feature map [B, C, H, W] is read as one vector per image (a zero-copy view).
        s if s.len() > 2 && layer != CODES => {
            let flat = g.reshape(codes, &[s[0], s[1..].iter().product()])?;
            g.output(layer, flat)
        }
        _ => codes,
    };
    match g.shape(codes) {
        [b, _] if *b == batch => {}
        s => {
            return Err(Error::Shape(format!(
                "model {}'s codes are {s:?}, expected [{batch}, D]",
                model.name()
            )))
        }
    }
    if batch >= 2 && layer == CODES {
        let h = g.knn_entropy(codes, 1)?;
        g.metric(CODE_ENTROPY, h)?;
    }
    // encode_with reads "codes" (and "logvar", which only the code has).
    if layer != CODES {
        built.outputs.remove("logvar");
    }
    built.outputs.insert(CODES, codes);
    let enc = Compiled::from_built(gpu, built, store, false, batch)?;
    COMPILES.with(|c| c.set(c.get() + 1));
    Ok(enc)
}

/// Fail early (before any GPU work) when `model`'s Encode graph has no output `layer`.
pub fn check_layer(model: &dyn Model, layer: &str) -> Result<()> {
    if !model.has_encoder() {
        return Ok(()); // nothing is encoded
    }
    let built = model.build(GraphKind::Encode, 2, 0)?;
    match built.outputs.contains_key(layer) {
        true => Ok(()),
        false => Err(no_layer(model, &built, layer)),
    }
}

fn no_layer(model: &dyn Model, built: &Built, layer: &str) -> Error {
    let layers: Vec<&str> = built
        .outputs
        .keys()
        .copied()
        .filter(|k| *k != "logvar")
        .collect();
    Error::Config(format!(
        "model {} has no layer {layer:?} to evaluate; its layers: {}",
        model.name(),
        layers.join(", ")
    ))
}

/// Run the encoder program `enc` over every image of `split` in order.
pub fn encode_with(gpu: &Gpu, enc: &Compiled, split: &Split) -> Result<Encoded> {
    let (n, batch) = (split.len(), enc.batch);
    if n == 0 || batch == 0 {
        return Err(Error::Config(format!(
            "encoding {n} images in batches of {batch}: both must be at least 1"
        )));
    }
    let codes = *enc.outputs.get("codes").ok_or_else(|| {
        Error::Config("encode_with needs a program from compile_encoder (no \"codes\")".into())
    })?;
    let dim = enc.program.graph.shape(codes)[1];
    let logvar = enc.outputs.get("logvar").copied();
    let has_entropy = enc.metric_index(CODE_ENTROPY).is_some();
    let mut values = Vec::with_capacity(n * dim);
    let mut logvars = logvar.map(|_| Vec::with_capacity(n * dim));
    let (mut full, mut entropy_sum) = (0usize, None);
    let mut scratch = Vec::new();
    enc.reset_metrics(gpu)?;
    for b0 in (0..n).step_by(batch) {
        let rows = batch.min(n - b0);
        if rows < batch && has_entropy {
            // The padded last batch: take the full batches' entropy sum before it runs.
            entropy_sum = Some(enc.metrics(gpu)?[CODE_ENTROPY]);
        }
        let idx: Vec<u32> = (0..batch).map(|i| (b0 + i.min(rows - 1)) as u32).collect();
        enc.load_batch(gpu, split, &idx, &mut scratch)?;
        enc.program.step(gpu, 0, &[])?;
        let out: Vec<f32> = gpu.download(enc.program.buf(codes)?)?;
        values.extend_from_slice(&out[..rows * dim]);
        if let (Some(t), Some(acc)) = (logvar, logvars.as_mut()) {
            let out: Vec<f32> = gpu.download(enc.program.buf(t)?)?;
            acc.extend_from_slice(&out[..rows * dim]);
        }
        full += (rows == batch) as usize;
    }
    if has_entropy && entropy_sum.is_none() {
        entropy_sum = Some(enc.metrics(gpu)?[CODE_ENTROPY]);
    }
    Ok(Encoded {
        codes: Codes::new(values, dim, split.labels.clone())?,
        logvar: logvars,
        code_entropy: entropy_sum.filter(|_| full > 0).map(|s| s / full as f64),
    })
}

/// The codes of every image of `split` in order, `batch` images per step.
pub fn encode_split(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    split: &Split,
    batch: usize,
) -> Result<Codes> {
    encode_split_at(gpu, model, store, split, batch, CODES)
}

/// `encode_split` reading the Encode graph's output `layer` (see `compile_encoder_at`).
pub fn encode_split_at(
    gpu: &Gpu,
    model: &dyn Model,
    store: &ParamStore,
    split: &Split,
    batch: usize,
    layer: &str,
) -> Result<Codes> {
    let n = split.len();
    if n == 0 || batch == 0 {
        return Err(Error::Config(format!(
            "encoding {n} images in batches of {batch}: both must be at least 1"
        )));
    }
    let enc = compile_encoder_at(gpu, model, store, batch.min(n), layer)?;
    Ok(encode_with(gpu, &enc, split)?.codes)
}
