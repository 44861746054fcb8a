//! CIFAR-10, binary version (cifar-10-batches-bin): data_batch_1.bin to data_batch_5.bin are
//! the training split (read in that order), test_batch.bin the test split; batches.meta.txt
//! (the class names) is not needed.
//!
//! Format: records of 1 label byte (0..10) then 3072 pixel bytes: the red plane, then green,
//! then blue, each 32x32 row-major; no header. A file's size must be a multiple of 3073.
//! Shapes: images [N, 3072] f32 in [0, 1] (CHW: 3x32x32), labels [N] u32 in 0..10.

use std::path::Path;

use crate::data::dataset::{Dataset, ImageShape, Split};
use crate::{Error, Result};

pub const CLASSES: usize = 10;
pub const PIXELS: usize = 3 * 32 * 32;
/// Bytes per record: the label and the pixels.
pub const RECORD: usize = 1 + PIXELS;
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
/// The directory the official archive (cifar-10-binary.tar.gz) unpacks to.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// Whether `dir` holds any of the CIFAR-10 batch files (so it is meant as a CIFAR directory).
pub fn looks_like(dir: &Path) -> bool {
    TRAIN_FILES
        .iter()
        .chain([&TEST_FILE])
        .any(|f| dir.join(f).is_file())
}

/// Decode one batch file's bytes; `what` names the source in errors.
pub fn parse_batch(bytes: &[u8], what: &str) -> Result<Split> {
    if bytes.is_empty() {
        return Err(Error::Data(format!(
            "{what} is empty; replace it with a fresh copy of the CIFAR-10 binary version"
        )));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::Data(format!(
            "{what} has {} bytes, not a whole number of {RECORD}-byte records (label + \
             3x32x32 pixels): the file is truncated or not a CIFAR-10 binary batch; replace it",
            bytes.len()
        )));
    }
    let n = bytes.len() / RECORD;
    let mut split = Split {
        images: Vec::with_capacity(n * PIXELS),
        labels: Vec::with_capacity(n),
    };
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CLASSES {
            return Err(Error::Data(format!(
                "{what}: record {i} has label {}, but CIFAR-10 labels are 0-9: the file is \
                 corrupt or from another dataset (CIFAR-100 records have 2 label bytes)",
                rec[0]
            )));
        }
        split.labels.push(rec[0] as u32);
        split
            .images
            .extend(rec[1..].iter().map(|&p| p as f32 / 255.0));
    }
    Ok(split)
}

/// Read and decode one batch file.
pub fn read_batch(path: &Path) -> Result<Split> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Data(format!("cannot read {}: {e}", path.display())))?;
    parse_batch(&bytes, &path.display().to_string())
}

/// Load the training batches (in order) and the test batch from `dir`.
pub fn load(dir: &Path) -> Result<Dataset> {
    let missing: Vec<&str> = TRAIN_FILES
        .iter()
        .chain([&TEST_FILE])
        .filter(|f| !dir.join(f).is_file())
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(Error::Data(format!(
            "{} has no {}; a CIFAR-10 directory (the binary version, {ARCHIVE_DIR}) needs \
             data_batch_1.bin to data_batch_5.bin and test_batch.bin",
            dir.display(),
            missing.join(", ")
        )));
    }
    let mut train = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    for f in TRAIN_FILES {
        let part = read_batch(&dir.join(f))?;
        train.images.extend_from_slice(&part.images);
        train.labels.extend_from_slice(&part.labels);
    }
    Ok(Dataset {
        name: "cifar10".into(),
        shape: ImageShape::CIFAR10,
        classes: CLASSES,
        train,
        test: read_batch(&dir.join(TEST_FILE))?,
    })
}
