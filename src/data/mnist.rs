//! MNIST-format datasets (MNIST, Fashion-MNIST): the four IDX files of a directory, gzipped or
//! raw, checked against the directory's SHA256SUMS when it has one.
//!
//! Shapes: images [N, 784] f32 in [0, 1] (row-major 28x28), labels [N] u32 in 0..10.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use crate::data::dataset::Split;
use crate::data::dataset::{Dataset, ImageShape};
use crate::data::idx::read_idx;
use crate::{Error, Result};

pub const SIDE: usize = 28;
pub const PIXELS: usize = SIDE * SIDE;
pub const CLASSES: usize = 10;

/// A MNIST-format dataset (name "mnist", shape 1x28x28).
pub type Mnist = Dataset;

/// The four files a MNIST-format directory holds (each raw or with .gz).
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The directory bundled with the project: data/mnist.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist")
}

/// Whether `dir` holds any of the MNIST-format files (so it is meant as a MNIST directory).
pub fn looks_like(dir: &Path) -> bool {
    FILES
        .iter()
        .any(|f| dir.join(f).is_file() || dir.join(format!("{f}.gz")).is_file())
}

/// `stem` with `.gz` if that exists, else the raw file.
fn locate(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Data(format!(
        "{} has no {stem}(.gz); a MNIST-format directory needs train-images-idx3-ubyte, \
         train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte",
        dir.display()
    )))
}

/// Check every file listed in `dir/SHA256SUMS` that exists in `dir`.
pub fn verify_checksums(dir: &Path) -> Result<()> {
    let sums = dir.join("SHA256SUMS");
    let Ok(text) = std::fs::read_to_string(&sums) else {
        return Ok(());
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(want), Some(name)) = (parts.next(), parts.next()) else {
            return Err(Error::Data(format!(
                "{}: malformed line '{line}'",
                sums.display()
            )));
        };
        let path = dir.join(name.trim_start_matches('*'));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !got.eq_ignore_ascii_case(want) {
            return Err(Error::Data(format!(
                "{} fails its SHA256SUMS check (got {got}); the file is corrupt: replace it",
                path.display()
            )));
        }
    }
    Ok(())
}

fn load_split(dir: &Path, prefix: &str) -> Result<Split> {
    let img_path = locate(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lbl_path = locate(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
        return Err(Error::Data(format!(
            "{}: image dimensions {:?}, expected [n, 28, 28]",
            img_path.display(),
            images.dims
        )));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(Error::Data(format!(
            "{} has {:?} labels for {} images in {}",
            lbl_path.display(),
            labels.dims,
            images.dims[0],
            img_path.display()
        )));
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(Error::Data(format!(
            "{}: label {bad} is not a digit 0-9",
            lbl_path.display()
        )));
    }
    Ok(Split {
        images: images.data.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: labels.data.iter().map(|&l| l as u32).collect(),
    })
}

/// Load train and test splits from a MNIST-format directory.
pub fn load(dir: &Path) -> Result<Mnist> {
    if !dir.is_dir() {
        return Err(Error::Data(format!(
            "data directory {} does not exist",
            dir.display()
        )));
    }
    verify_checksums(dir)?;
    Ok(Dataset {
        name: "mnist".into(),
        shape: ImageShape::MNIST,
        classes: CLASSES,
        train: load_split(dir, "train")?,
        test: load_split(dir, "t10k")?,
    })
}
