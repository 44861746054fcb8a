//! Shuffle cases: the GPU-made derangement of a batch (Deep InfoMax's negatives) at B = 128
//! and 1024, and the row gather that applies it to [128, 256] features.
//!
//! No FLOPs: the permutation ranks B random keys by O(B^2) integer comparisons (invisible to
//! the roofline, see mod.rs), the gather only moves data. Bytes: the permutation writes perm
//! [B] (its keys live in scratch); the gather reads perm and x and writes y.

use super::{f32s, out, Case, Data};
use crate::kernels::shuffle::{self, PermKind};
use crate::DType;

fn permutation(b: usize) -> Case {
    Case::new(
        "shuffle permutation (derangement)",
        format!("B = {b}"),
        0.0,
        f32s(b),
        move |gpu| {
            let perm = gpu.zeros(b, DType::U32)?;
            let scratch = gpu.zeros(shuffle::permutation_scratch_len(b), DType::U32)?;
            let ds = shuffle::permutation(gpu, &perm, &scratch, 7, 0, PermKind::Derangement)?;
            Ok((ds, vec![perm, scratch]))
        },
    )
}

fn gather(b: usize, f: usize) -> Case {
    Case::new(
        "shuffle gather",
        format!("[{b}, {f}]"),
        0.0,
        f32s(2 * b * f + b),
        move |gpu| {
            let x = Data::new().f32(gpu, b * f, -1.0, 1.0)?;
            let y = out(gpu, b * f)?;
            let order = shuffle::cpu::permutation(b, 7, 0, PermKind::Derangement)?;
            let perm = shuffle::upload_permutation(gpu, &order)?;
            let d = shuffle::gather(gpu, &perm, &x, &y, b, f)?;
            Ok((vec![d], vec![perm, x, y]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    vec![permutation(128), permutation(1024), gather(128, 256)]
}
