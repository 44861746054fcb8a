//! The `shadergrad` command line.
use clap::{Parser, Subcommand};
use shadergrad::{bench, gpu, Gpu, GpuOptions};

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
    /// List the adapters wgpu can see, best first, with backend, type and driver.
    Devices,
    /// Benchmarks on the chosen adapter.
    #[command(subcommand)]
    Bench(BenchCommand),
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
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let opts = GpuOptions {
        backend: cli.backend,
        adapter: cli.adapter,
    };
    let result = match cli.command {
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
