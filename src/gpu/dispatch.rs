//! Recording work: a `Dispatch` is a pipeline plus its bind group and workgroup count, built
//! once (before a training loop) and recorded any number of times. `run` records a list of
//! dispatches into one compute pass, one encoder and one submit.
//!
//! Binding convention for every shader in `shaders/`: `@group(0) @binding(0)` is the uniform
//! params struct; bindings 1.. are the storage buffers in the order the Rust twin passes them.

use std::sync::Arc;

use crate::gpu::pipeline::Kernel;
use crate::{Buf, Error, Gpu, KernelKey, Result};

pub struct Dispatch {
    kernel: Arc<Kernel>,
    bind_group: wgpu::BindGroup,
    params: Option<wgpu::Buffer>,
    pub groups: [u32; 3],
    /// Keeps every bound buffer out of the pool for as long as this dispatch exists.
    _leases: Vec<crate::gpu::buffer::Lease>,
}

impl Dispatch {
    pub fn label(&self) -> &str {
        &self.kernel.label
    }
}

/// Uniform buffers must be a multiple of 16 bytes; pad so twins need no explicit tail padding.
fn padded_params(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(bytes.len().max(16).div_ceil(16) * 16, 0);
    v
}

/// wgpu (like WebGPU) refuses a buffer bound read-only and read-write in one dispatch, even
/// at disjoint offsets. Say so when the dispatch is built, naming the bindings, rather than as
/// a validation error at submit time.
fn check_aliasing(kernel: &Kernel, bufs: &[&Buf]) -> Result<()> {
    let bound = |b: u32| {
        bufs.get(b as usize - 1)
            .filter(|_| b > 0 && kernel.used_bindings.contains(&b))
    };
    for &w in &kernel.writable_bindings {
        let Some(out) = bound(w) else { continue };
        for &r in kernel
            .used_bindings
            .iter()
            .filter(|&&r| r > 0 && !kernel.writable_bindings.contains(&r))
        {
            if bound(r).is_some_and(|inp| inp.raw() == out.raw()) {
                return Err(Error::Shape(format!(
                    "{} would read binding {r} and write binding {w} in the same buffer; \
                     give the output a buffer of its own",
                    kernel.label
                )));
            }
        }
    }
    Ok(())
}

impl Gpu {
    /// Fold `groups` workgroups into an (x, y, z) grid within the adapter's per-dimension limit.
    /// Shaders recover the linear workgroup index as `wg.x + nwg.x * (wg.y + nwg.y * wg.z)` and
    /// must ignore indices past their element count (the grid is rounded up).
    pub fn grid(&self, groups: u64) -> Result<[u32; 3]> {
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let groups = groups.max(1);
        let x = groups.min(max);
        let rest = groups.div_ceil(x);
        let y = rest.min(max);
        let z = rest.div_ceil(y);
        if z > max {
            return Err(Error::Limit(format!(
                "{groups} workgroups exceed what '{}' can launch; use a smaller batch",
                self.info.name
            )));
        }
        Ok([x as u32, y as u32, z as u32])
    }

    /// Build a dispatch of `key` over `groups` workgroups with `params` at binding 0 and `bufs`
    /// at bindings 1.. . Buffers the entry point does not use are left out of its bind group.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        key: &KernelKey,
        params: &P,
        bufs: &[&Buf],
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let kernel = self.kernel(key)?;
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::Limit(format!(
                "{} asks for {groups:?} workgroups; '{}' allows {max} per dimension",
                kernel.label, self.info.name
            )));
        }
        let params_buf = kernel.used_bindings.contains(&0).then(|| {
            use wgpu::util::DeviceExt;
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: &padded_params(bytemuck::bytes_of(params)),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
        });
        let mut entries = Vec::new();
        for &b in &kernel.used_bindings {
            let resource = match b {
                0 => params_buf.as_ref().unwrap().as_entire_binding(),
                _ => bufs
                    .get(b as usize - 1)
                    .ok_or_else(|| {
                        Error::Shape(format!(
                            "{} uses binding {b} but was given {} buffers",
                            kernel.label,
                            bufs.len()
                        ))
                    })?
                    .binding(),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: b,
                resource,
            });
        }
        check_aliasing(&kernel, bufs)?;
        let bind_group = self.scoped(&format!("binding buffers for {}", kernel.label), || {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.label),
                layout: &kernel.layout,
                entries: &entries,
            })
        })?;
        // Only the buffers the entry point binds need to stay out of the pool.
        let _leases = kernel
            .used_bindings
            .iter()
            .filter(|&&b| b > 0)
            .filter_map(|&b| bufs.get(b as usize - 1).map(|buf| buf.lease()))
            .collect();
        Ok(Dispatch {
            kernel,
            bind_group,
            params: params_buf,
            groups,
            _leases,
        })
    }

    /// Replace a dispatch's params (e.g. the step counter of Adam or the RNG offset). The write
    /// lands before the next submit; no new bind group is made.
    pub fn set_params<P: bytemuck::Pod>(&self, d: &Dispatch, params: &P) {
        if let Some(buf) = &d.params {
            self.queue
                .write_buffer(buf, 0, &padded_params(bytemuck::bytes_of(params)));
        }
    }

    /// Record dispatches, in order, into an open compute pass.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, dispatches: &[&Dispatch]) {
        for d in dispatches {
            pass.set_pipeline(&d.kernel.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.groups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// Record `dispatches` into one encoder and submit once. Does not wait; `download` or
    /// `sync` does.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.record(&mut pass, dispatches);
        }
        self.queue.submit([enc.finish()]);
        self.take_errors()
    }
}
