//! The CIFAR-10 reader and the shape-generic pipeline: synthetic batch files in the exact
//! binary format load with the right pixels, labels and order; every kind of damaged or
//! missing input is a clear `Error::Data`; format detection picks MNIST or CIFAR; config.json
//! records the dataset (old ones mean MNIST) and the bundled data dir portably; and the VAE
//! trains end to end on 3x32x32 images, writing RGB grids.
mod common;
use std::path::Path;

use common::gpu;
use shadergrad::data::dataset::{self, ImageShape};
use shadergrad::data::{cifar, mnist};
use shadergrad::train::checkpoint::TensorFile;
use shadergrad::train::commands;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::images::save_image_grid;
use shadergrad::train::trainer;
use shadergrad::Error;

/// The byte of pixel `j` (0..3072, CHW) of the `r`-th record overall: differs across records,
/// channels and positions, so a wrong order or plane layout shows.
fn pixel(r: usize, j: usize) -> u8 {
    ((r * 31 + j * 7 + j / 1024 * 50) % 256) as u8
}

fn label(r: usize) -> u8 {
    ((r * 3 + 1) % 10) as u8
}

/// One batch file of `n` records numbered from `first`.
fn batch_bytes(first: usize, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * cifar::RECORD);
    for r in first..first + n {
        v.push(label(r));
        v.extend((0..cifar::PIXELS).map(|j| pixel(r, j)));
    }
    v
}

/// A CIFAR-10 directory: `per_file` records in each training batch, `test` in test_batch.bin
/// (records numbered on from the training ones).
fn tiny_cifar(per_file: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (k, f) in cifar::TRAIN_FILES.iter().enumerate() {
        std::fs::write(dir.path().join(f), batch_bytes(k * per_file, per_file)).unwrap();
    }
    std::fs::write(
        dir.path().join(cifar::TEST_FILE),
        batch_bytes(5 * per_file, test),
    )
    .unwrap();
    dir
}

fn data_err(r: shadergrad::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Data(m)) => m,
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn synthetic_cifar_loads_with_pixels_labels_and_order() {
    let dir = tiny_cifar(3, 4);
    let d = dataset::load(dir.path()).unwrap();
    assert_eq!(d.name, "cifar10");
    assert_eq!(d.shape, ImageShape::CIFAR10);
    assert_eq!((d.shape.pixels(), d.classes), (3072, 10));
    assert_eq!((d.train.len(), d.test.len()), (15, 4));
    assert_eq!(d.train.images.len(), 15 * 3072);
    // Training records in file order (data_batch_1 first), then the test batch's own.
    for (split, first) in [(&d.train, 0), (&d.test, 15)] {
        for i in 0..split.len() {
            let r = first + i;
            assert_eq!(split.labels[i], label(r) as u32, "label of record {r}");
            for j in [0, 1, 31, 32, 1023, 1024, 2048, 3071] {
                assert_eq!(
                    split.images[i * 3072 + j],
                    pixel(r, j) as f32 / 255.0,
                    "record {r} value {j}"
                );
            }
        }
    }
    assert!(d.train.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    // The official archive's folder inside the given directory is found too.
    let parent = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path(), parent.path().join(cifar::ARCHIVE_DIR)).unwrap();
    assert_eq!(dataset::load(parent.path()).unwrap().train.len(), 15);
}

#[test]
fn damaged_or_missing_cifar_files_are_clear_errors() {
    let dir = tiny_cifar(2, 2);
    let p = dir.path().join("data_batch_3.bin");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let msg = data_err(dataset::load(dir.path()));
    assert!(
        msg.contains("data_batch_3.bin") && msg.contains("truncated") && msg.contains("3073"),
        "{msg}"
    );

    let dir = tiny_cifar(2, 2);
    let p = dir.path().join(cifar::TEST_FILE);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[cifar::RECORD] = 10; // the second record's label
    std::fs::write(&p, bytes).unwrap();
    let msg = data_err(dataset::load(dir.path()));
    assert!(
        msg.contains("test_batch.bin") && msg.contains("record 1") && msg.contains("label 10"),
        "{msg}"
    );

    let dir = tiny_cifar(2, 2);
    std::fs::write(dir.path().join("data_batch_5.bin"), []).unwrap();
    let msg = data_err(dataset::load(dir.path()));
    assert!(
        msg.contains("data_batch_5.bin") && msg.contains("empty"),
        "{msg}"
    );

    let dir = tiny_cifar(2, 2);
    std::fs::remove_file(dir.path().join(cifar::TEST_FILE)).unwrap();
    let msg = data_err(dataset::load(dir.path()));
    assert!(
        msg.contains("no test_batch.bin") && msg.contains("data_batch_1.bin to data_batch_5.bin"),
        "{msg}"
    );

    let empty = tempfile::tempdir().unwrap();
    let msg = data_err(dataset::load(empty.path()));
    assert!(
        msg.contains("train-images-idx3-ubyte")
            && msg.contains("data_batch_1.bin")
            && msg.contains("test_batch.bin")
            && !msg.contains('\n'),
        "{msg}"
    );
    let msg = data_err(dataset::load(Path::new("/no/such/dir")));
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn mnist_format_directories_are_detected() {
    let dir = common::small_mnist(3, 2);
    let d = dataset::load(dir.path()).unwrap();
    assert_eq!(
        (d.name.as_str(), d.shape, d.classes),
        ("mnist", ImageShape::MNIST, 10)
    );
    assert_eq!((d.train.len(), d.test.len()), (3, 2));
    // A partial MNIST directory reports the MNIST file it lacks, not the CIFAR layout.
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let msg = data_err(dataset::load(dir.path()));
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && !msg.contains("data_batch"),
        "{msg}"
    );
}

