//! The training loop: one submit per step (forward, backward and the Adam update of every
//! parameter in one dispatch), losses summed on the GPU and read every `log_every` steps,
//! evaluation, metrics.csv, checkpoints and grids at the end of every epoch. Models with an
//! encoder also get latent diagnostics every epoch from a program compiled once: the active
//! units, the k-NN entropy of the test codes and (Gaussian posteriors) the KL per dimension.
//!
//! A run is determined by (seed, data, adapter): the batch order comes from (seed, epoch),
//! the latent noise from (seed, step), so resuming from a checkpoint at step s continues
//! exactly as the unbroken run would.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;

use crate::data::batch::{batches, epoch_order};
use crate::data::dataset::{self, Dataset};
use crate::eval::assign::code_accuracy;
use crate::eval::{active_units, compile_encoder, encode_with, kl_per_dim};
use crate::models::{self, GraphKind, Model};
use crate::nn::params::ParamStore;
use crate::train::adam_groups::AdamGroup;
use crate::train::checkpoint::{Data, Tensor, TensorFile};
use crate::train::config::TrainConfig;
use crate::train::ema::Ema;
use crate::train::grids::{self, GRID};
use crate::train::images::save_plot;
use crate::train::readback::Readback;
use crate::train::session::{evaluate, Compiled};
use crate::{DType, Error, Gpu, Result};

pub const METRICS_HEADER: &str = "epoch,train_loss,test_loss,kl,test_error,images_per_sec,seconds";

/// One row of metrics.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_loss: f64,
    pub kl: f64,
    pub test_error: Option<f64>,
    pub images_per_sec: f64,
    pub seconds: f64,
    /// Model-specific training metrics per image (e.g. BN-VAE's kl_bound) and the latent
    /// diagnostics (active_units, code_entropy), appended as columns and printed.
    pub extra: Vec<(String, f64)>,
    /// Test-set KL(q(z_j|x) || N(0, 1)) per latent dimension j, averaged over images: the
    /// last columns, kl_z0, kl_z1, ... (empty for models without a Gaussian posterior); in
    /// metrics.csv only, not on the console.
    pub kl_per_dim: Vec<f64>,
}

impl EpochRow {
    fn csv(&self) -> String {
        let err = self
            .test_error
            .map(|e| format!("{e:.6}"))
            .unwrap_or_default();
        // Models without a KL term (classifier, infogan) leave the column empty, as test_error.
        let kl = match self.kl.is_nan() {
            true => String::new(),
            false => format!("{:.6}", self.kl),
        };
        let mut line = format!(
            "{},{:.6},{:.6},{kl},{err},{:.1},{:.3}",
            self.epoch, self.train_loss, self.test_loss, self.images_per_sec, self.seconds
        );
        for v in self.extra.iter().map(|(_, v)| v).chain(&self.kl_per_dim) {
            line.push_str(&format!(",{v:.6}"));
        }
        line
    }

    /// The header: METRICS_HEADER plus this model's extra columns.
    fn header(&self) -> String {
        let mut h = METRICS_HEADER.to_string();
        for (k, _) in &self.extra {
            h.push(',');
            h.push_str(k);
        }
        for j in 0..self.kl_per_dim.len() {
            h.push_str(&format!(",kl_z{j}"));
        }
        h
    }
}

/// Everything a run holds on the device.
pub struct Run {
    pub cfg: TrainConfig,
    pub model: Box<dyn Model>,
    pub store: ParamStore,
    /// The training graph (player 0's for models updated in turn): it carries the metrics.
    pub train: Compiled,
    /// The training graphs of players 1, 2, ... (`Model::players`), run after player 0's
    /// within the same submit, each followed by its own parameters' update.
    pub later_players: Vec<Compiled>,
    pub eval: Compiled,
    /// The Encode graph plus the code-entropy metric at the evaluation batch, for the
    /// per-epoch latent diagnostics (models with an encoder); compiled here, once.
    pub diagnostics: Option<Compiled>,
    pub decode: Option<Compiled>,
    /// One Adam update per run of parameters sharing a learning-rate multiplier (a single
    /// one over the whole arena unless the model asks for more).
    adam: Vec<AdamGroup>,
    m: crate::Buf,
    v: crate::Buf,
    /// The weight average evaluation and checkpoints use, when the config asks for one.
    ema: Option<Ema>,
    /// Optimizer steps taken so far (the global step).
    pub step: u64,
}

