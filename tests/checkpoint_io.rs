//! Tensor files: exact round trips, shape/name checks with clear errors, atomic replacement.
use shadergrad::train::checkpoint::{write_atomic, Data, Tensor, TensorFile};
use shadergrad::Error;

fn sample() -> TensorFile {
    let mut f = TensorFile::default();
    f.insert(
        "fc1.weight",
        Tensor::f32(vec![3, 2], vec![0.1, -0.2, 1e-30, f32::MAX, -0.0, 7.5]),
    );
    f.insert("fc1.bias", Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]));
    f.insert(
        "bn.num_batches_tracked",
        Tensor {
            shape: vec![],
            data: Data::I64(vec![42]),
        },
    );
    f.metadata.insert("model".into(), "vae".into());
    f
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ck.safetensors");
    let f = sample();
    f.save_atomic(&p).unwrap();
    let g = TensorFile::load(&p).unwrap();
    assert_eq!(f, g);
    // -0.0 == 0.0 under PartialEq, so compare bits too.
    let bits = |t: &TensorFile| match &t.tensors["fc1.weight"].data {
        Data::F32(v) => v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    assert_eq!(bits(&f), bits(&g));
}

#[test]
fn missing_or_misshapen_tensors_are_clear_errors() {
    let f = sample();
    assert!(f.get("fc1.bias", &[3]).is_ok());
    match f.get("fc1.bias", &[4]) {
        Err(Error::Data(m)) => assert!(m.contains("[3]") && m.contains("[4]"), "{m}"),
        other => panic!("{other:?}"),
    }
    match f.get("fc9.weight", &[1]) {
        Err(Error::Data(m)) => assert!(m.contains("another model"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_is_a_clear_error() {
    match TensorFile::from_bytes(b"definitely not safetensors", "junk.bin") {
        Err(Error::Data(m)) => assert!(m.contains("junk.bin"), "{m}"),
        other => panic!("{other:?}"),
    }
    match TensorFile::load(std::path::Path::new("/no/such/file.safetensors")) {
        Err(Error::Data(m)) => assert!(m.contains("cannot read"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ck.safetensors");
    write_atomic(&p, b"old").unwrap();
    write_atomic(&p, b"new contents").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "left behind: {names:?}");
    // A target whose directory cannot be created fails cleanly and keeps nothing.
    assert!(matches!(
        write_atomic(&p.join("sub/x"), b"z"),
        Err(Error::Data(_))
    ));
    assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
}
