//! Timing one benchmark case: warm up, size a batch, then time several repetitions of the
//! batch recorded into one submit, and report the median (min, max) time per call.
//!
//! A call is one execution of a case's work: its dispatch list in order, or one driver copy.
//! The clock is the pass timestamps (TIMESTAMP_QUERY) when the device has them, so submit and
//! readback overhead stay out of the numbers; otherwise wall clock around submit + `gpu.sync()`.

use std::time::Instant;

use crate::{Buf, Dispatch, Error, Gpu, Result};

/// What one call of a case does.
pub enum Work<'a> {
    Dispatches(&'a [Dispatch]),
    /// `copy_buffer_to_buffer` of all of `src` into `dst` (the driver's copy path).
    Copy {
        src: &'a Buf,
        dst: &'a Buf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Timestamps,
    Wall,
}

/// Seconds per call over the repetitions.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Calls recorded per submit.
    pub batch: usize,
    pub clock: Clock,
}

/// Wall time a timed batch aims for: long enough to amortise the submit, short enough that a
/// full table takes seconds.
const TARGET_SECS: f64 = 0.1;
const MAX_BATCH: usize = 1000;

struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
}

pub struct Timer {
    queries: Option<Queries>,
}

impl Timer {
    pub fn new(gpu: &Gpu) -> Timer {
        let queries = gpu
            .features
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| {
                let buffer = |label, usage| {
                    gpu.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(label),
                        size: 16,
                        usage,
                        mapped_at_creation: false,
                    })
                };
                use wgpu::BufferUsages as U;
                Queries {
                    set: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("bench timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count: 2,
                    }),
                    resolve: buffer("timestamp resolve", U::QUERY_RESOLVE | U::COPY_SRC),
                    readback: buffer("timestamp readback", U::MAP_READ | U::COPY_DST),
                    period: gpu.queue.get_timestamp_period() as f64,
                }
            });
        Timer { queries }
    }

    pub fn clock(&self) -> Clock {
        match self.queries {
            Some(_) => Clock::Timestamps,
            None => Clock::Wall,
        }
    }

    /// Time `work`: one untimed call (pipelines JIT-compile on first use), one wall-clock call
    /// to size the batch, then `reps` timed batches.
    pub fn time(&self, gpu: &Gpu, work: &Work, reps: usize) -> Result<Timing> {
        self.submit(gpu, work, 1, false)?;
        let once = self.submit(gpu, work, 1, false)?;
        let batch = ((TARGET_SECS / once.max(1e-7)).ceil() as usize).clamp(1, MAX_BATCH);
        let mut times = Vec::with_capacity(reps.max(1));
        for _ in 0..reps.max(1) {
            times.push(self.submit(gpu, work, batch, true)? / batch as f64);
        }
        times.sort_by(f64::total_cmp);
        Ok(Timing {
            median: median(&times),
            min: times[0],
            max: times[times.len() - 1],
            batch,
            clock: self.clock(),
        })
    }

    /// Record `calls` calls of `work` in one submit, wait, and return the seconds they took.
    fn submit(&self, gpu: &Gpu, work: &Work, calls: usize, stamp: bool) -> Result<f64> {
        let q = self.queries.as_ref().filter(|_| stamp);
        let writes = |begin: Option<u32>, end: Option<u32>| {
            q.map(|q| wgpu::ComputePassTimestampWrites {
                query_set: &q.set,
                beginning_of_pass_write_index: begin,
                end_of_pass_write_index: end,
            })
        };
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        match work {
            Work::Dispatches(ds) => {
                let refs: Vec<&Dispatch> = ds.iter().collect();
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bench"),
                    timestamp_writes: writes(Some(0), Some(1)),
                });
                for _ in 0..calls {
                    gpu.record(&mut pass, &refs);
                }
            }
            Work::Copy { src, dst } => {
                // Copies live outside passes: bracket them with two empty passes whose
                // timestamps mark the start and the end.
                drop(enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bench start"),
                    timestamp_writes: writes(Some(0), None),
                }));
                for _ in 0..calls {
                    enc.copy_buffer_to_buffer(src.raw(), 0, dst.raw(), 0, src.raw().size());
                }
                drop(enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("bench end"),
                    timestamp_writes: writes(None, Some(1)),
                }));
            }
        }
        if let Some(q) = q {
            enc.resolve_query_set(&q.set, 0..2, &q.resolve, 0);
            enc.copy_buffer_to_buffer(&q.resolve, 0, &q.readback, 0, 16);
        }
        let start = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.sync()?;
        let wall = start.elapsed().as_secs_f64();
        match q {
            Some(q) => read_stamps(gpu, q).map(|s| s.unwrap_or(wall)),
            None => Ok(wall),
        }
    }
}

/// Seconds between the two timestamps, or None if the driver wrote nonsense (then the caller
/// falls back to the wall clock for that batch).
fn read_stamps(gpu: &Gpu, q: &Queries) -> Result<Option<f64>> {
    let (tx, rx) = std::sync::mpsc::channel();
    q.readback.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    gpu.sync()?;
    rx.recv()
        .map_err(|_| Error::Gpu("timestamp readback never completed".into()))?
        .map_err(|e| Error::Gpu(format!("mapping timestamps failed: {e}")))?;
    let stamps: Vec<u64> = {
        let view = q
            .readback
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("reading timestamps failed: {e}")))?;
        bytemuck::pod_collect_to_vec(&view[..])
    };
    q.readback.unmap();
    let (t0, t1) = (stamps[0], stamps[1]);
    Ok((t1 > t0).then(|| (t1 - t0) as f64 * q.period * 1e-9))
}

/// Median of sorted values (mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}
