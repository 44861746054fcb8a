//! Shuffle family vs its twins: GPU permutations and derangements (valid, reproducible,
//! independent of dispatch shape, equal to the twin), gathers and their backward vs f64.
mod common;
use common::*;
use rand::seq::SliceRandom;
use rand::Rng as _;
use shadergrad::kernels::shuffle::{self, cpu, PermKind};
use shadergrad::{Buf, DType, Dispatch};

const KINDS: [PermKind; 2] = [PermKind::Uniform, PermKind::Derangement];

fn run(ds: &[&Dispatch]) {
    gpu().run(ds).unwrap();
}

/// The GPU permutation of B rows at (seed, step).
fn gpu_perm(b: usize, seed: u64, step: u64, kind: PermKind, wg: usize) -> Vec<u32> {
    let gpu = gpu();
    let perm = gpu.zeros(b, DType::U32).unwrap();
    let scratch = gpu
        .zeros(shuffle::permutation_scratch_len(b), DType::U32)
        .unwrap();
    let ds = shuffle::permutation_wg(gpu, &perm, &scratch, seed, step, kind, wg).unwrap();
    run(&ds.iter().collect::<Vec<_>>());
    gpu.download(&perm).unwrap()
}

fn assert_valid(perm: &[u32], kind: PermKind, what: &str) {
    cpu::check_permutation(perm).unwrap_or_else(|e| panic!("{what}: {e}"));
    if kind == PermKind::Derangement {
        let fixed = perm.iter().enumerate().position(|(i, &p)| p as usize == i);
        assert!(fixed.is_none(), "{what}: fixed point at {fixed:?}");
    }
}

#[test]
fn gpu_permutations_are_valid_and_equal_the_twin() {
    let mut rng = rng();
    for b in [1usize, 2, 3, 7, 64, 1000, 4096] {
        for kind in KINDS {
            if b == 1 && kind == PermKind::Derangement {
                continue;
            }
            let (seed, step) = (rng.random(), rng.random());
            let what = format!("B={b} {kind:?} seed={seed} step={step}");
            let got = gpu_perm(b, seed, step, kind, 64);
            assert_valid(&got, kind, &what);
            assert_eq!(
                got,
                cpu::permutation(b, seed, step, kind).unwrap(),
                "{what}"
            );
        }
    }
}

#[test]
fn permutations_do_not_depend_on_runs_or_workgroup_size() {
    for kind in KINDS {
        let (b, seed, step) = (777, 0xfeed_beef_u64, 1u64 << 40);
        let base = gpu_perm(b, seed, step, kind, 64);
        assert_eq!(
            base,
            gpu_perm(b, seed, step, kind, 64),
            "{kind:?} second run"
        );
        for wg in [8, 256, 1, 40] {
            assert_eq!(base, gpu_perm(b, seed, step, kind, wg), "{kind:?} WG={wg}");
        }
        // Different steps and seeds give different permutations.
        assert_ne!(
            base,
            gpu_perm(b, seed, step + 1, kind, 64),
            "{kind:?} next step"
        );
        assert_ne!(
            base,
            gpu_perm(b, seed + 1, step, kind, 64),
            "{kind:?} next seed"
        );
    }
}

#[test]
fn set_params_moves_a_permutation_to_the_next_step() {
    let gpu = gpu();
    let b = 100;
    let kind = PermKind::Derangement;
    let perm = gpu.zeros(b, DType::U32).unwrap();
    let scratch = gpu.zeros(2 * b, DType::U32).unwrap();
    let ds = shuffle::permutation(gpu, &perm, &scratch, 5, 0, kind).unwrap();
    for step in [3u64, 4] {
        for d in &ds {
            gpu.set_params(d, &shuffle::permutation_params(b, 5, step, kind));
        }
        run(&ds.iter().collect::<Vec<_>>());
        let got: Vec<u32> = gpu.download(&perm).unwrap();
        assert_eq!(
            got,
            cpu::permutation(b, 5, step, kind).unwrap(),
            "step {step}"
        );
    }
}