impl Run {
    pub fn new(gpu: &Gpu, mut cfg: TrainConfig) -> Result<Run> {
        cfg.validate()?;
        let (model, hparams) = models::by_name_resolved(&cfg.model, cfg.shape, &cfg.hparams)?;
        // config.json then records every hyperparameter, not just the overridden ones, so
        // the run rebuilds the same model after a default changes.
        cfg.hparams = hparams;
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let store = ParamStore::new(gpu, &model.params(), &model.state(), &mut rng)?;
        let player = |p: usize| {
            let built = model.build_player(p, cfg.batch_size, cfg.seed)?;
            Compiled::from_built(gpu, built, &store, true, cfg.batch_size)
        };
        let train = player(0)?;
        let later_players = (1..model.players())
            .map(player)
            .collect::<Result<Vec<_>>>()?;
        let eval = Compiled::new(
            gpu,
            model.as_ref(),
            &store,
            GraphKind::Eval,
            cfg.eval_batch,
            cfg.seed ^ 0xE7A1,
        )?;
        let diagnostics = match model.has_encoder() {
            true => Some(compile_encoder(
                gpu,
                model.as_ref(),
                &store,
                cfg.eval_batch,
            )?),
            false => None,
        };
        let decode = match model.generative() {
            true => Some(Compiled::new(
                gpu,
                model.as_ref(),
                &store,
                GraphKind::Decode,
                GRID * GRID,
                cfg.seed,
            )?),
            false => None,
        };
        let n = store.params.len();
        let (m, v) = (gpu.zeros(n, DType::F32)?, gpu.zeros(n, DType::F32)?);
        let adam = AdamGroup::build(gpu, model.as_ref(), &store, &m, &v, cfg.beta1)?;
        let ema = match cfg.ema_decay > 0.0 {
            true => Some(Ema::new(gpu, &store, cfg.ema_decay)?),
            false => None,
        };
        Ok(Run {
            cfg,
            model,
            store,
            train,
            later_players,
            eval,
            diagnostics,
            decode,
            adam,
            m,
            v,
            ema,
            step: 0,
        })
    }

    /// Load weights, optimizer state and the step from a run directory's checkpoint.
    pub fn resume_from(&mut self, gpu: &Gpu, dir: &Path) -> Result<()> {
        let state = TensorFile::load(&dir.join("train_state.safetensors"))?;
        let weights = TensorFile::load(&dir.join("checkpoint.safetensors"))?;
        let meta = |f: &TensorFile, k: &str| f.metadata.get(k).cloned().unwrap_or_default();
        if meta(&weights, "model") != self.model.name() {
            return Err(Error::Data(format!(
                "{} holds a '{}' model, not '{}'",
                dir.display(),
                meta(&weights, "model"),
                self.model.name()
            )));
        }
        if meta(&weights, "step") != meta(&state, "step") {
            return Err(Error::Data(format!(
                "checkpoint.safetensors (step {}) and train_state.safetensors (step {}) in {} \
                 are from different steps; restore both from the same run",
                meta(&weights, "step"),
                meta(&state, "step"),
                dir.display()
            )));
        }
        self.store.load_tensor_file(gpu, &weights)?;
        let n = self.store.params.len();
        if let Some(ema) = &self.ema {
            // The checkpoint holds the average; the live weights are in the train state.
            gpu.copy(&self.store.params, &ema.shadow)?;
            let live = state.get("params.live", &[n])?.as_f32("params.live")?;
            gpu.write(&self.store.params, live)?;
        }
        gpu.write(&self.m, state.get("adam.m", &[n])?.as_f32("adam.m")?)?;
        gpu.write(&self.v, state.get("adam.v", &[n])?.as_f32("adam.v")?)?;
        self.step = meta(&state, "step")
            .parse()
            .map_err(|_| Error::Data("train_state has no step".into()))?;
        Ok(())
    }

