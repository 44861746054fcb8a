//! A model on a device: its parameter store and its compiled programs, plus the helpers that
//! move batches in and metrics out. Shared by `train`, `eval` and `sample`.
//!
//! Shapes: batches [B, P] f32 (P = C * H * W, the dataset's image size) and labels [B] u32,
//! as the models' inputs "x" and "labels".

use std::collections::BTreeMap;

use crate::data::batch::gather_rows;
use crate::data::dataset::Split;
use crate::graph::{Program, T};
use crate::models::{Built, GraphKind, Model};
use crate::nn::params::ParamStore;
use crate::{Error, Gpu, Result};

/// A compiled graph with the named tensors its model exposes.
pub struct Compiled {
    pub program: Program,
    pub outputs: BTreeMap<&'static str, T>,
    pub batch: usize,
}

impl Compiled {
    pub fn new(
        gpu: &Gpu,
        model: &dyn Model,
        store: &ParamStore,
        kind: GraphKind,
        batch: usize,
        seed: u64,
    ) -> Result<Compiled> {
        let built = model.build(kind, batch, seed)?;
        Compiled::from_built(gpu, built, store, kind == GraphKind::Train, batch)
    }

    /// Compile a graph built (and possibly extended, e.g. with extra metrics) by the caller.
    pub fn from_built(
        gpu: &Gpu,
        built: Built,
        store: &ParamStore,
        train: bool,
        batch: usize,
    ) -> Result<Compiled> {
        let program = Program::compile(gpu, built.graph, store, train)?;
        Ok(Compiled {
            program,
            outputs: built.outputs,
            batch,
        })
    }

    /// Write rows `idx` of `split` as this batch's "x" (and "labels" when the graph has them).
    pub fn load_batch(
        &self,
        gpu: &Gpu,
        split: &Split,
        idx: &[u32],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        let x = self.program.buf_named("x")?;
        let width = x.len() / self.batch.max(1); // the model's values per image
        if split.images.len() != split.len() * width {
            return Err(Error::Shape(format!(
                "the model takes images of {width} values but the data has {} per image; \
                 train a model built for this dataset's image shape",
                split.images.len() / split.len().max(1)
            )));
        }
        gather_rows(&split.images, width, idx, scratch);
        gpu.write(x, scratch)?;
        if let Ok(buf) = self.program.buf_named("labels") {
            let labels: Vec<u32> = idx.iter().map(|&i| split.labels[i as usize]).collect();
            gpu.write(buf, &labels)?;
        }
        Ok(())
    }

    /// Zero every metric accumulator.
    pub fn reset_metrics(&self, gpu: &Gpu) -> Result<()> {
        for (name, _) in &self.program.graph.metrics {
            gpu.write(
                self.program.buf_named(&format!("metric:{name}"))?,
                &[0.0f32],
            )?;
        }
        Ok(())
    }

    /// The metric accumulators, in `graph.metrics` order (for a `Readback`).
    pub fn metric_bufs(&self) -> Result<Vec<&crate::Buf>> {
        self.program
            .graph
            .metrics
            .iter()
            .map(|(name, _)| self.program.buf_named(&format!("metric:{name}")))
            .collect()
    }

    /// Position of metric `name` in `metric_bufs`.
    pub fn metric_index(&self, name: &str) -> Option<usize> {
        self.program
            .graph
            .metrics
            .iter()
            .position(|(n, _)| n == name)
    }

    /// The metric sums since the last reset (waits for the GPU).
    pub fn metrics(&self, gpu: &Gpu) -> Result<BTreeMap<String, f64>> {
        let mut out = BTreeMap::new();
        for (name, _) in &self.program.graph.metrics {
            let v: Vec<f32> = gpu.download(self.program.buf_named(&format!("metric:{name}"))?)?;
            out.insert(name.clone(), v[0] as f64);
        }
        Ok(out)
    }

    /// Download an exposed output ("probs", "mu", ...).
    pub fn read(&self, gpu: &Gpu, name: &str) -> Result<Vec<f32>> {
        let t = self
            .outputs
            .get(name)
            .ok_or_else(|| Error::Config(format!("this model's graph has no output '{name}'")))?;
        gpu.download(self.program.buf(*t)?)
    }
}

/// Evaluate `eval` over all of `split` in order; returns metric sums over the split.
pub fn evaluate(gpu: &Gpu, eval: &Compiled, split: &Split) -> Result<BTreeMap<String, f64>> {
    if !split.len().is_multiple_of(eval.batch) {
        return Err(Error::Config(format!(
            "the evaluation batch {} must divide the {} test images",
            eval.batch,
            split.len()
        )));
    }
    eval.reset_metrics(gpu)?;
    let order: Vec<u32> = (0..split.len() as u32).collect();
    let mut scratch = Vec::new();
    for (k, idx) in order.chunks_exact(eval.batch).enumerate() {
        eval.load_batch(gpu, split, idx, &mut scratch)?;
        // The batch index keys the evaluation noise, so every epoch sees the same draws.
        eval.program.step(gpu, k as u64, &[])?;
    }
    eval.metrics(gpu)
}
