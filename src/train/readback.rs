//! Reading GPU-side metrics without stalling the queue: a request records copies of the
//! metric accumulators into a mappable buffer behind the work already submitted and asks for
//! a map; `poll` collects the values once the GPU got there, never waiting. The training loop
//! thus shows losses that lag by at most one logging interval and never idles the device.
//!
//! Shapes: `n` metrics, one f32 each (element 0 of each accumulator).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::{Buf, Error, Gpu, Result};

const IDLE: u8 = 0;
const WAITING: u8 = 1;
const MAPPED: u8 = 2;
const FAILED: u8 = 3;

pub struct Readback {
    staging: wgpu::Buffer,
    n: usize,
    state: Arc<AtomicU8>,
    /// Caller data attached to the request in flight (e.g. images seen when it was made).
    tag: u64,
}

impl Readback {
    pub fn new(gpu: &Gpu, n: usize) -> Readback {
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metric readback"),
            size: (4 * n.max(1)) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Readback {
            staging,
            n,
            state: Arc::new(AtomicU8::new(IDLE)),
            tag: 0,
        }
    }

    /// Queue a copy of element 0 of each of `metrics` behind the submitted work, unless a
    /// request is still in flight (then this one is skipped). Returns whether it was queued.
    pub fn request(&mut self, gpu: &Gpu, metrics: &[&Buf], tag: u64) -> Result<bool> {
        if self.state.load(Ordering::Acquire) != IDLE {
            return Ok(false);
        }
        if metrics.len() != self.n {
            return Err(Error::Shape(format!(
                "readback of {} metrics set up for {}",
                metrics.len(),
                self.n
            )));
        }
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        for (i, m) in metrics.iter().enumerate() {
            enc.copy_buffer_to_buffer(m.raw(), m.offset(), &self.staging, 4 * i as u64, 4);
        }
        gpu.queue.submit([enc.finish()]);
        self.state.store(WAITING, Ordering::Release);
        self.tag = tag;
        let state = self.state.clone();
        self.staging.map_async(wgpu::MapMode::Read, .., move |r| {
            state.store(if r.is_ok() { MAPPED } else { FAILED }, Ordering::Release);
        });
        Ok(true)
    }

    /// The values (and tag) of the last request if the GPU has finished it; never blocks.
    pub fn poll(&mut self, gpu: &Gpu) -> Result<Option<(Vec<f32>, u64)>> {
        let _ = gpu.device.poll(wgpu::PollType::Poll);
        match self.state.load(Ordering::Acquire) {
            MAPPED => {
                let view = self
                    .staging
                    .get_mapped_range(..)
                    .map_err(|e| Error::Gpu(format!("reading metrics: {e}")))?;
                let values = bytemuck::pod_collect_to_vec::<u8, f32>(&view[..4 * self.n]);
                drop(view);
                self.staging.unmap();
                self.state.store(IDLE, Ordering::Release);
                Ok(Some((values, self.tag)))
            }
            FAILED => {
                self.state.store(IDLE, Ordering::Release);
                Err(Error::Gpu(
                    "mapping the metric readback buffer failed".into(),
                ))
            }
            _ => Ok(None),
        }
    }
}
