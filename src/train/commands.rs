//! What the `train`, `eval`, `sample` and `bench train` commands do, behind the CLI's parsing.
//!
//! A run directory holds config.json, checkpoint.safetensors, train_state.safetensors,
//! metrics.csv and the PNGs; `--checkpoint` and `--resume` accept the directory or a file in it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::bench::memory::{growth_per_step, resident_bytes};
use crate::data::batch::{batches, epoch_order};
use crate::data::dataset;
use crate::eval::assign::code_accuracy;
use crate::eval::fcd::{self, FcdOptions};
use crate::eval::report::{self, ReprOptions};
use crate::models::hparams::Hparams;
use crate::train::config::TrainConfig;
use crate::train::grids;
use crate::train::session::evaluate;
use crate::train::trainer::Run;
use crate::{Error, Gpu, Result};

const MIB: f64 = 1024.0 * 1024.0;

/// The run directory named by a directory or a file inside it.
pub fn run_dir(path: &Path) -> Result<PathBuf> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    if !dir.join("config.json").is_file() {
        return Err(Error::Data(format!(
            "{} is not a run directory (no config.json); pass the --out directory of a `shadergrad train` run",
            dir.display()
        )));
    }
    Ok(dir)
}

/// `runs/<model>-<UTC date>-<time>` for a run started now.
pub fn default_out(model: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    PathBuf::from("runs").join(format!(
        "{model}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    ))
}

/// Load a finished or interrupted run's model with its trained weights.
pub fn load_run(gpu: &Gpu, path: &Path) -> Result<(Run, PathBuf)> {
    let dir = run_dir(path)?;
    let cfg = TrainConfig::load(&dir.join("config.json"))?;
    let mut run = Run::new(gpu, cfg)?;
    run.resume_from(gpu, &dir)?;
    // Evaluation reads the parameter arena: put the checkpoint's weights (the average, when
    // the run keeps one) there instead of the live ones the train state restored.
    run.install_eval_weights(gpu)?;
    Ok((run, dir))
}

/// `shadergrad eval`: the test metrics of a checkpoint, printed; for models with an encoder
/// also the representation table and retrieval.png (`eval::report`).
pub fn eval(gpu: &Gpu, path: &Path, repr: &ReprOptions) -> Result<()> {
    eval_with(gpu, path, repr, None)
}

/// `eval`, plus (with `fcd`) the Fréchet classifier distance of the generator's samples,
/// measured and printed before the representation table.
pub fn eval_with(
    gpu: &Gpu,
    path: &Path,
    repr: &ReprOptions,
    fcd: Option<&FcdOptions>,
) -> Result<()> {
    let (run, dir) = load_run(gpu, path)?;
    let data = dataset::load(&run.cfg.data_dir)?;
    if data.shape != run.cfg.shape {
        return Err(Error::Config(format!(
            "{} was trained on {} images ({}) but its data directory {} now holds {} images \
             ({}); restore the run's dataset there",
            dir.display(),
            run.cfg.dataset,
            run.cfg.shape,
            run.cfg.data_dir.display(),
            data.name,
            data.shape
        )));
    }
    if fcd.is_some() {
        fcd::check_generator(run.model.as_ref())?; // before the slower work below
    }
    crate::eval::check_layer(run.model.as_ref(), &repr.layer)?;
    let m = evaluate(gpu, &run.eval, &data.test)?;
    let n = data.test.len() as f64;
    println!(
        "model {} on {} from {} (step {})",
        run.model.name(),
        data.name,
        dir.display(),
        run.step
    );
    println!("test loss {:.4}", m["loss"] / n);
    if let Some(kl) = m.get("kl") {
        println!("test kl   {:.4}", kl / n);
    }
    if let Some(c) = m.get("correct") {
        println!("test error {:.2}%", 100.0 * (1.0 - c / n));
    }
    if let Some(k) = run.model.categorical_code() {
        let codes = crate::eval::encode_split(
            gpu,
            run.model.as_ref(),
            &run.store,
            &data.test,
            run.cfg.eval_batch,
        )?;
        let acc = code_accuracy(&codes, k)?;
        println!(
            "categorical code as a digit classifier (best one-to-one assignment of its {k} \
             categories to labels): {:.2}% test accuracy",
            100.0 * acc
        );
    }
    if let Some(o) = fcd {
        println!("{}", fcd::fcd(gpu, &run, &data, o)?);
    }
    if run.model.has_encoder() {
        let (model, batch) = (run.model.as_ref(), run.cfg.eval_batch);
        report::run(gpu, model, &run.store, &data, batch, &dir, repr)?;
    }
    Ok(())
}

/// `shadergrad sample`: samples.png and interpolation.png (or the model's code grids) from a
/// checkpoint into `out`.
pub fn sample(gpu: &Gpu, path: &Path, out: Option<&Path>, seed: u64) -> Result<()> {
    let (run, dir) = load_run(gpu, path)?;
    let Some(dec) = &run.decode else {
        return Err(Error::Config(format!(
            "model {} is a classifier and has no decoder to sample",
            run.model.name()
        )));
    };
    let out = out.map(Path::to_path_buf).unwrap_or(dir);
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::Data(format!("cannot create {}: {e}", out.display())))?;
    let written = grids::write_generative(gpu, dec, run.model.as_ref(), run.cfg.shape, &out, seed)?;
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    println!("wrote {}", names.join(", "));
    Ok(())
}

/// `shadergrad bench train`: steady-state training images/s after a warm-up, as the median of
/// `reps` timed blocks of `steps` steps, then the time per instruction of one step.
pub fn bench_train(
    gpu: &Gpu,
    model: &str,
    hparams: Hparams,
    batch: Option<usize>,
    steps: u64,
    reps: usize,
) -> Result<()> {
    let mut cfg = TrainConfig {
        hparams,
        ..TrainConfig::for_model(model)
    };
    if let Some(b) = batch {
        cfg.batch_size = b;
    }
    let data = dataset::load(&cfg.data_dir)?;
    (cfg.dataset, cfg.shape) = (data.name.clone(), data.shape);
    let mut run = Run::new(gpu, cfg)?;
    let order = epoch_order(data.train.len(), run.cfg.seed, 0);
    let all: Vec<&[u32]> = batches(&order, run.cfg.batch_size).collect();
    let mut scratch = Vec::new();
    let lr = run.cfg.lr;
    let mut k = 0usize;
    let mut block = |run: &mut Run, n: u64| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            run.train_step(gpu, &data, all[k % all.len()], &mut scratch, lr)?;
            k += 1;
        }
        gpu.sync()?;
        Ok(t.elapsed().as_secs_f64())
    };
    block(&mut run, 10)?; // warm-up: the first dispatch of each pipeline JIT-compiles
    let resident_before = resident_bytes();
    let mut rates: Vec<f64> = (0..reps)
        .map(|_| block(&mut run, steps).map(|s| (steps as usize * run.cfg.batch_size) as f64 / s))
        .collect::<Result<_>>()?;
    let resident_after = resident_bytes();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("adapter: {}", gpu.describe());
    println!(
        "model {} batch {}: {:.0} images/s (median of {reps} x {steps} steps; min {:.0}, max {:.0})",
        model,
        run.cfg.batch_size,
        rates[reps / 2],
        rates[0],
        rates[reps - 1]
    );
    if let (Some(a), Some(b)) = (resident_before, resident_after) {
        // A step allocates nothing that outlives it, so this stays near 0 (a few KB of
        // allocator noise); a leak in the scheduler, wgpu or the driver shows as MB per step.
        let timed = reps as u64 * steps;
        println!(
            "host memory (resident): {:.0} MiB after warm-up, {:.0} MiB after {timed} more \
             steps ({:+.1} KiB per step)",
            a as f64 / MIB,
            b as f64 / MIB,
            growth_per_step(a, b, timed) / 1024.0
        );
    }
    println!("\none step, per instruction (each timed alone, median of 5 x 20 repeats):");
    let mut rows = run.train.program.profile(gpu, 20, 5)?;
    // Models updated in turn: every player's graph, labelled by player.
    for (i, later) in run.later_players.iter().enumerate() {
        let label = |(l, s, c): (String, f64, usize)| (format!("[player {}] {l}", i + 1), s, c);
        rows.extend(later.program.profile(gpu, 20, 5)?.into_iter().map(label));
    }
    let total: f64 = rows.iter().map(|r| r.1).sum();
    for (label, secs, count) in &rows {
        println!(
            "{:>8.3} ms {:>5.1}%  {label} ({count} dispatch{})",
            secs * 1e3,
            100.0 * secs / total,
            if *count == 1 { "" } else { "es" }
        );
    }
    println!("{:>8.3} ms  sum of instructions", total * 1e3);
    Ok(())
}
