//! Kernel benchmarks: `shadergrad bench kernels` and `cargo bench --bench kernels`.
//!
//! The adapter's ceilings are measured first with the probe kernels (memory bandwidth from
//! copies, arithmetic rate from register-only FMA chains); every case is then timed
//! (`timer`) and reported as a share of those ceilings (`table`). Cases live in one registry
//! (`cases`), so a new kernel family adds its cases there and nothing else.

pub mod cases;
pub mod memory;
pub mod table;
pub mod timer;

use crate::{Gpu, Result};
use cases::{Case, Kind};
use table::{Ceilings, Row};
use timer::{Clock, Timer, Work};

#[derive(Debug, Clone)]
pub struct Options {
    /// Only cases whose name contains this (case-insensitive). The probes always run, since
    /// every share needs the ceilings, but are listed only if they match too.
    pub filter: Option<String>,
    /// Timed batches per case; the table reports their median, min and max.
    pub reps: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            filter: None,
            reps: 5,
        }
    }
}

pub struct Report {
    pub adapter: String,
    pub clock: Clock,
    pub ceilings: Ceilings,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn render(&self) -> String {
        let clock = match self.clock {
            Clock::Timestamps => "GPU pass timestamps",
            Clock::Wall => "wall clock around submit + sync",
        };
        format!(
            "adapter: {}\nclock: {clock}; time per call, median (min, max) of timed batches\n\
             ceilings: {:.1} GB/s memory, {:.1} GFLOP/s f32 FMA\n\n{}",
            self.adapter,
            self.ceilings.bytes * 1e-9,
            self.ceilings.flops * 1e-9,
            table::render(&self.rows, &self.ceilings)
        )
    }
}

fn time_case(gpu: &Gpu, timer: &Timer, case: &Case, reps: usize) -> Result<Row> {
    let (dispatches, bufs) = (case.build)(gpu)?;
    let work = match case.kind {
        Kind::Dispatch => Work::Dispatches(&dispatches),
        Kind::DriverCopy => match bufs.as_slice() {
            [src, dst, ..] => Work::Copy { src, dst },
            _ => {
                return Err(crate::Error::Config(format!(
                    "bench case '{}' is a driver copy but built {} buffers, not 2",
                    case.name,
                    bufs.len()
                )))
            }
        },
    };
    let timing = timer.time(gpu, &work, reps)?;
    Ok(Row {
        name: case.name.clone(),
        shape: case.shape.clone(),
        flops: case.flops,
        bytes: case.bytes,
        timing,
    })
}

/// Measure the ceilings, then every case matching the filter.
pub fn run_kernels(gpu: &Gpu, opts: &Options) -> Result<Report> {
    let timer = Timer::new(gpu);
    let wanted = |c: &Case| match &opts.filter {
        Some(f) => c.name.to_lowercase().contains(&f.to_lowercase()),
        None => true,
    };
    let mut ceilings = Ceilings {
        bytes: 0.0,
        flops: 0.0,
    };
    let mut rows = Vec::new();
    for case in cases::probes() {
        let row = time_case(gpu, &timer, &case, opts.reps)?;
        match case.flops > 0.0 {
            true => ceilings.flops = ceilings.flops.max(row.gflops() * 1e9),
            false => ceilings.bytes = ceilings.bytes.max(row.gbps() * 1e9),
        }
        if wanted(&case) {
            rows.push(row);
        }
    }
    for case in cases::kernels().into_iter().filter(|c| wanted(c)) {
        // One failing case (say, a feature the adapter lacks) should not hide the others.
        match time_case(gpu, &timer, &case, opts.reps) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("skipping {}: {e}", case.name),
        }
    }
    Ok(Report {
        adapter: gpu.describe(),
        clock: timer.clock(),
        ceilings,
        rows,
    })
}

/// Run the kernel benchmarks and print the adapter and the table to stdout.
pub fn print_kernels(gpu: &Gpu, opts: &Options) -> Result<()> {
    println!("{}", run_kernels(gpu, opts)?.render());
    Ok(())
}