#[test]
fn twin_permutations_are_uniform_over_their_kind() {
    // B = 3: 6 permutations, each ~1/6 of 6000 steps; derangements are the 2 cyclic ones,
    // ~1/2 each. Bounds are 5 standard deviations (fixed seed: deterministic).
    let steps = 6000;
    for (kind, classes) in [(PermKind::Uniform, 6usize), (PermKind::Derangement, 2)] {
        let mut counts = std::collections::BTreeMap::new();
        for step in 0..steps {
            *counts
                .entry(cpu::permutation(3, 99, step, kind).unwrap())
                .or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), classes, "{kind:?}: {counts:?}");
        let p = 1.0 / classes as f64;
        let (mean, sd) = (steps as f64 * p, (steps as f64 * p * (1.0 - p)).sqrt());
        for (perm, &c) in &counts {
            assert!(
                (c as f64 - mean).abs() < 5.0 * sd,
                "{kind:?} {perm:?}: {c} of {steps}"
            );
        }
    }
}

#[test]
fn derangement_of_one_row_and_other_bad_sizes_are_errors() {
    let gpu = gpu();
    let one = gpu.zeros(1, DType::U32).unwrap();
    let scratch = gpu.zeros(2, DType::U32).unwrap();
    let err = shuffle::permutation(gpu, &one, &scratch, 0, 0, PermKind::Derangement)
        .err()
        .expect("a derangement of B = 1 must be an error");
    assert!(
        err.to_string().contains("derangement"),
        "unclear message: {err}"
    );
    assert!(cpu::permutation(1, 0, 0, PermKind::Derangement).is_err());
    // B = 1 uniform is fine: the identity.
    assert_eq!(gpu_perm(1, 3, 4, PermKind::Uniform, 64), vec![0]);
    let empty = gpu.zeros(0, DType::U32).unwrap();
    assert!(shuffle::permutation(gpu, &empty, &scratch, 0, 0, PermKind::Uniform).is_err());
    let ten = gpu.zeros(10, DType::U32).unwrap();
    assert!(
        shuffle::permutation(gpu, &ten, &scratch, 0, 0, PermKind::Uniform).is_err(),
        "scratch too small"
    );
    let floats = gpu.zeros(10, DType::F32).unwrap();
    let big_scratch = gpu.zeros(20, DType::U32).unwrap();
    assert!(shuffle::permutation(gpu, &floats, &big_scratch, 0, 0, PermKind::Uniform).is_err());
    let huge = gpu
        .zeros(shuffle::MAX_PERMUTATION_B + 1, DType::U32)
        .unwrap();
    assert!(shuffle::permutation(gpu, &huge, &huge, 0, 0, PermKind::Uniform).is_err());
    assert!(shuffle::permutation_wg(gpu, &ten, &big_scratch, 0, 0, PermKind::Uniform, 0).is_err());
}

// ---- gather ----------------------------------------------------------------------------------

fn up(v: &[f32]) -> Buf {
    gpu().upload(v).unwrap()
}

fn down(b: &Buf) -> Vec<f32> {
    gpu().download(b).unwrap()
}

/// Gather and its backward (writing over NaN, and accumulating) vs f64 for one perm.
fn check_gather(rng: &mut rand::rngs::StdRng, perm: &[u32], permb: &Buf, f: usize) {
    let gpu = gpu();
    let b = perm.len();
    let n = b * f;
    let what = format!("B={b} F={f}");
    let x = uniform(rng, n, -1.0, 1.0);
    let (xb, y) = (up(&x), up(&vec![f32::NAN; n]));
    run(&[&shuffle::gather(gpu, permb, &xb, &y, b, f).unwrap()]);
    // A gather copies: exact.
    assert_close(
        &format!("gather {what}"),
        &down(&y),
        &cpu::gather(perm, &to_f64(&x), f),
        0.0,
        0.0,
    );
    let dy = uniform(rng, n, -1.0, 1.0);
    let want = cpu::gather_backward(perm, &to_f64(&dy), f);
    let old = uniform(rng, n, -1.0, 1.0);
    for accumulate in [false, true] {
        let dx = up(&if accumulate {
            old.clone()
        } else {
            vec![f32::NAN; n]
        });
        run(&[&shuffle::gather_backward(gpu, permb, &up(&dy), &dx, b, f, accumulate).unwrap()]);
        let want: Vec<f64> = match accumulate {
            false => want.clone(),
            true => old.iter().zip(&want).map(|(&o, w)| o as f64 + w).collect(),
        };
        assert_close(
            &format!("gather_backward {what} acc={accumulate}"),
            &down(&dx),
            &want,
            1e-5,
            0.0,
        );
    }
}

