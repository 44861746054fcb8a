//! `cargo bench --bench kernels [-- [FILTER] [--filter S] [--reps N]]`: the same table as
//! `shadergrad bench kernels`, on the adapter SHADERGRAD_BACKEND / SHADERGRAD_ADAPTER choose.
use shadergrad::bench::{self, Options};
use shadergrad::Gpu;

fn main() {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo passes --bench to every bench target; libtest's other flags don't apply.
            "--bench" => {}
            "--filter" => opts.filter = args.next(),
            "--reps" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => opts.reps = n,
                _ => fail("--reps needs a positive integer"),
            },
            s if !s.starts_with('-') => opts.filter = Some(s.to_string()),
            s => fail(&format!("unknown argument '{s}'")),
        }
    }
    let result = Gpu::from_env().and_then(|gpu| bench::print_kernels(&gpu, &opts));
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
