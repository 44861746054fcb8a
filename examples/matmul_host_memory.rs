//! Reproduces the lavapipe host-memory growth of the transposed register-blocked matmul
//! (see src/kernels/matmul/plan.rs): one matmul dispatch, submitted STEPS times, with the
//! process's resident size printed before and after.
//!
//!   cargo run --release --example matmul_host_memory -- ROWS OUT K transposed|plain [STEPS]
//!
//! C [ROWS, OUT] = A [ROWS, K] B[OUT, K]^T (a Linear layer's forward). Shapes: A, B, C as named.
use shadergrad::bench::memory::resident_bytes;
use shadergrad::kernels::matmul::{matmul, Form, MatmulSpec, Variant};
use shadergrad::{Gpu, GpuOptions};

const USAGE: &str = "usage: matmul_host_memory ROWS OUT K transposed|plain [STEPS] \
                     (sizes are whole numbers >= 1)";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> Result<usize, String> {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .filter(|&v| v >= 1)
            .ok_or_else(|| USAGE.to_string())
    };
    let (rows, out, k) = (num(0)?, num(1)?, num(2)?);
    let variant = match args.get(3).map(String::as_str) {
        Some("transposed") => Variant::RegisterBlockedTransposed,
        Some("plain") => Variant::RegisterBlocked,
        _ => return Err(USAGE.into()),
    };
    let steps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let gpu = Gpu::new(&GpuOptions::default())?;
    let a = gpu.upload(&vec![0.5f32; rows * k])?;
    let b = gpu.upload(&vec![0.25f32; out * k])?;
    let c = gpu.zeros(rows * out, shadergrad::DType::F32)?;
    let spec = MatmulSpec::new(rows, out, k, Form::NT).variant(variant);
    let d = matmul(&gpu, &spec, &a, &b, None, &c)?;
    for _ in 0..10 {
        gpu.run(&[&d])?;
    }
    gpu.sync()?;
    let mib = |b: Option<u64>| b.map_or(f64::NAN, |v| v as f64 / 1048576.0);
    let before = resident_bytes();
    let t = std::time::Instant::now();
    for _ in 0..steps {
        gpu.run(&[&d])?;
    }
    gpu.sync()?;
    let secs = t.elapsed().as_secs_f64();
    let after = resident_bytes();
    println!(
        "C [{rows}, {out}] K {k} {variant:?}: resident {:.1} -> {:.1} MiB over {steps} \
         dispatches in {secs:.2} s ({:.2} ms each)",
        mib(before),
        mib(after),
        1e3 * secs / steps.max(1) as f64
    );
    Ok(())
}
