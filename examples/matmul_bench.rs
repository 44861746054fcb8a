//! Times the matmul family on the current adapter (SHADERGRAD_ADAPTER / SHADERGRAD_BACKEND
//! choose it): 1024^3 in each form and the VAE's Linear shapes, forward and backward.
//!
//!     cargo run --release --example matmul_bench [-- all] [-- f16]
//!
//! `all` also times each variant forced (not only the plan's choice); `f16` adds f16.
//! Each row: warm-up (the first dispatch includes the JIT compile), then the median of 7 runs
//! of a batch of dispatches recorded into one submit (batch sized to ~60 ms). The machine may
//! be shared, so medians; rerun when in doubt.

use std::time::Instant;

use shadergrad::kernels::matmul::{self, Epilogue, Form, MatmulSpec, Plan, Variant};
use shadergrad::{Buf, DType, Dispatch, Gpu, Result};

/// This process's user + system CPU seconds (Linux; None elsewhere). On a CPU adapter the
/// driver's worker threads are this process, so CPU time / cores is what a batch would take on
/// an otherwise idle machine: a steadier figure than wall time when other jobs share the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Seconds per dispatch for a batch of `reps` in one submit: (wall, CPU time / cores).
fn time_batch(gpu: &Gpu, d: &Dispatch, reps: usize) -> Result<(f64, Option<f64>)> {
    let batch: Vec<&Dispatch> = std::iter::repeat_n(d, reps).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (t, c0) = (Instant::now(), cpu_seconds());
    gpu.run(&batch)?;
    gpu.sync()?;
    let wall = t.elapsed().as_secs_f64() / reps as f64;
    let cpu = c0
        .zip(cpu_seconds())
        .map(|(a, b)| (b - a) / cores / reps as f64);
    Ok((wall, cpu))
}

fn bench(gpu: &Gpu, name: &str, spec: &MatmulSpec, f16: bool) -> Result<()> {
    let dtype = if f16 { DType::F16 } else { DType::F32 };
    let fill = |len: usize| -> Result<Buf> {
        // Small values so f16 sums stay finite.
        let v: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-4)
            .collect();
        if f16 {
            gpu.upload(
                &v.iter()
                    .map(|&x| half::f16::from_f32(x))
                    .collect::<Vec<_>>(),
            )
        } else {
            gpu.upload(&v)
        }
    };
    let (a, b, c) = (
        fill(spec.a_len())?,
        fill(spec.b_len())?,
        gpu.zeros(spec.c_len(), dtype)?,
    );
    let bias = match spec.epilogue {
        Epilogue::None => None,
        _ => Some(fill(spec.n)?),
    };
    let build = if f16 {
        matmul::matmul_f16
    } else {
        matmul::matmul
    };
    let d = build(gpu, spec, &a, &b, bias.as_ref(), &c)?;
    let t0 = Instant::now();
    let once = time_batch(gpu, &d, 1)?.0; // includes the pipeline's JIT compile
    let first_ms = t0.elapsed().as_secs_f64() * 1e3;
    let est = time_batch(gpu, &d, 1)?.0.min(once);
    let reps = ((0.06 / est) as usize).clamp(1, 200);
    let runs: Vec<(f64, Option<f64>)> = (0..7)
        .map(|_| time_batch(gpu, &d, reps))
        .collect::<Result<_>>()?;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let walls: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let best = walls.iter().cloned().fold(f64::INFINITY, f64::min);
    let med = median(walls);
    // CPU time has 10 ms ticks: only meaningful for batches of ~60 ms, and on CPU adapters.
    let cpu_note = match runs.iter().map(|r| r.1).collect::<Option<Vec<f64>>>() {
        Some(c) if gpu.is_cpu() && est * reps as f64 > 0.03 => {
            format!(", by CPU time {:.2}", spec.flops() / median(c) / 1e9)
        }
        _ => String::new(),
    };
    let plan = Plan::new(gpu, spec);
    println!(
        "{name:<16} {:>4}x{:<4}x{:<4} {:?} {:<25} wg {:>3} {} {:>8.3} ms {:>7.2} GFLOP/s  \
         (best {:.2}{cpu_note}; first dispatch {:.0} ms)",
        spec.m,
        spec.n,
        spec.k,
        spec.form,
        format!("{:?}", plan.variant),
        plan.wg,
        if f16 { "f16" } else { "f32" },
        med * 1e3,
        spec.flops() / med / 1e9,
        spec.flops() / best / 1e9,
        first_ms,
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let all = args.iter().any(|a| a == "all");
    let f16 = args.iter().any(|a| a == "f16");
    let gpu = Gpu::from_env()?;
    println!("adapter: {}", gpu.describe());
    let shapes: Vec<(&str, MatmulSpec)> = vec![
        ("square NN", MatmulSpec::new(1024, 1024, 1024, Form::NN)),
        ("square NT", MatmulSpec::new(1024, 1024, 1024, Form::NT)),
        ("square TN", MatmulSpec::new(1024, 1024, 1024, Form::TN)),
        // VAE encoder 784 -> 400, batch 128: forward X W^T + b, ReLU; dX = dY W; dW = dY^T X.
        (
            "vae fc1 fwd",
            MatmulSpec::new(128, 400, 784, Form::NT).epilogue(Epilogue::BiasRelu),
        ),
        ("vae fc1 dX", MatmulSpec::new(128, 784, 400, Form::NN)),
        (
            "vae fc1 dW",
            MatmulSpec::new(400, 784, 128, Form::TN).accumulate(true),
        ),
        // 400 -> 20 (mu / logvar heads) and 20 -> 400 (decoder input).
        (
            "vae 400->20 fwd",
            MatmulSpec::new(128, 20, 400, Form::NT).epilogue(Epilogue::Bias),
        ),
        ("vae 400->20 dX", MatmulSpec::new(128, 400, 20, Form::NN)),
        ("vae 400->20 dW", MatmulSpec::new(20, 400, 128, Form::TN)),
        (
            "vae 20->400 fwd",
            MatmulSpec::new(128, 400, 20, Form::NT).epilogue(Epilogue::Bias),
        ),
        ("vae 20->400 dX", MatmulSpec::new(128, 20, 400, Form::NN)),
        ("vae 20->400 dW", MatmulSpec::new(400, 20, 128, Form::TN)),
        // Unaligned K: the general (masked, scalar-load) path.
        ("odd K", MatmulSpec::new(512, 512, 511, Form::NN)),
    ];
    // None = the plan's own choice for each shape; `all` forces each variant in turn.
    let variants: Vec<Option<Variant>> = if all {
        vec![
            None,
            Some(Variant::RegisterBlocked),
            Some(Variant::RegisterBlockedTransposed),
            Some(Variant::Tiled),
        ]
    } else {
        vec![None]
    };
    for v in variants {
        let with = |spec: &MatmulSpec| match v {
            Some(v) => spec.variant(v),
            None => *spec,
        };
        for (name, spec) in &shapes {
            bench(&gpu, name, &with(spec), false)?;
        }
        if f16 && gpu.has_f16() {
            for (name, spec) in shapes.iter().take(4) {
                bench(&gpu, name, &with(spec), true)?;
            }
        }
    }
    Ok(())
}
