//! The runtime itself: round trips, views into arenas, limits and shape errors, grid folding.
mod common;
use common::*;
use shadergrad::kernels::elementwise::{self, Unary};
use shadergrad::{DType, Error};

#[test]
fn upload_download_round_trips_every_dtype() {
    let gpu = gpu();
    let f: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
    assert_eq!(gpu.download::<f32>(&gpu.upload(&f).unwrap()).unwrap(), f);
    let u: Vec<u32> = (0..5).map(|i| i * 1_000_003).collect();
    assert_eq!(gpu.download::<u32>(&gpu.upload(&u).unwrap()).unwrap(), u);
    let h: Vec<half::f16> = (0..3)
        .map(|i| half::f16::from_f32(i as f32 / 3.0))
        .collect();
    assert_eq!(
        gpu.download::<half::f16>(&gpu.upload(&h).unwrap()).unwrap(),
        h
    );
    assert!(gpu
        .download::<f32>(&gpu.zeros(0, DType::F32).unwrap())
        .unwrap()
        .is_empty());
}

#[test]
fn recycled_buffers_come_back_zeroed() {
    let gpu = gpu();
    drop(gpu.upload(&vec![7.0f32; 1000]).unwrap());
    let z = gpu.zeros(1000, DType::F32).unwrap();
    assert!(gpu.download::<f32>(&z).unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn kernels_read_and_write_views_of_an_arena() {
    let gpu = gpu();
    let align = gpu.limits.min_storage_buffer_offset_alignment as usize / 4;
    let arena = gpu.upload(&vec![-1.0f32; 4 * align]).unwrap();
    let x = gpu.view(&arena, align, 5).unwrap();
    let y = gpu.view(&arena, 2 * align, 5).unwrap();
    gpu.write(&x, &[-2.0f32, -1.0, 0.0, 1.0, 2.0]).unwrap();
    // x and y are different ranges of one buffer: ReLU would read one and write the other,
    // binding the arena read-only and read-write at once, which wgpu refuses. That must be a
    // clear error when the dispatch is built, not a validation failure at submit.
    match elementwise::unary(gpu, Unary::Relu, &x, &y) {
        Err(Error::Shape(msg)) => assert!(msg.contains("buffer of its own"), "{msg}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("aliased input/output accepted"),
    }
    // A separate output buffer always works, and the rest of the arena is untouched.
    let out = gpu.zeros(5, DType::F32).unwrap();
    gpu.run(&[&elementwise::unary(gpu, Unary::Relu, &x, &out).unwrap()])
        .unwrap();
    assert_eq!(
        gpu.download::<f32>(&out).unwrap(),
        vec![0.0, 0.0, 0.0, 1.0, 2.0]
    );
    let all = gpu.download::<f32>(&arena).unwrap();
    assert_eq!(all[0], -1.0);
    assert_eq!(all[align + 5], -1.0);
}

#[test]
fn misaligned_or_out_of_range_views_are_errors() {
    let gpu = gpu();
    let arena = gpu.zeros(1024, DType::F32).unwrap();
    assert!(matches!(gpu.view(&arena, 1, 4), Err(Error::Shape(_))));
    assert!(matches!(gpu.view(&arena, 1000, 100), Err(Error::Shape(_))));
}

#[test]
fn oversized_allocation_is_a_limit_error_not_a_panic() {
    let gpu = gpu();
    let too_many = (gpu.limits.max_storage_buffer_binding_size as usize / 4) + 1024;
    match gpu.zeros(too_many, DType::F32) {
        Err(Error::Limit(msg)) => assert!(msg.contains("smaller batch"), "{msg}"),
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(_) => panic!("allocation past the adapter limit succeeded"),
    }
}

#[test]
fn length_mismatch_is_a_shape_error() {
    let gpu = gpu();
    let x = gpu.zeros(10, DType::F32).unwrap();
    let y = gpu.zeros(11, DType::F32).unwrap();
    assert!(matches!(
        elementwise::unary(gpu, Unary::Relu, &x, &y),
        Err(Error::Shape(_))
    ));
    assert!(matches!(gpu.write(&x, &[1.0f32; 3]), Err(Error::Shape(_))));
    assert!(matches!(gpu.download::<u32>(&x), Err(Error::Shape(_))));
}

#[test]
fn grids_fold_past_the_per_dimension_limit() {
    let gpu = gpu();
    let max = gpu.limits.max_compute_workgroups_per_dimension as u64;
    assert_eq!(gpu.grid(5).unwrap(), [5, 1, 1]);
    let [x, y, z] = gpu.grid(max + 1).unwrap();
    assert_eq!((x as u64, y, z), (max, 2, 1));
    assert!(x as u64 * y as u64 * z as u64 > max);
    assert!(matches!(
        gpu.grid(max * max * max + 1),
        Err(Error::Limit(_))
    ));
}

#[test]
fn a_freed_buffer_bound_by_a_pending_dispatch_is_not_recycled() {
    // Regression: a Dispatch did not keep its buffers out of the pool, so an input dropped
    // before `run` could be handed to (and cleared by) the next allocation of its size.
    let gpu = gpu();
    let n = 4099;
    let out = gpu.zeros(n, DType::F32).unwrap();
    let d = {
        let x = gpu.upload(&vec![3.0f32; n]).unwrap();
        elementwise::unary(gpu, Unary::Relu, &x, &out).unwrap()
    }; // x dropped here: its allocation sits in the pool, still bound by `d`
    let other = gpu.zeros(n, DType::F32).unwrap(); // same size: must not reuse x's buffer
    gpu.run(&[&d]).unwrap();
    assert!(gpu.download::<f32>(&out).unwrap().iter().all(|&v| v == 3.0));
    drop((d, other));
}

#[test]
fn copy_moves_a_view_between_buffers_in_queue_order() {
    let gpu = gpu();
    let align = gpu.limits.min_storage_buffer_offset_alignment as usize / 4;
    let arena = gpu.upload(&vec![-1.0f32; 3 * align]).unwrap();
    let src = gpu.view(&arena, align, 5).unwrap();
    gpu.write(&src, &[1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let dst = gpu.zeros(5, DType::F32).unwrap();
    gpu.copy(&src, &dst).unwrap();
    // A later write to the source must not reach the copy already queued before it.
    gpu.write(&src, &[9.0f32; 5]).unwrap();
    assert_eq!(
        gpu.download::<f32>(&dst).unwrap(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0]
    );
    let short = gpu.zeros(4, DType::F32).unwrap();
    assert!(matches!(gpu.copy(&src, &short), Err(Error::Shape(_))));
}
