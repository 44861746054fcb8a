//! A dataset of labelled images whatever its file format: the image shape, the class count and
//! the two splits, with `load` choosing the reader by the files a directory holds.
//!
//! Shapes: images [N, C * H * W] f32 in [0, 1], each image CHW (channel planes, rows
//! row-major); labels [N] u32 in 0..classes. MNIST is 1x28x28, CIFAR-10 3x32x32.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{cifar, mnist};
use crate::{Error, Result};

/// The shape of one image: channels x height x width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub const MNIST: ImageShape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    pub const CIFAR10: ImageShape = ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };

    /// Values per image: C * H * W.
    pub fn pixels(&self) -> usize {
        self.channels * self.height * self.width
    }
}

impl Default for ImageShape {
    /// MNIST's, the shape of runs recorded before datasets carried one.
    fn default() -> Self {
        ImageShape::MNIST
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// One split (train or test) in memory.
#[derive(Debug, Clone)]
pub struct Split {
    /// [n, C * H * W], pixel / 255.
    pub images: Vec<f32>,
    /// [n]
    pub labels: Vec<u32>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// "mnist" (any MNIST-format IDX directory, e.g. Fashion-MNIST) or "cifar10".
    pub name: String,
    pub shape: ImageShape,
    pub classes: usize,
    pub train: Split,
    pub test: Split,
}

/// Load the dataset in `dir`, by the files it holds: the four MNIST-format IDX files
/// (gzipped or raw) or the CIFAR-10 binary batches (also found in a `cifar-10-batches-bin`
/// subdirectory, where the official archive unpacks).
pub fn load(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::Data(format!(
            "data directory {} does not exist",
            dir.display()
        )));
    }
    if mnist::looks_like(dir) {
        return mnist::load(dir);
    }
    if cifar::looks_like(dir) {
        return cifar::load(dir);
    }
    let nested = dir.join(cifar::ARCHIVE_DIR);
    if cifar::looks_like(&nested) {
        return cifar::load(&nested);
    }
    Err(Error::Data(format!(
        "{} holds no dataset: expected MNIST-format IDX files (train-images-idx3-ubyte, \
         train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or \
         .gz) or CIFAR-10 binaries (data_batch_1.bin to data_batch_5.bin and test_batch.bin, \
         as in cifar-10-batches-bin)",
        dir.display()
    )))
}