    /// Write checkpoint.safetensors (the weights evaluation uses, PyTorch names: the average
    /// when there is one) and train_state.safetensors (Adam moments, step, and with an
    /// average the live weights), each atomically.
    pub fn save(&self, gpu: &Gpu, dir: &Path) -> Result<()> {
        let step = self.step.to_string();
        let mut state = TensorFile::default();
        let n = self.store.params.len();
        state.insert("adam.m", Tensor::f32(vec![n], gpu.download(&self.m)?));
        state.insert("adam.v", Tensor::f32(vec![n], gpu.download(&self.v)?));
        state.metadata.insert("step".into(), step.clone());
        if self.ema.is_some() {
            let live = gpu.download(&self.store.params)?;
            state.insert("params.live", Tensor::f32(vec![n], live));
        }
        let mut weights = self.with_eval_weights(gpu, || self.store.to_tensor_file(gpu))?;
        weights
            .metadata
            .insert("model".into(), self.model.name().into());
        weights.metadata.insert("step".into(), step);
        state.save_atomic(&dir.join("train_state.safetensors"))?;
        weights.save_atomic(&dir.join("checkpoint.safetensors"))
    }

    /// Leave the weights evaluation uses in the parameter arena (the average, when there is
    /// one): for a run loaded only to be evaluated or sampled.
    pub fn install_eval_weights(&self, gpu: &Gpu) -> Result<()> {
        match &self.ema {
            Some(ema) => ema.install(gpu, &self.store),
            None => Ok(()),
        }
    }

    /// Run `f` with the weights evaluation uses in the parameter arena: the moving average
    /// when there is one (the live weights are put back afterwards), else the live weights.
    pub fn with_eval_weights<R>(&self, gpu: &Gpu, f: impl FnOnce() -> Result<R>) -> Result<R> {
        if let Some(ema) = &self.ema {
            ema.install(gpu, &self.store)?;
        }
        let out = f();
        if let Some(ema) = &self.ema {
            ema.restore(gpu, &self.store)?;
        }
        out
    }

    pub fn steps_per_epoch(&self, train_len: usize) -> u64 {
        (train_len / self.cfg.batch_size) as u64
    }

    /// Record and submit one training step on the batch `idx`.
    pub fn train_step(
        &mut self,
        gpu: &Gpu,
        data: &Dataset,
        idx: &[u32],
        scratch: &mut Vec<f32>,
        lr: f64,
    ) -> Result<()> {
        self.train.load_batch(gpu, &data.train, idx, scratch)?;
        for later in &self.later_players {
            // A later player may not look at the data at all (InfoGAN's generator).
            if later.program.buf_named("x").is_ok() {
                later.load_batch(gpu, &data.train, idx, scratch)?;
            }
        }
        for group in &mut self.adam {
            group.adam.lr = lr * group.multiplier;
            gpu.set_params(&group.step, &group.adam.params_at(self.step as u32 + 1));
        }
        // Each player's forward and backward, then the update of its own parameters, so the
        // next player sees them updated; one submit for the whole step.
        let mut all: Vec<&crate::Dispatch> = Vec::new();
        let players = std::iter::once(&self.train).chain(&self.later_players);
        for (player, compiled) in players.enumerate() {
            all.extend(compiled.program.record(gpu, self.step));
            all.extend(
                self.adam
                    .iter()
                    .filter(|g| g.player == player)
                    .map(|g| &g.step),
            );
        }
        all.extend(self.ema.as_ref().map(|e| &e.update));
        gpu.run(&all)?;
        self.step += 1;
        Ok(())
    }
}

fn finite_or_stop(what: &str, v: f64, step: u64, dir: &Path) -> Result<()> {
    if v.is_finite() {
        return Ok(());
    }
    Err(Error::Numeric(format!(
        "the {what} became {v} by step {step}; stopped. The last good checkpoint (if any) is \
         kept in {}; try a lower --lr",
        dir.display()
    )))
}