#[test]
fn gather_matches_twin_with_host_and_gpu_permutations() {
    let gpu = gpu();
    let mut rng = rng();
    for (b, f) in [(1usize, 1usize), (2, 3), (37, 13), (5, 1031), (300, 1)] {
        // Host permutation (validated on upload).
        let mut perm: Vec<u32> = (0..b as u32).collect();
        perm.shuffle(&mut rng);
        let permb = shuffle::upload_permutation(gpu, &perm).unwrap();
        check_gather(&mut rng, &perm, &permb, f);
        // GPU permutations, used straight from the device buffer.
        for kind in KINDS {
            if b == 1 && kind == PermKind::Derangement {
                continue;
            }
            let permb = gpu.zeros(b, DType::U32).unwrap();
            let scratch = gpu.zeros(2 * b, DType::U32).unwrap();
            let ds = shuffle::permutation(gpu, &permb, &scratch, 8, b as u64, kind).unwrap();
            run(&ds.iter().collect::<Vec<_>>());
            check_gather(
                &mut rng,
                &cpu::permutation(b, 8, b as u64, kind).unwrap(),
                &permb,
                f,
            );
        }
    }
}

#[test]
fn gather_over_65535_workgroups_matches_twin() {
    // 1100 x 3900 = 4.29M elements > 65,535 workgroups of 64.
    let (b, f) = (1100, 3900);
    let mut rng = rng();
    let perm = cpu::permutation(b, 1, 2, PermKind::Derangement).unwrap();
    check_gather(&mut rng, &perm, &gpu().upload(&perm).unwrap(), f);
}

#[test]
fn gather_backward_twin_passes_gradcheck() {
    let mut rng = rng();
    for kind in KINDS {
        let (b, f) = (6, 4);
        let perm = cpu::permutation(b, rng.random(), 0, kind).unwrap();
        let x = to_f64(&uniform(&mut rng, b * f, -1.0, 1.0));
        let dy = to_f64(&uniform(&mut rng, b * f, -1.0, 1.0));
        let dx = cpu::gather_backward(&perm, &dy, f);
        let what = format!("gather {kind:?}");
        gradcheck(
            &what,
            |x| cpu::gather(&perm, x, f),
            &x,
            &dy,
            &dx,
            1e-6,
            1e-8,
        );
    }
}

#[test]
fn regression_out_of_range_index_gives_nan_not_another_row() {
    // A raw (unchecked) upload with an index past B: the gather writes NaN for that row, the
    // backward drops it; neither touches memory outside its rows.
    let gpu = gpu();
    let (b, f) = (3, 2);
    let perm = gpu.upload(&[2u32, 7, 0]).unwrap();
    let x = up(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = up(&[0.0; 6]);
    run(&[&shuffle::gather(gpu, &perm, &x, &y, b, f).unwrap()]);
    let y = down(&y);
    assert_eq!(&y[0..2], &[5.0, 6.0]);
    assert!(y[2].is_nan() && y[3].is_nan(), "{y:?}");
    assert_eq!(&y[4..6], &[1.0, 2.0]);
    let dx = up(&[9.0; 6]);
    run(&[&shuffle::gather_backward(gpu, &perm, &up(&[1.0; 6]), &dx, b, f, false).unwrap()]);
    assert_eq!(down(&dx), vec![1.0, 1.0, 9.0, 9.0, 1.0, 1.0]);
}

#[test]
fn gather_bad_input_is_an_error() {
    let gpu = gpu();
    let (b, f) = (4, 3);
    let z = |n| gpu.zeros(n, DType::F32).unwrap();
    let perm = shuffle::upload_permutation(gpu, &[1, 0, 3, 2]).unwrap();
    let (x, y) = (z(12), z(12));
    assert!(
        shuffle::gather(gpu, &perm, &x, &z(11), b, f).is_err(),
        "y too short"
    );
    assert!(
        shuffle::gather(gpu, &perm, &x, &y, 5, f).is_err(),
        "perm shorter than B"
    );
    assert!(
        shuffle::gather(gpu, &perm, &x, &x, b, f).is_err(),
        "in place"
    );
    assert!(shuffle::gather(gpu, &x, &x, &y, b, f).is_err(), "f32 perm");
    assert!(shuffle::gather_backward(gpu, &perm, &x, &z(13), b, f, true).is_err());
    assert!(
        shuffle::upload_permutation(gpu, &[0, 0, 1]).is_err(),
        "duplicate"
    );
    assert!(
        shuffle::upload_permutation(gpu, &[0, 3, 1]).is_err(),
        "out of range"
    );
}
