//! Reduce family vs its f64 twin: sums and means over rows, columns and in full, their
//! backward, accumulation, multi-level (scratch) reductions, folded grids and bad input.
//!
//! Shapes: x [R, C]; y [C] / [R] / [1] by axis.
mod common;
use common::*;
use shadergrad::kernels::reduce::{self, cpu, reduce_scratch_len, Axis, Op, ReduceSpec};
use shadergrad::{Buf, DType};

const AXES: [Axis; 3] = [Axis::Rows, Axis::Cols, Axis::All];
const OPS: [Op; 2] = [Op::Sum, Op::Mean];

fn scratch_for(spec: &ReduceSpec) -> Buf {
    gpu()
        .zeros(reduce_scratch_len(spec).max(1), DType::F32)
        .unwrap()
}

/// Run the reduction with y starting at `y0`.
fn run(spec: &ReduceSpec, x: &[f32], y0: &[f32], accumulate: bool) -> Vec<f32> {
    let gpu = gpu();
    let xb = gpu.upload(x).unwrap();
    let yb = gpu.upload(y0).unwrap();
    let s = scratch_for(spec);
    let ds = reduce::reduce(gpu, spec, &xb, &yb, &s, accumulate).unwrap();
    gpu.run(&ds.iter().collect::<Vec<_>>()).unwrap();
    gpu.download(&yb).unwrap()
}

/// A sum's rounding error scales with the sum of |x|, not with |sum| (which may cancel to ~0):
/// allow 1e-5 of the reference computed on |x|.
fn assert_reduced(what: &str, spec: &ReduceSpec, x: &[f32], got: &[f32], offset: &[f64]) {
    let xf = to_f64(x);
    let want = cpu::reduce(spec, &xf);
    let abs = cpu::reduce(spec, &xf.iter().map(|v| v.abs()).collect::<Vec<_>>());
    for (o, (&g, (&w, &a))) in got.iter().zip(want.iter().zip(&abs)).enumerate() {
        let w = w + offset[o];
        let allowed = 1e-5 * (a + offset[o].abs()) + 1e-30;
        assert!(
            (g as f64 - w).abs() <= allowed && g.is_finite(),
            "{what}: y[{o}] = {g}, f64 says {w} (allowed error {allowed})"
        );
    }
}

#[test]
fn reductions_match_f64_at_awkward_sizes() {
    let mut rng = rng();
    // [1, 1], single row/column, the Linear bias shape, not multiples of 64, and shapes whose
    // reduced length passes 1024 (two levels) along each axis.
    let shapes = [
        (1, 1),
        (1, 7),
        (7, 1),
        (128, 400),
        (37, 65),
        (1500, 3),
        (3, 2500),
        (1, 1025),
    ];
    for (r, c) in shapes {
        let x = uniform(&mut rng, r * c, -1.0, 1.0);
        for axis in AXES {
            for op in OPS {
                let spec = ReduceSpec::new(r, c, axis, op);
                let n = spec.out_len();
                let y = run(&spec, &x, &vec![f32::NAN; n], false);
                let what = format!("{op:?} over {axis:?} of [{r}, {c}]");
                assert_reduced(&what, &spec, &x, &y, &vec![0.0; n]);
            }
        }
    }
}

#[test]
fn accumulate_adds_and_write_ignores_old_nan() {
    let mut rng = rng();
    for axis in AXES {
        for (r, c) in [(128, 400), (2100, 5)] {
            let spec = ReduceSpec::new(r, c, axis, Op::Sum);
            let n = spec.out_len();
            let x = uniform(&mut rng, r * c, -1.0, 1.0);
            let y0 = uniform(&mut rng, n, -3.0, 3.0);
            let y = run(&spec, &x, &y0, true);
            assert_reduced(
                &format!("accumulate {axis:?} [{r}, {c}]"),
                &spec,
                &x,
                &y,
                &to_f64(&y0),
            );
            // Writing must not propagate the NaN already in y (the select in put_y).
            let y = run(&spec, &x, &vec![f32::NAN; n], false);
            assert_reduced(
                &format!("write {axis:?} [{r}, {c}]"),
                &spec,
                &x,
                &y,
                &vec![0.0; n],
            );
        }
    }
}

#[test]
fn large_reductions_keep_1e5_through_several_levels() {
    let mut rng = rng();
    // Full sum over ~5M (three levels: 5M -> 4883 -> 5 -> 1) and a column sum of a tall matrix
    // (1.2M rows: two levels of partials). Inputs in [0, 1): no cancellation, so plain 1e-5
    // relative holds against f64; a serial f32 loop would be off by ~1e-3 here.
    for (r, c, axis) in [(5_000_003, 1, Axis::All), (1_200_001, 3, Axis::Rows)] {
        for op in OPS {
            let spec = ReduceSpec::new(r, c, axis, op);
            assert!(reduce_scratch_len(&spec) > 0);
            let x = uniform(&mut rng, r * c, 0.0, 1.0);
            let y = run(&spec, &x, &vec![0.0; spec.out_len()], false);
            let want = cpu::reduce(&spec, &to_f64(&x));
            assert_close(&format!("{op:?} {axis:?} [{r}, {c}]"), &y, &want, 1e-5, 0.0);
        }
    }
}

