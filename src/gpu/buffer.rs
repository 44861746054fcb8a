//! Device buffers (`Buf`), upload/download, and a pool that recycles freed allocations.
//!
//! A `Buf` is a flat array of `len` elements of one `DType`. Every allocation is checked against
//! the adapter's limits before it is issued, so an oversized batch is a clear error, not a
//! driver crash. Dropping a `Buf` returns its memory to the pool for the next same-sized request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{Error, Gpu, Result};

/// Element type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    U32,
    F16,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Host element types that can be uploaded and downloaded.
pub trait Element: bytemuck::Pod {
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}

/// Freed buffers by byte size. Bounded so a pool never hoards more than `MAX_POOLED` bytes.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    pooled_bytes: Mutex<u64>,
}

const MAX_POOLED: u64 = 512 << 20;

impl BufferPool {
    fn take(&self, bytes: u64) -> Option<wgpu::Buffer> {
        let buf = self.free.lock().unwrap().get_mut(&bytes)?.pop()?;
        *self.pooled_bytes.lock().unwrap() -= bytes;
        Some(buf)
    }

    fn give(&self, buf: wgpu::Buffer) {
        let bytes = buf.size();
        let mut pooled = self.pooled_bytes.lock().unwrap();
        if *pooled + bytes <= MAX_POOLED {
            *pooled += bytes;
            self.free
                .lock()
                .unwrap()
                .entry(bytes)
                .or_default()
                .push(buf);
        }
    }
}

/// A storage buffer of `len` elements of `dtype` on the device.
pub struct Buf {
    raw: Option<wgpu::Buffer>,
    len: usize,
    dtype: DType,
    pool: Arc<BufferPool>,
}

impl Buf {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn raw(&self) -> &wgpu::Buffer {
        self.raw.as_ref().expect("buffer present until drop")
    }
    /// Bytes the elements occupy (the allocation may be padded beyond this).
    pub fn bytes(&self) -> u64 {
        (self.len * self.dtype.size()) as u64
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.pool.give(raw);
        }
    }
}

/// Allocation size: padded to 16 bytes (vec4 loads, f16 pairs) and never zero (wgpu refuses
/// zero-sized bindings).
fn padded(bytes: u64) -> u64 {
    bytes.max(16).div_ceil(16) * 16
}

impl Gpu {
    /// Check that a storage buffer of `len` elements of `dtype` fits the adapter.
    pub fn check_alloc(&self, len: usize, dtype: DType) -> Result<()> {
        let bytes = padded((len as u64).saturating_mul(dtype.size() as u64));
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            return Err(Error::Limit(format!(
                "a tensor of {len} {dtype:?} elements needs {:.1} MiB but '{}' allows at most \
                 {:.1} MiB per buffer; use a smaller batch size or model",
                bytes as f64 / 1048576.0,
                self.info.name,
                max as f64 / 1048576.0
            )));
        }
        Ok(())
    }

    /// An uninitialised-or-recycled buffer; use `zeros` when the contents matter.
    fn alloc(&self, len: usize, dtype: DType) -> Result<Buf> {
        self.check_alloc(len, dtype)?;
        let bytes = padded((len * dtype.size()) as u64);
        let raw = match self.pool.take(bytes) {
            Some(b) => b,
            None => self.scoped("allocating a buffer", || {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: bytes,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })?,
        };
        Ok(Buf {
            raw: Some(raw),
            len,
            dtype,
            pool: self.pool.clone(),
        })
    }

    /// A zero-filled buffer of `len` elements.
    pub fn zeros(&self, len: usize, dtype: DType) -> Result<Buf> {
        let buf = self.alloc(len, dtype)?;
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.clear_buffer(buf.raw(), 0, None);
        self.queue.submit([enc.finish()]);
        Ok(buf)
    }

    /// A new buffer holding `data`.
    pub fn upload<T: Element>(&self, data: &[T]) -> Result<Buf> {
        let buf = self.alloc(data.len(), T::DTYPE)?;
        self.write(&buf, data)?;
        Ok(buf)
    }

    /// Overwrite the whole of `buf` with `data` (same length and type).
    pub fn write<T: Element>(&self, buf: &Buf, data: &[T]) -> Result<()> {
        if data.len() != buf.len || T::DTYPE != buf.dtype {
            return Err(Error::Shape(format!(
                "writing {} {:?} elements into a buffer of {} {:?}",
                data.len(),
                T::DTYPE,
                buf.len,
                buf.dtype
            )));
        }
        let mut bytes = bytemuck::cast_slice::<T, u8>(data).to_vec();
        bytes.resize(bytes.len().div_ceil(4) * 4, 0); // queue writes go in 4-byte units
        if !bytes.is_empty() {
            self.queue.write_buffer(buf.raw(), 0, &bytes);
        }
        Ok(())
    }

    /// Copy `buf` back to the host. Waits for all submitted work.
    pub fn download<T: Element>(&self, buf: &Buf) -> Result<Vec<T>> {
        if T::DTYPE != buf.dtype {
            return Err(Error::Shape(format!(
                "reading a {:?} buffer as {:?}",
                buf.dtype,
                T::DTYPE
            )));
        }
        let bytes = padded(buf.bytes());
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf.raw(), 0, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.sync()?;
        rx.recv()
            .map_err(|_| Error::Gpu("buffer mapping never completed".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a buffer for reading failed: {e}")))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("reading a mapped buffer failed: {e}")))?;
        let out = bytemuck::pod_collect_to_vec::<u8, T>(&view[..buf.bytes() as usize]);
        drop(view);
        staging.unmap();
        Ok(out)
    }
}
