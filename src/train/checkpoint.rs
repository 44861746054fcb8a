//! Tensor files (safetensors) with PyTorch-style names, written atomically.
//!
//! A `TensorFile` is an ordered map of named tensors (f32 or i64, the dtypes a PyTorch
//! state_dict of our models holds: weights and `num_batches_tracked`) plus string metadata.
//! `save_atomic` writes a temporary file beside the target, syncs it and renames it over the
//! target, so an interrupted run never leaves a half-written checkpoint in place of a good one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor {
            shape,
            data: Data::F32(data),
        }
    }
    /// The values as f32, or an error naming the tensor when it holds integers.
    pub fn as_f32(&self, name: &str) -> Result<&[f32]> {
        match &self.data {
            Data::F32(v) => Ok(v),
            Data::I64(_) => Err(Error::Data(format!(
                "tensor '{name}' holds integers, expected f32"
            ))),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// The tensor `name`, checked to have `shape`; errors say which file to suspect.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| {
            Error::Data(format!(
                "tensor '{name}' is missing: is this a checkpoint of another model?"
            ))
        })?;
        if t.shape != shape {
            return Err(Error::Data(format!(
                "tensor '{name}' has shape {:?} but this model needs {shape:?}: \
                 the checkpoint was made with a different model configuration",
                t.shape
            )));
        }
        Ok(t)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let (dtype, bytes): (Dtype, &[u8]) = match &t.data {
                    Data::F32(v) => (Dtype::F32, bytemuck::cast_slice(v)),
                    Data::I64(v) => (Dtype::I64, bytemuck::cast_slice(v)),
                };
                TensorView::new(dtype, t.shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::Data(format!("tensor '{name}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = safetensors::serialize(views, None)
            .map_err(|e| Error::Data(format!("serialising tensors: {e}")))?;
        match self.metadata.is_empty() {
            true => Ok(bytes),
            false => with_metadata(bytes, &self.metadata),
        }
    }

    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<TensorFile> {
        let bad = |e: String| Error::Data(format!("{what} is not a valid safetensors file: {e}"));
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let mut out = TensorFile::default();
        if let Some(m) = header.metadata() {
            out.metadata = m.clone().into_iter().collect();
        }
        for (name, view) in st.tensors() {
            let data = match view.dtype() {
                Dtype::F32 => Data::F32(bytemuck::pod_collect_to_vec(view.data())),
                Dtype::I64 => Data::I64(bytemuck::pod_collect_to_vec(view.data())),
                other => {
                    return Err(bad(format!(
                        "tensor '{name}' has dtype {other:?}; only F32 and I64 are read"
                    )))
                }
            };
            out.tensors.insert(
                name,
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(out)
    }

    pub fn load(path: &Path) -> Result<TensorFile> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
        TensorFile::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn save_atomic(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }
}

/// Add `meta` to the header of serialised `bytes` (8-byte little-endian header length, JSON
/// header, data). safetensors keeps metadata in a HashMap, whose order changes from run to run;
/// writing it here from a sorted map makes equal files equal bytes (reproducible checkpoints).
fn with_metadata(bytes: Vec<u8>, meta: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Data(format!("writing the tensor file header: {e}"));
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| bad(e.to_string()))?;
    let meta = serde_json::to_value(meta).map_err(|e| bad(e.to_string()))?;
    header.insert("__metadata__".into(), meta);
    let mut h = serde_json::to_vec(&header).map_err(|e| bad(e.to_string()))?;
    h.resize(h.len().next_multiple_of(8), b' '); // the data stays 8-byte aligned
    let mut out = Vec::with_capacity(8 + h.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Write `bytes` to `path` via a synced temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error, what: &str| Error::Data(format!("{what} {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(e, "creating the directory of"))?;
    let mut tmp = PathBuf::from(path);
    tmp.set_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself; a directory fsync is not possible on every platform.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io(e, "writing"))
}