#[test]
fn many_outputs_fold_the_grid_past_65535_workgroups() {
    let gpu = gpu();
    let mut rng = rng();
    // 4.5M outputs of one element each: 70,313 workgroups of 64, folded into y.
    let n = 4_500_001;
    let x = uniform(&mut rng, n, -1.0, 1.0);
    for (r, c, axis) in [(n, 1, Axis::Cols), (1, n, Axis::Rows)] {
        let spec = ReduceSpec::new(r, c, axis, Op::Mean);
        let y = run(&spec, &x, &vec![0.0; n], false);
        assert_close(&format!("{axis:?} [{r}, {c}]"), &y, &to_f64(&x), 1e-6, 0.0);
    }
    // Backward of the full sum over the same 4.5M elements.
    let spec = ReduceSpec::new(n, 1, Axis::All, Op::Mean);
    let dyb = gpu.upload(&[3.0f32]).unwrap();
    let dxb = gpu.zeros(n, DType::F32).unwrap();
    let d = reduce::reduce_backward(gpu, &spec, &dyb, &dxb, false).unwrap();
    assert!(
        d.groups[1] > 1,
        "expected a folded grid, got {:?}",
        d.groups
    );
    gpu.run(&[&d]).unwrap();
    let dx: Vec<f32> = gpu.download(&dxb).unwrap();
    assert_close(
        "mean backward 4.5M",
        &dx,
        &cpu::reduce_backward(&spec, &[3.0]),
        1e-6,
        0.0,
    );
}

#[test]
fn backward_twin_passes_gradcheck_and_gpu_matches_it() {
    let gpu = gpu();
    let mut rng = rng();
    for (r, c) in [(1, 1), (3, 5), (70, 9)] {
        for axis in AXES {
            for op in OPS {
                let spec = ReduceSpec::new(r, c, axis, op);
                let what = format!("{op:?} over {axis:?} of [{r}, {c}]");
                let x = to_f64(&uniform(&mut rng, r * c, -1.0, 1.0));
                let dy = uniform(&mut rng, spec.out_len(), -1.0, 1.0);
                let dx_ref = cpu::reduce_backward(&spec, &to_f64(&dy));
                if r * c <= 15 {
                    let f = |x: &[f64]| cpu::reduce(&spec, x);
                    gradcheck(&what, f, &x, &to_f64(&dy), &dx_ref, 1e-4, 1e-7);
                }
                // GPU: write over NaN, then accumulate onto the written value (2 * dx).
                let dyb = gpu.upload(&dy).unwrap();
                let dxb = gpu.upload(&vec![f32::NAN; r * c]).unwrap();
                let w = reduce::reduce_backward(gpu, &spec, &dyb, &dxb, false).unwrap();
                let a = reduce::reduce_backward(gpu, &spec, &dyb, &dxb, true).unwrap();
                gpu.run(&[&w]).unwrap();
                let dx: Vec<f32> = gpu.download(&dxb).unwrap();
                assert_close(&what, &dx, &dx_ref, 1e-6, 0.0);
                gpu.run(&[&a]).unwrap();
                let dx: Vec<f32> = gpu.download(&dxb).unwrap();
                let twice: Vec<f64> = dx_ref.iter().map(|v| 2.0 * v).collect();
                assert_close(&format!("{what} accumulate"), &dx, &twice, 1e-6, 0.0);
            }
        }
    }
}

/// Regression for a lavapipe quirk: llvmpipe ends a shader's loops after 65,535 iterations in
/// total per invocation, silently. A single invocation summing 200k ones would return ~65k;
/// bounded chunks give exactly 200000 (integers below 2^24 add exactly in f32).
#[test]
fn long_reductions_stay_under_lavapipe_loop_limit() {
    let n = 200_000;
    for (r, c, axis) in [(1, n, Axis::All), (n, 1, Axis::Rows), (1, n, Axis::Cols)] {
        let spec = ReduceSpec::new(r, c, axis, Op::Sum);
        let y = run(&spec, &vec![1.0; n], &[0.0], false);
        assert_eq!(y, [n as f32], "{axis:?} [{r}, {c}]");
    }
}

#[test]
fn results_are_bitwise_reproducible() {
    let mut rng = rng();
    let spec = ReduceSpec::new(300_001, 7, Axis::Rows, Op::Sum);
    let x = uniform(&mut rng, 300_001 * 7, -1.0, 1.0);
    let a = run(&spec, &x, &[0.0; 7], false);
    let b = run(&spec, &x, &[0.0; 7], false);
    assert_eq!(a, b);
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let z = |n| gpu.zeros(n, DType::F32).unwrap();
    let (x, y3, y4) = (z(12), z(3), z(4));
    let s = z(1);
    let spec = ReduceSpec::new(4, 3, Axis::Rows, Op::Sum);
    assert!(reduce::reduce(gpu, &spec, &x, &y3, &s, false).is_ok());
    assert!(
        reduce::reduce(gpu, &spec, &x, &y4, &s, false).is_err(),
        "y too long"
    );
    assert!(
        reduce::reduce(gpu, &spec, &y4, &y3, &s, false).is_err(),
        "x too short"
    );
    let empty = ReduceSpec::new(0, 3, Axis::Rows, Op::Sum);
    assert!(
        reduce::reduce(gpu, &empty, &y3, &y3, &s, false).is_err(),
        "no rows"
    );
    // Two levels need scratch: too small, or aliasing x, is refused.
    let big = ReduceSpec::new(2000, 1, Axis::All, Op::Mean);
    let (xb, yb) = (z(2000), z(1));
    assert!(
        reduce::reduce(gpu, &big, &xb, &yb, &s, false).is_err(),
        "scratch too small"
    );
    assert!(
        reduce::reduce(gpu, &big, &xb, &yb, &xb, false).is_err(),
        "scratch is x"
    );
    assert!(reduce::reduce(gpu, &big, &xb, &yb, &z(2), false).is_ok());
    assert!(
        reduce::reduce_backward(gpu, &spec, &y4, &x, false).is_err(),
        "dy too long"
    );
    assert!(
        reduce::reduce_backward(gpu, &spec, &y3, &y4, false).is_err(),
        "dx too short"
    );
    assert!(reduce::reduce_backward(gpu, &spec, &y3, &x, true).is_ok());
}