/// Train per `cfg` (optionally resuming from a run directory). Returns the epoch rows.
pub fn train(gpu: &Gpu, mut cfg: TrainConfig, resume: Option<&Path>) -> Result<Vec<EpochRow>> {
    let data = dataset::load(&cfg.data_dir)?;
    if resume.is_some() && cfg.shape != data.shape {
        return Err(Error::Config(format!(
            "the run was trained on {} images ({}) but {} holds {} images ({}); resume it with \
             its own dataset",
            cfg.dataset,
            cfg.shape,
            cfg.data_dir.display(),
            data.name,
            data.shape
        )));
    }
    // The model is built for the data's image shape, and config.json records it for `eval`.
    (cfg.dataset, cfg.shape) = (data.name.clone(), data.shape);
    if cfg.batch_size > data.train.len() {
        return Err(Error::Config(format!(
            "--batch-size {} exceeds the {} training images",
            cfg.batch_size,
            data.train.len()
        )));
    }
    let dir = cfg.out.clone();
    let mut run = Run::new(gpu, cfg)?;
    if let Some(from) = resume {
        run.resume_from(gpu, from)?;
    }
    let programs = std::iter::once(&run.train).chain(&run.later_players);
    let (planned, unplanned) = programs.fold((0, 0), |(a, b), c| {
        (a + c.program.transient_bytes, b + c.program.unplanned_bytes)
    });
    println!(
        "{} parameters; step memory plan: {:.1} MiB of activations and gradients ({:.1} MiB without reuse)",
        run.store.len(),
        planned as f64 / 1048576.0,
        unplanned as f64 / 1048576.0
    );
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Data(format!("cannot create {}: {e}", dir.display())))?;
    run.cfg.save(&dir.join("config.json"))?;
    let per_epoch = run.steps_per_epoch(data.train.len());
    let csv_path = dir.join("metrics.csv");
    let mut rows: Vec<EpochRow> = Vec::new();
    let mut header_written = resume.is_some() && csv_path.exists();
    let start_epoch = (run.step / per_epoch) as usize;
    let mut readback = Readback::new(gpu, run.train.metric_bufs()?.len());
    let loss_index = run
        .train
        .metric_index("loss")
        .ok_or_else(|| Error::Config("the model reports no loss metric".into()))?;
    let mut scratch = Vec::new();
    for epoch in start_epoch..run.cfg.epochs {
        let t0 = Instant::now();
        let lr = run.cfg.lr_at(epoch);
        let order = epoch_order(data.train.len(), run.cfg.seed, epoch as u64);
        let skip = (run.step - epoch as u64 * per_epoch) as usize; // resumed mid-epoch
        let bar = ProgressBar::new(per_epoch).with_position(skip as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg}").unwrap(),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, run.cfg.epochs));
        run.train.reset_metrics(gpu)?;
        let mut seen = 0usize;
        let mut stopped = false;
        for idx in batches(&order, run.cfg.batch_size).skip(skip) {
            if run.cfg.max_steps.is_some_and(|m| run.step >= m) {
                stopped = true;
                break;
            }
            run.train_step(gpu, &data, idx, &mut scratch, lr)?;
            seen += idx.len();
            bar.inc(1);
            if run.step % run.cfg.log_every == 0 {
                // Show the loss of an earlier request if the GPU has reached it, then ask for
                // the current one: neither waits for the device.
                if let Some((values, seen_then)) = readback.poll(gpu)? {
                    let loss = values[loss_index] as f64 / seen_then.max(1) as f64;
                    finite_or_stop("training loss", loss, run.step, &dir)?;
                    let rate = seen as f64 / t0.elapsed().as_secs_f64();
                    bar.set_message(format!("loss {loss:.3}  {rate:.0} img/s"));
                }
                readback.request(gpu, &run.train.metric_bufs()?, seen as u64)?;
            }
        }
        // Drain a request still in flight before the accumulators are reset.
        gpu.sync()?;
        readback.poll(gpu)?;
        let train_m = run.train.metrics(gpu)?;
        let seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        if seen == 0 {
            break;
        }
        let train_loss = train_m["loss"] / seen as f64;
        finite_or_stop("training loss", train_loss, run.step, &dir)?;
        let test = run.with_eval_weights(gpu, || evaluate(gpu, &run.eval, &data.test))?;
        let n_test = data.test.len() as f64;
        let mut row = EpochRow {
            epoch: epoch + 1,
            train_loss,
            test_loss: test["loss"] / n_test,
            kl: train_m.get("kl").copied().unwrap_or(f64::NAN) / seen as f64,
            test_error: test.get("correct").map(|c| 1.0 - c / n_test),
            extra: train_m
                .iter()
                .filter(|(k, _)| !["loss", "kl"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v / seen as f64))
                .collect(),
            kl_per_dim: Vec::new(),
            images_per_sec: seen as f64 / seconds,
            seconds,
        };
        if let Some(diag) = &run.diagnostics {
            let enc = run.with_eval_weights(gpu, || encode_with(gpu, diag, &data.test))?;
            // Active units (Burda et al.): dimensions whose test-set code varies by > 0.01.
            let active = active_units(&enc.codes, 0.01) as f64;
            row.extra.push(("active_units".into(), active));
            if let Some(h) = enc.code_entropy {
                row.extra.push(("code_entropy".into(), h));
            }
            if let Some(logvar) = &enc.logvar {
                row.kl_per_dim = kl_per_dim(&enc.codes, logvar)?;
            }
            if let Some(k) = run.model.categorical_code() {
                let acc = code_accuracy(&enc.codes, k)?;
                row.extra.push(("code_accuracy".into(), acc));
            }
        }
        println!(
            "epoch {:>3}  train {:.4}  test {:.4}{}{}  {:.0} img/s  {:.1}s",
            row.epoch,
            row.train_loss,
            row.test_loss,
            match row.kl.is_nan() {
                true => String::new(),
                false => format!("  kl {:.3}", row.kl),
            },
            row.test_error
                .map(|e| format!("  error {:.2}%", 100.0 * e))
                .unwrap_or_default()
                + &row
                    .extra
                    .iter()
                    .map(|(k, v)| format!("  {k} {v:.3}"))
                    .collect::<String>(),
            row.images_per_sec,
            row.seconds
        );
        let csv_err =
            |e: std::io::Error| Error::Data(format!("writing {}: {e}", csv_path.display()));
        if !header_written {
            std::fs::write(&csv_path, format!("{}\n", row.header())).map_err(csv_err)?;
            header_written = true;
        }
        let mut csv = std::fs::OpenOptions::new()
            .append(true)
            .open(&csv_path)
            .map_err(csv_err)?;
        writeln!(csv, "{}", row.csv()).map_err(csv_err)?;
        rows.push(row);
        run.save(gpu, &dir)?;
        run.with_eval_weights(gpu, || write_images(gpu, &run, &data, &dir, &rows))?;
        if stopped {
            break;
        }
    }
    Ok(rows)
}

fn write_images(gpu: &Gpu, run: &Run, data: &Dataset, dir: &Path, rows: &[EpochRow]) -> Result<()> {
    let series = |f: fn(&EpochRow) -> f64| {
        rows.iter()
            .map(|r| (r.epoch as f64, f(r)))
            .collect::<Vec<_>>()
    };
    save_plot(
        &dir.join("loss.png"),
        &[series(|r| r.train_loss), series(|r| r.test_loss)],
    )?;
    if let Some(dec) = &run.decode {
        grids::write_generative(gpu, dec, run.model.as_ref(), data.shape, dir, run.cfg.seed)?;
        if run.eval.outputs.contains_key("probs") {
            grids::write_reconstructions(gpu, &run.eval, &data.test, data.shape, dir)?;
        }
    }
    Ok(())
}

/// The I64 data of a tensor file entry, for callers that read counters.
pub fn as_i64(t: &Tensor) -> Option<&[i64]> {
    match &t.data {
        Data::I64(v) => Some(v),
        Data::F32(_) => None,
    }
}
