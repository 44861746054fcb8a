//! Probe family vs its f64 twin: what the ceiling-measuring kernels write is right, so the
//! benchmark's bandwidth and FLOP rates count real work.
mod common;
use common::*;
use shadergrad::kernels::probe::{self, cpu};
use shadergrad::{DType, Error};

fn check_copy(n: usize, wg: u32, per: u32) {
    let gpu = gpu();
    let x = uniform(&mut rng(), n, -3.0, 3.0);
    let src = gpu.upload(&x).unwrap();
    let dst = gpu.zeros(n, DType::F32).unwrap();
    let d = probe::copy_vec4(gpu, &src, &dst, wg, per).unwrap();
    gpu.run(&[&d]).unwrap();
    let y: Vec<f32> = gpu.download(&dst).unwrap();
    // A copy is exact.
    let what = format!("copy n={n} wg={wg} per={per}");
    assert_close(&what, &y, &cpu::copy(&to_f64(&x)), 0.0, 0.0);
}

#[test]
fn copy_vec4_copies_every_element() {
    for n in [1usize, 6, 4 * 1000 + 3, 4 * 5000 + 1] {
        check_copy(n, probe::COPY_WG, probe::COPY_PER);
        check_copy(n, 24, 3);
    }
    // 4 (65,535 * 64 + 5) floats need more than 65,535 workgroups of 64 x 1 vec4.
    check_copy(4 * (65_535 * 64 + 5), 64, 1);
}

#[test]
fn fma_peak_writes_the_chain_sums() {
    let gpu = gpu();
    // The chains contract towards 1 (a = 0.999), so f32 rounding does not grow with iters.
    // Steps run 16 at a time in the main loop, then one at a time: 15, 16 and 17 steps cover
    // only the tail loop, only the main loop, and both.
    for (n, chains, iters) in [
        (1usize, 1u32, 0u32),
        (77, 3, 17),
        (100, 4, 15),
        (65, 5, 16),
        (1030, 8, 64 + 7),
        (9, 2, 333),
    ] {
        let out = gpu.zeros(n, DType::F32).unwrap();
        let d = probe::fma_peak(gpu, chains, iters, &out).unwrap();
        gpu.run(&[&d]).unwrap();
        let y: Vec<f32> = gpu.download(&out).unwrap();
        assert_close(
            &format!("fma_peak n={n} chains={chains} iters={iters}"),
            &y,
            &cpu::fma_peak(n, chains, iters),
            1e-5,
            0.0,
        );
    }
}

#[test]
fn fma_peak_over_65535_workgroups_covers_every_invocation() {
    let gpu = gpu();
    let n = 65_535 * 64 + 13;
    let out = gpu.upload(&vec![-1.0f32; n]).unwrap();
    let d = probe::fma_peak(gpu, 2, 3, &out).unwrap();
    gpu.run(&[&d]).unwrap();
    let y: Vec<f32> = gpu.download(&out).unwrap();
    assert_close("fma_peak large", &y, &cpu::fma_peak(n, 2, 3), 1e-5, 0.0);
}

/// lavapipe silently ends an invocation's loops after 65,535 iterations. With a = 1 and
/// b = 2^-10 every chain value is exact in f32 (multiples of 2^-10 below 2^14), so a sum that
/// matches the twin exactly proves that all 16 * 4,200 + 5 = 67,205 steps ran: more steps
/// than the cap, in fewer loop iterations than it.
#[test]
fn fma_chains_run_every_step_past_lavapipes_loop_cap() {
    let gpu = gpu();
    let (n, chains, iters, b) = (70usize, 2u32, 16 * 4_200 + 5, 1.0 / 1024.0);
    let out = gpu.zeros(n, DType::F32).unwrap();
    let d = probe::fma_chains(gpu, chains, iters, 1.0, b as f32, &out).unwrap();
    gpu.run(&[&d]).unwrap();
    let y: Vec<f32> = gpu.download(&out).unwrap();
    let want = cpu::fma_chains(n, chains, iters, 1.0, b);
    assert_close("fma_chains exact", &y, &want, 0.0, 0.0);
    // The hand count for invocation 0: 8 lanes start at lane / 32 and gain iters / 1024 each.
    let hand = (0..8).map(|l| l as f64 / 32.0).sum::<f64>() + 8.0 * iters as f64 / 1024.0;
    assert_eq!(want[0], hand);
}

/// A hand check of the twin: one chain, one iteration, invocation 0: lanes start at
/// 0, 1/32, 2/32, 3/32 and each becomes 0.999 x + 0.001, so the sum is 0.999 * 6/32 + 0.004.
#[test]
fn fma_twin_matches_hand_computation() {
    let a = probe::FMA_A as f64;
    let b = probe::FMA_B as f64;
    let want = a * 6.0 / 32.0 + 4.0 * b;
    let got = cpu::fma_peak(1, 1, 1)[0];
    assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    assert_eq!(
        probe::fma_flops(10, 8, 1024),
        10.0 * 8.0 * 4.0 * 2.0 * 1024.0
    );
}

#[test]
fn bad_probe_arguments_are_errors() {
    let gpu = gpu();
    let a = gpu.zeros(8, DType::F32).unwrap();
    let a2 = gpu.zeros(8, DType::F32).unwrap();
    let b = gpu.zeros(9, DType::F32).unwrap();
    let u = gpu.zeros(8, DType::U32).unwrap();
    let shape_err = |r: shadergrad::Result<_>| matches!(r, Err(Error::Shape(_)));
    assert!(shape_err(probe::copy_vec4(gpu, &a, &b, 64, 1)));
    assert!(shape_err(probe::copy_vec4(gpu, &a, &u, 64, 1)));
    assert!(shape_err(probe::copy_vec4(gpu, &a, &a2, 60, 1)));
    assert!(shape_err(probe::copy_vec4(gpu, &a, &a2, 64, 0)));
    assert!(shape_err(probe::copy_vec4(gpu, &a, &a2, 1 << 20, 1)));
    assert!(shape_err(probe::fma_peak(gpu, 0, 4, &a)));
    assert!(shape_err(probe::fma_peak(gpu, 9, 4, &a)));
    assert!(shape_err(probe::fma_peak(gpu, 2, 4, &u)));
    assert!(shape_err(probe::fma_peak(
        gpu,
        2,
        probe::FMA_MAX_ITERS + 1,
        &a
    )));
    assert!(probe::fma_peak(gpu, 2, probe::FMA_MAX_ITERS, &a).is_ok());
}
