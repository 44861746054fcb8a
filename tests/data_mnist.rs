//! The MNIST reader: the bundled files load with the right shapes, and every kind of damaged
//! input is a clear `Error::Data`, never a panic.
use std::io::Write;
use std::path::Path;

use shadergrad::data::{idx, mnist};
use shadergrad::Error;

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A tiny valid MNIST-format directory: `n` train and test images, raw (not gzipped).
fn tiny_dir(n: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for prefix in ["train", "t10k"] {
        let img: Vec<u8> = (0..n * 784).map(|i| (i % 256) as u8).collect();
        let lbl: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.path().join(format!("{prefix}-images-idx3-ubyte")),
            idx_bytes(&[n, 28, 28], &img),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{prefix}-labels-idx1-ubyte")),
            idx_bytes(&[n], &lbl),
        )
        .unwrap();
    }
    dir
}

fn data_err(r: shadergrad::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Data(m)) => m,
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn bundled_mnist_loads_with_checksums() {
    let m = mnist::load(&mnist::default_dir()).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    assert_eq!(m.train.images.len(), 60_000 * 784);
    assert!(m.train.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    // Every digit appears, in roughly even proportion (each class is 9-12% of MNIST).
    for c in 0..10 {
        let share = m.train.labels.iter().filter(|&&l| l == c).count() as f64 / 60_000.0;
        assert!((0.08..0.13).contains(&share), "class {c} share {share}");
    }
    // The first training label of MNIST is a 5.
    assert_eq!(m.train.labels[0], 5);
}

#[test]
fn raw_and_gzipped_files_read_the_same() {
    let dir = tiny_dir(3);
    let raw = idx::read_idx(&dir.path().join("train-images-idx3-ubyte")).unwrap();
    let bytes = std::fs::read(dir.path().join("train-images-idx3-ubyte")).unwrap();
    let gz_path = dir.path().join("x.gz");
    std::fs::write(&gz_path, gz(&bytes)).unwrap();
    assert_eq!(idx::read_idx(&gz_path).unwrap(), raw);
    assert_eq!(mnist::load(dir.path()).unwrap().train.len(), 3);
}

#[test]
fn truncated_gzip_is_a_clear_error() {
    let dir = tiny_dir(4);
    let p = dir.path().join("train-images-idx3-ubyte");
    let full = gz(&std::fs::read(&p).unwrap());
    std::fs::remove_file(&p).unwrap();
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        &full[..full.len() / 2],
    )
    .unwrap();
    let msg = data_err(mnist::load(dir.path()));
    assert!(msg.contains("gzip") && msg.contains("truncated"), "{msg}");
}

#[test]
fn wrong_magic_and_short_data_are_clear_errors() {
    let msg = data_err(idx::parse_idx(&[0x50, 0x4b, 3, 4, 0, 0], "zip.bin"));
    assert!(msg.contains("wrong magic"), "{msg}");
    let msg = data_err(idx::parse_idx(&idx_bytes(&[5, 28, 28], &[0; 100]), "short"));
    assert!(msg.contains("truncated"), "{msg}");
    let msg = data_err(idx::parse_idx(
        &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "floats",
    ));
    assert!(msg.contains("element type"), "{msg}");
    let msg = data_err(idx::parse_idx(&[0, 0], "tiny"));
    assert!(msg.contains("too short"), "{msg}");
}

#[test]
fn mismatched_counts_bad_labels_and_missing_files_are_clear_errors() {
    let dir = tiny_dir(3);
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx_bytes(&[2], &[1, 2]),
    )
    .unwrap();
    assert!(data_err(mnist::load(dir.path())).contains("labels for 3 images"));

    let dir = tiny_dir(3);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_bytes(&[3], &[1, 12, 2]),
    )
    .unwrap();
    assert!(data_err(mnist::load(dir.path())).contains("label 12"));

    let dir = tiny_dir(3);
    std::fs::remove_file(dir.path().join("t10k-images-idx3-ubyte")).unwrap();
    assert!(data_err(mnist::load(dir.path())).contains("t10k-images-idx3-ubyte"));

    assert!(data_err(mnist::load(Path::new("/no/such/dir"))).contains("does not exist"));
}

#[test]
fn checksum_mismatch_is_a_clear_error() {
    let dir = tiny_dir(2);
    std::fs::write(
        dir.path().join("SHA256SUMS"),
        format!("{}  train-labels-idx1-ubyte\n", "0".repeat(64)),
    )
    .unwrap();
    let msg = data_err(mnist::load(dir.path()));
    assert!(
        msg.contains("SHA256SUMS") && msg.contains("train-labels-idx1-ubyte"),
        "{msg}"
    );
}

#[test]
fn epoch_order_is_a_seeded_permutation() {
    use shadergrad::data::batch::epoch_order;
    let a = epoch_order(1000, 7, 3);
    assert_eq!(a, epoch_order(1000, 7, 3));
    assert_ne!(a, epoch_order(1000, 7, 4));
    let mut s = a.clone();
    s.sort();
    assert_eq!(s, (0..1000).collect::<Vec<u32>>());
}