#[test]
fn config_records_the_dataset_and_the_bundled_dir_portably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let cfg = TrainConfig::for_model("vae");
    cfg.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"data_dir\": null"), "{text}");
    assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "{text}");
    assert_eq!(TrainConfig::load(&path).unwrap(), cfg);

    // A config from before datasets were recorded, naming another machine's bundled MNIST.
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = json.as_object_mut().unwrap();
    obj.remove("dataset");
    obj.remove("shape");
    obj.insert(
        "data_dir".into(),
        "/home/ci/build/shadergrad/data/mnist".into(),
    );
    std::fs::write(&path, json.to_string()).unwrap();
    let old = TrainConfig::load(&path).unwrap();
    assert_eq!(old.dataset, "mnist");
    assert_eq!(old.shape, ImageShape::MNIST);
    assert_eq!(old.data_dir, mnist::default_dir());

    // Any other directory is kept as given.
    let mut other = cfg.clone();
    other.data_dir = dir.path().to_path_buf();
    other.save(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap().data_dir, dir.path());
}

fn png_info(path: &Path) -> (png::ColorType, u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let info = reader.info();
    (info.color_type, info.width, info.height)
}

#[test]
fn rgb_grids_interleave_the_channel_planes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    let shape = ImageShape {
        channels: 3,
        height: 2,
        width: 3,
    };
    // Planes R = 1, G = 0.5, B = 0, except the last pixel (row 1, column 2) of B = 1.
    let mut img = [vec![1.0f32; 6], vec![0.5; 6], vec![0.0; 6]].concat();
    img[17] = 1.0;
    save_image_grid(&path, &img, shape, 1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let (w, at) = (3 + 4, |x: usize, y: usize| 3 * (y * 7 + x));
    assert_eq!(reader.info().width as usize, w);
    assert_eq!(&buf[at(2, 2)..at(2, 2) + 3], &[255, 128, 0]); // the tile starts at (2, 2)
    assert_eq!(&buf[at(4, 3)..at(4, 3) + 3], &[255, 128, 255]);
    assert_eq!(&buf[at(0, 0)..at(0, 0) + 3], &[32, 32, 32]); // border
    let two = ImageShape {
        channels: 2,
        ..shape
    };
    assert!(save_image_grid(&path, &img[..12], two, 1).is_err());
}

#[test]
fn the_vae_trains_on_cifar_and_writes_rgb_grids() {
    let gpu = gpu();
    let data = tiny_cifar(4, 10); // 20 training images: 2 steps per epoch at batch 8
    let out = tempfile::tempdir().unwrap();
    let mut cfg = TrainConfig::for_model("vae");
    cfg.data_dir = data.path().to_path_buf();
    cfg.out = out.path().to_path_buf();
    cfg.batch_size = 8;
    cfg.eval_batch = 10;
    cfg.epochs = 3;
    cfg.max_steps = Some(5);
    cfg.log_every = 2;
    let rows = trainer::train(gpu, cfg, None).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.train_loss.is_finite() && r.test_loss.is_finite()));

    let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("epoch,train_loss,test_loss"), "{csv}");

    let ckpt = TensorFile::load(&out.path().join("checkpoint.safetensors")).unwrap();
    assert_eq!(ckpt.metadata["step"], "5");
    assert_eq!(ckpt.tensors["fc1.weight"].shape, vec![400, 3072]);
    assert_eq!(ckpt.tensors["fc4.weight"].shape, vec![3072, 400]);

    // 10 x 10 tiles of 32 pixels with 2-pixel borders; reconstructions are 1 pair of rows.
    let side = 10 * 34 + 2;
    for name in ["samples.png", "interpolation.png"] {
        let got = png_info(&out.path().join(name));
        assert_eq!(got, (png::ColorType::Rgb, side, side), "{name}");
    }
    let got = png_info(&out.path().join("reconstructions.png"));
    assert_eq!(got, (png::ColorType::Rgb, side, 2 * 34 + 2));

    // eval and sample rebuild the 3x32x32 model from config.json alone.
    let saved = TrainConfig::load(&out.path().join("config.json")).unwrap();
    assert_eq!(
        (saved.dataset.as_str(), saved.shape),
        ("cifar10", ImageShape::CIFAR10)
    );
    commands::eval(gpu, out.path(), &Default::default()).unwrap();
    let again = tempfile::tempdir().unwrap();
    commands::sample(gpu, out.path(), Some(again.path()), 3).unwrap();
    let got = png_info(&again.path().join("samples.png"));
    assert_eq!(got, (png::ColorType::Rgb, side, side));
}
