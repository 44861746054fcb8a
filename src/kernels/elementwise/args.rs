//! Buffer arguments of a dispatch: checked (length, dtype, no written buffer aliased) and put
//! in binding order. Shared with the layout family, whose entry points also bind a fixed-role
//! subset of their file's bindings.

use crate::{shape_err, Buf, DType, Error, Result};

/// One buffer argument of a dispatch: its name (for errors), binding, expected length, and
/// whether the kernel writes it.
pub(crate) struct Arg<'a> {
    pub name: &'static str,
    pub binding: u32,
    pub buf: &'a Buf,
    pub len: usize,
    pub written: bool,
}

pub(crate) fn read<'a>(name: &'static str, binding: u32, buf: &'a Buf, len: usize) -> Arg<'a> {
    Arg {
        name,
        binding,
        buf,
        len,
        written: false,
    }
}

pub(crate) fn write<'a>(name: &'static str, binding: u32, buf: &'a Buf, len: usize) -> Arg<'a> {
    Arg {
        name,
        binding,
        buf,
        len,
        written: true,
    }
}

/// Check lengths, dtypes and aliasing of a dispatch's buffers, then order them by binding for
/// `gpu.dispatch` (slots an entry point does not bind are never read, so they repeat the first
/// buffer). A written buffer may not also be bound elsewhere in the same dispatch: wgpu rejects
/// a buffer that is both read-only and read-write storage in one dispatch.
pub(crate) fn bind<'a>(what: &str, dtype: DType, args: &[Arg<'a>]) -> Result<Vec<&'a Buf>> {
    for a in args {
        if a.buf.len() != a.len {
            return shape_err!(
                "{what}: {} has {} elements, expected {}",
                a.name,
                a.buf.len(),
                a.len
            );
        }
        if a.buf.dtype() != dtype {
            return shape_err!(
                "{what}: {} holds {:?} but this kernel works on {dtype:?} buffers",
                a.name,
                a.buf.dtype()
            );
        }
    }
    for (i, a) in args.iter().enumerate() {
        for o in &args[i + 1..] {
            if (a.written || o.written) && std::ptr::eq(a.buf, o.buf) {
                return Err(Error::Config(format!(
                    "{what}: {} and {} are the same buffer, but a kernel cannot write a buffer \
                     it also reads or writes through another argument; use a separate output",
                    a.name, o.name
                )));
            }
        }
    }
    let top = args.iter().map(|a| a.binding).max().unwrap_or(0) as usize;
    let mut slots = vec![args[0].buf; top];
    for a in args {
        slots[a.binding as usize - 1] = a.buf;
    }
    Ok(slots)
}

/// Element count as the shader's u32 (buffers this large are refused earlier by the adapter's
/// limits, but the conversion stays checked).
pub(crate) fn count(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        Error::Limit(format!(
            "{what}: {n} elements exceed the 2^32 a kernel can index"
        ))
    })
}

/// The WGSL beta of the accumulate convention.
pub(crate) fn beta(accumulate: bool) -> f32 {
    if accumulate {
        1.0
    } else {
        0.0
    }
}
