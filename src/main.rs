//! The `shadergrad` command line.
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use shadergrad::eval::fcd::{self, FcdOptions};
use shadergrad::eval::report::{self, ReprOptions};
use shadergrad::train::commands;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer;
use shadergrad::{bench, gpu, verify, Gpu, GpuOptions};

#[derive(Parser)]
#[command(
    name = "shadergrad",
    version,
    about = "Train information-theoretic representation-learning models on WGSL shaders"
)]
struct Cli {
    /// vulkan | metal | dx12 | gl (default: any; env SHADERGRAD_BACKEND)
    #[arg(long, global = true, env = "SHADERGRAD_BACKEND")]
    backend: Option<String>,
    /// Adapter index from `shadergrad devices`, or a substring of its name (env SHADERGRAD_ADAPTER)
    #[arg(long, global = true, env = "SHADERGRAD_ADAPTER")]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on MNIST-format or CIFAR-10 data (default: the VAE on the bundled MNIST).
    Train(TrainArgs),
    /// Print a checkpoint's test metrics (loss, KL, error) and, for models with an encoder,
    /// linear-probe and k-NN accuracies of its codes and of raw pixels, plus retrieval.png;
    /// with --fcd also the Frechet classifier distance of a generative model's samples.
    Eval {
        /// A run directory (or a file in it) written by `shadergrad train`
        #[arg(long)]
        checkpoint: PathBuf,
        #[command(flatten)]
        repr: ReprArgs,
        #[command(flatten)]
        fcd: FcdArgs,
    },
    /// Write samples.png and interpolation.png from a generative checkpoint.
    Sample {
        /// A run directory (or a file in it) written by `shadergrad train`
        #[arg(long)]
        checkpoint: PathBuf,
        /// Directory for the PNGs (default: the run directory)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the latent codes
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Replay one training step of another framework: load weights W, batch and noise I, run
    /// forward and backward, write activations, loss terms and gradients to R.
    Verify {
        /// vae | vib | bn-vae (models whose only noise is the reparameterisation's eps)
        #[arg(long)]
        model: String,
        /// Parameters by PyTorch name (safetensors)
        #[arg(long)]
        weights: PathBuf,
        /// "x", "labels" and the noise "eps" of each reparameterised head (safetensors)
        #[arg(long)]
        inputs: PathBuf,
        /// Where to write the results (safetensors)
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare two tensor files (B is the reference); exits non-zero if any tensor differs.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Relative tolerance: pass when |a - b| <= atol + rtol |b|
        #[arg(long, default_value_t = 1e-5)]
        rtol: f64,
        /// Absolute tolerance (for elements near zero)
        #[arg(long, default_value_t = 1e-6)]
        atol: f64,
    },
    /// List the adapters wgpu can see, best first, with backend, type and driver.
    Devices,
    /// Benchmarks on the chosen adapter.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// vae | vib | bn-vae | eae | mmd-vae | mmd-vae-mlp | mmd-vae-ref | conv-vae | dim | infogan |
    /// classifier
    #[arg(long, default_value = "vae")]
    model: String,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    /// A directory with the four MNIST-format IDX files or the CIFAR-10 binary batches
    /// (cifar-10-batches-bin) (default: the bundled MNIST)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run directory (default: runs/<model>-<date>-<time>)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop after this many optimizer steps in total
    #[arg(long)]
    max_steps: Option<u64>,
    /// Evaluate and checkpoint a moving average of the weights with this decay per step
    /// (0: off; vib defaults to 0.999 as its reference does)
    #[arg(long)]
    ema: Option<f64>,
    /// Step decay of the learning rate: multiply it by this factor every --lr-decay-every
    /// epochs (1: constant; vib defaults to 0.97 every 2 as its reference does)
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Epochs between two learning-rate decays
    #[arg(long)]
    lr_decay_every: Option<usize>,
    /// Continue a run from its directory (or a checkpoint in it), with its saved settings
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Set a model hyperparameter, e.g. `--hparam gamma=0.1` or `--hparam widths=32,64,128`
    /// (repeatable; an unknown name lists the model's names and defaults)
    #[arg(long = "hparam", value_name = "NAME=VALUE")]
    hparams: Vec<String>,
}

#[derive(clap::Args)]
struct ReprArgs {
    /// Neighbours voting in k-NN classification (cosine similarity)
    #[arg(long, default_value_t = report::DEFAULT_KNN_K)]
    knn_k: usize,
    /// Epochs of linear-probe training
    #[arg(long)]
    probe_epochs: Option<usize>,
    /// Use only the first N test images as k-NN queries (default: all)
    #[arg(long)]
    queries: Option<usize>,
    /// Skip the raw-pixel baseline
    #[arg(long)]
    no_baseline: bool,
    /// Evaluate this layer instead of the code: dim has `local` (the feature map C(x)) and
    /// `summary` (the pooled features before mu); an unknown name lists the model's layers
    #[arg(long, default_value = "codes")]
    layer: String,
}

impl ReprArgs {
    fn options(&self) -> ReprOptions {
        let mut o = ReprOptions {
            knn_k: self.knn_k,
            queries: self.queries,
            baseline: !self.no_baseline,
            layer: self.layer.clone(),
            ..ReprOptions::default()
        };
        o.probe.epochs = self.probe_epochs.unwrap_or(o.probe.epochs);
        o
    }
}

#[derive(clap::Args)]
struct FcdArgs {
    /// Also print the Frechet classifier distance between generated and test images
    /// (generative models), beside the same distance between training and test images
    #[arg(long)]
    fcd: bool,
    /// Run directory of a `classifier` model for --fcd; trained there first if absent
    #[arg(long, default_value = fcd::DEFAULT_CLASSIFIER_DIR)]
    fcd_classifier: PathBuf,
    /// Generated images (and test and training images) compared by --fcd
    #[arg(long, default_value_t = fcd::DEFAULT_SAMPLES)]
    fcd_samples: usize,
}

impl FcdArgs {
    fn options(&self) -> Option<FcdOptions> {
        self.fcd.then(|| FcdOptions {
            classifier: self.fcd_classifier.clone(),
            samples: self.fcd_samples,
            ..FcdOptions::default()
        })
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Measure the adapter's ceilings, then time every kernel case against them.
    Kernels {
        /// Only cases whose name contains this (case-insensitive)
        #[arg(long)]
        filter: Option<String>,
        /// Timed batches per case (the table shows median, min and max)
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        reps: u32,
    },
    /// Steady-state training throughput (images/s) and the time per instruction of a step.
    Train {
        #[arg(long, default_value = "vae")]
        model: String,
        #[arg(long)]
        batch_size: Option<usize>,
        /// Set a model hyperparameter, as for `train` (repeatable)
        #[arg(long = "hparam", value_name = "NAME=VALUE")]
        hparams: Vec<String>,
        /// Steps per timed block
        #[arg(long, default_value_t = 50)]
        steps: u64,
        /// Timed blocks (the median is reported)
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        reps: u32,
    },
}

fn main() {
    // Mesa's Vulkan loader tries to reach a Wayland compositor and prints an error when
    // XDG_RUNTIME_DIR is unset (headless servers, CI). Point it at an empty directory before
    // any thread starts; nothing is written there, and every run reuses the same one.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = std::env::temp_dir().join("shadergrad-runtime");
        if std::fs::create_dir_all(&dir).is_ok() {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let opts = GpuOptions {
        backend: cli.backend,
        adapter: cli.adapter,
    };
    let result = match cli.command {
        Command::Train(args) => Gpu::new(&opts).and_then(|gpu| train(&gpu, args)),
        Command::Eval {
            checkpoint,
            repr,
            fcd,
        } => Gpu::new(&opts).and_then(|gpu| {
            let fcd = fcd.options();
            commands::eval_with(&gpu, &checkpoint, &repr.options(), fcd.as_ref())
        }),
        Command::Sample {
            checkpoint,
            out,
            seed,
        } => Gpu::new(&opts)
            .and_then(|gpu| commands::sample(&gpu, &checkpoint, out.as_deref(), seed)),
        Command::Bench(BenchCommand::Train {
            model,
            batch_size,
            hparams,
            steps,
            reps,
        }) => shadergrad::models::hparams::parse(&hparams).and_then(|hp| {
            let gpu = Gpu::new(&opts)?;
            commands::bench_train(&gpu, &model, hp, batch_size, steps, reps as usize)
        }),
        Command::Verify {
            model,
            weights,
            inputs,
            out,
        } => Gpu::new(&opts)
            .and_then(|gpu| verify::verify_files(&gpu, &model, &weights, &inputs, &out)),
        Command::Compare { a, b, rtol, atol } => {
            match verify::compare::compare_files(&a, &b, verify::compare::Tolerance { rtol, atol })
            {
                Ok(false) => {
                    eprintln!("error: the files differ beyond the tolerance (see FAIL rows)");
                    std::process::exit(1);
                }
                other => other.map(|_| ()),
            }
        }
        Command::Devices => devices(&opts),
        Command::Bench(BenchCommand::Kernels { filter, reps }) => Gpu::new(&opts).and_then(|gpu| {
            let reps = reps as usize;
            bench::print_kernels(&gpu, &bench::Options { filter, reps })
        }),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn train(gpu: &Gpu, a: TrainArgs) -> shadergrad::Result<()> {
    let (mut cfg, resume) = match &a.resume {
        Some(_) if !a.hparams.is_empty() => {
            return Err(shadergrad::Error::Config(
                "--hparam cannot change a resumed run's model (its weights were trained for \
                 the saved one); start a new run with --out instead"
                    .into(),
            ))
        }
        Some(path) => {
            let dir = commands::run_dir(path)?;
            (TrainConfig::load(&dir.join("config.json"))?, Some(dir))
        }
        None => {
            // A clear error before any work (the image shape comes with the data later).
            let hparams = shadergrad::models::hparams::parse(&a.hparams)?;
            shadergrad::models::by_name_with(&a.model, Default::default(), &hparams)?;
            let cfg = TrainConfig {
                hparams,
                ..TrainConfig::for_model(&a.model)
            };
            (cfg, None)
        }
    };
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.data_dir {
        cfg.data_dir = v;
    }
    if let Some(v) = a.ema {
        cfg.ema_decay = v;
    }
    if let Some(v) = a.lr_decay {
        cfg.lr_decay_factor = v;
    }
    if let Some(v) = a.lr_decay_every {
        cfg.lr_decay_every = v;
    }
    cfg.max_steps = a.max_steps.or(cfg.max_steps.filter(|_| a.resume.is_none()));
    cfg.out = match (a.out, &resume) {
        (Some(o), _) => o,
        (None, Some(dir)) => dir.clone(),
        (None, None) => commands::default_out(&cfg.model),
    };
    println!(
        "training {} on {} -> {}",
        cfg.model,
        gpu.describe(),
        cfg.out.display()
    );
    let rows = trainer::train(gpu, cfg.clone(), resume.as_deref())?;
    if let Some(last) = rows.last() {
        println!(
            "done: test loss {:.4} after epoch {}; outputs in {}",
            last.test_loss,
            last.epoch,
            cfg.out.display()
        );
    }
    Ok(())
}

fn devices(opts: &GpuOptions) -> shadergrad::Result<()> {
    let adapters = gpu::list_adapters(opts)?;
    if adapters.is_empty() {
        return Err(shadergrad::Error::NoAdapter(
            "wgpu sees no adapter; on Linux without a GPU install `mesa-vulkan-drivers libvulkan1`"
                .into(),
        ));
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        println!(
            "{i}: {} | {:?} | {:?} | {} {}",
            info.name, info.backend, info.device_type, info.driver, info.driver_info
        );
    }
    Ok(())
}
