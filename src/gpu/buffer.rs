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
///
/// A freed buffer may still be bound by a `Dispatch` that has not run yet (or is recorded
/// again every step); each allocation therefore carries a lease, shared by its views and by
/// every dispatch that binds it, and the pool hands a buffer out again only once the pool
/// holds the last lease.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Mutex<HashMap<u64, Vec<(wgpu::Buffer, Lease)>>>,
    pooled_bytes: Mutex<u64>,
}

/// Shared by an allocation, its views and the dispatches that bind any of them.
pub(crate) type Lease = Arc<()>;

const MAX_POOLED: u64 = 512 << 20;

impl BufferPool {
    fn take(&self, bytes: u64) -> Option<(wgpu::Buffer, Lease)> {
        let mut free = self.free.lock().unwrap();
        let list = free.get_mut(&bytes)?;
        let i = list
            .iter()
            .position(|(_, lease)| Arc::strong_count(lease) == 1)?;
        *self.pooled_bytes.lock().unwrap() -= bytes;
        Some(list.swap_remove(i))
    }

    fn give(&self, buf: wgpu::Buffer, lease: Lease) {
        let bytes = buf.size();
        let mut pooled = self.pooled_bytes.lock().unwrap();
        if *pooled + bytes <= MAX_POOLED {
            *pooled += bytes;
            self.free
                .lock()
                .unwrap()
                .entry(bytes)
                .or_default()
                .push((buf, lease));
        }
    }
}

/// A storage buffer of `len` elements of `dtype` on the device: either an allocation of its
/// own (returned to the pool on drop) or a view at a byte offset into another one (parameter
/// and gradient arenas, so one optimizer dispatch covers every parameter).
pub struct Buf {
    raw: wgpu::Buffer,
    offset: u64,
    len: usize,
    dtype: DType,
    /// Set on owners only: where the allocation goes back when dropped.
    pool: Option<Arc<BufferPool>>,
    lease: Lease,
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
        &self.raw
    }
    /// Byte offset of element 0 within `raw()`.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Bytes the elements occupy (the allocation may be padded beyond this).
    pub fn bytes(&self) -> u64 {
        (self.len * self.dtype.size()) as u64
    }
    /// Keeps the allocation out of the pool while the holder (a dispatch) may use it.
    pub(crate) fn lease(&self) -> Lease {
        self.lease.clone()
    }
    /// The range a shader sees: the elements, padded to 16 bytes (vec4 loads) where the
    /// allocation allows, and never empty.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        let room = self.raw.size() - self.offset;
        let size = padded(self.bytes()).min(room);
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.raw,
            offset: self.offset,
            size: std::num::NonZeroU64::new(size),
        })
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(self.raw.clone(), self.lease.clone());
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
        let (raw, lease) = match self.pool.take(bytes) {
            Some(taken) => taken,
            None => self
                .scoped("allocating a buffer", || {
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: bytes,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
                .map(|raw| (raw, Lease::default()))?,
        };
        Ok(Buf {
            raw,
            offset: 0,
            len,
            dtype,
            pool: Some(self.pool.clone()),
            lease,
        })
    }

    /// A view of `len` elements of `buf` starting at element `start`. The start must respect
    /// the adapter's storage offset alignment (arenas place tensors on such boundaries).
    pub fn view(&self, buf: &Buf, start: usize, len: usize) -> Result<Buf> {
        let offset = buf.offset + (start * buf.dtype.size()) as u64;
        let align = self.limits.min_storage_buffer_offset_alignment as u64;
        if start + len > buf.len {
            return Err(Error::Shape(format!(
                "view [{start}, {}) of a buffer of {} elements",
                start + len,
                buf.len
            )));
        }
        if !offset.is_multiple_of(align) {
            return Err(Error::Shape(format!(
                "view at byte offset {offset} is not a multiple of the adapter's storage \
                 offset alignment {align}"
            )));
        }
        Ok(Buf {
            raw: buf.raw.clone(),
            offset,
            len,
            dtype: buf.dtype,
            pool: None,
            lease: buf.lease.clone(),
        })
    }

    /// The first `len` elements of type `dtype` in `buf`'s memory (planned buffers are shared
    /// by tensors of different types over a step).
    pub fn view_as(&self, buf: &Buf, dtype: DType, len: usize) -> Result<Buf> {
        if (len * dtype.size()) as u64 > buf.bytes() {
            return Err(Error::Shape(format!(
                "{len} {dtype:?} elements do not fit a buffer of {} bytes",
                buf.bytes()
            )));
        }
        Ok(Buf {
            raw: buf.raw.clone(),
            offset: buf.offset,
            len,
            dtype,
            pool: None,
            lease: buf.lease.clone(),
        })
    }

    /// A zero-filled buffer of `len` elements.
    pub fn zeros(&self, len: usize, dtype: DType) -> Result<Buf> {
        let buf = self.alloc(len, dtype)?;
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.clear_buffer(buf.raw(), 0, None); // the whole allocation: pooled memory may be dirty
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
            self.queue.write_buffer(buf.raw(), buf.offset, &bytes);
        }
        Ok(())
    }

    /// Copy the whole of `src` into `dst` (same length and type) on the device, in queue order
    /// after the work already submitted. Does not wait.
    pub fn copy(&self, src: &Buf, dst: &Buf) -> Result<()> {
        if src.len != dst.len || src.dtype != dst.dtype {
            return Err(Error::Shape(format!(
                "copying {} {:?} elements into a buffer of {} {:?}",
                src.len, src.dtype, dst.len, dst.dtype
            )));
        }
        let bytes = src.bytes().div_ceil(4) * 4; // copies go in 4-byte units
        if bytes > 0 {
            let mut enc = self.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(src.raw(), src.offset, dst.raw(), dst.offset, bytes);
            self.queue.submit([enc.finish()]);
        }
        self.take_errors()
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
        let bytes = buf.bytes().div_ceil(4) * 4; // copies go in 4-byte units
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf.raw(), buf.offset, &staging, 0, bytes);
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
