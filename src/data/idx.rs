//! IDX files (the MNIST / Fashion-MNIST container), gzipped or raw.
//!
//! Format: a 4-byte magic `00 00 <type> <ndim>` (type 0x08 = unsigned byte is the only one
//! the datasets use), then `ndim` big-endian u32 dimensions, then the data, row-major.
//! Every size is checked against the header so a truncated or corrupt file is a clear error.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Read a file, transparently gunzipping when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path)
        .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| {
            Error::Data(format!(
                "{} is not a valid gzip file ({e}); it may be truncated: replace it with a fresh copy",
                path.display()
            ))
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parse IDX bytes. `what` names the source in errors.
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<IdxArray> {
    let bad = |msg: String| Err(Error::Data(format!("{what}: {msg}")));
    if bytes.len() < 4 {
        return bad(format!(
            "only {} bytes: too short to be an IDX file",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return bad(format!(
            "wrong magic {:02x}{:02x}{:02x}{:02x}: not an IDX file",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return bad(format!(
            "element type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 || ndim > 4 {
        return bad(format!("{ndim} dimensions: expected 1 to 4"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return bad("truncated inside the header".into());
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(count) = count else {
        return bad(format!("dimensions {dims:?} overflow"));
    };
    let have = bytes.len() - header;
    if have != count {
        return bad(format!(
            "header {dims:?} promises {count} bytes of data but the file has {have}: \
             the file is truncated or corrupt; replace it"
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Read and parse an IDX file (gzipped or raw).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    parse_idx(&read_maybe_gz(path)?, &path.display().to_string())
}
