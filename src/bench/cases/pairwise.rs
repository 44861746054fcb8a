//! Pairwise cases: squared-distance matrices of a batch of latents (n = 128, d = 20) and of a
//! larger set (n = 1024, d = 64), the EAE's nearest neighbour (k = 1, n = 1024, d = 20), and
//! InfoVAE's MMD^2 between 200 codes and 200 prior samples (d = 20, Gaussian kernel, biased
//! estimator), forward and backward (dx only: the prior samples are not learned).
//!
//! FLOPs: 3 per pair and feature for a squared distance (sub, FMA), over all n^2 pairs (the
//! kernels compute both halves of a symmetric matrix); the kNN list's comparisons are not
//! FLOPs. MMD forward: the x-x, y-y and x-y pairs, each 3 d + 3 (the kernel's scale, exp and
//! row sum). MMD backward: the x-x and x-y pairs twice, weights (3 d + 4) and gradients (3 d).
//! Bytes: inputs once, outputs once (D [n, n]; eps and idx [n]; mmd [1]; dx), not the scratch.

use super::{f32s, out, Case, Data};
use crate::kernels::pairwise::{self as pw, MmdEstimator, PairKernel};
use crate::DType;

fn sqdist(n: usize, d: usize) -> Case {
    Case::new(
        "pairwise sqdist (self)",
        format!("n = {n}, d = {d}"),
        3.0 * (n * n * d) as f64,
        f32s(n * d + n * n),
        move |gpu| {
            let x = Data::new().f32(gpu, n * d, -2.0, 2.0)?;
            let dist = out(gpu, n * n)?;
            let k = pw::sqdist(gpu, &x, &x, d, &dist)?;
            Ok((vec![k], vec![x, dist]))
        },
    )
}

fn knn(n: usize, d: usize, k: usize) -> Case {
    Case::new(
        &format!("pairwise knn k={k}"),
        format!("n = {n}, d = {d}"),
        3.0 * (n * n * d) as f64,
        f32s(n * d + 2 * n),
        move |gpu| {
            let x = Data::new().f32(gpu, n * d, -2.0, 2.0)?;
            let eps = out(gpu, n)?;
            let idx = gpu.zeros(n, DType::U32)?;
            let kd = pw::knn(gpu, &x, d, k, &eps, &idx)?;
            Ok((vec![kd], vec![x, eps, idx]))
        },
    )
}

/// The Gaussian kernel of InfoVAE's reference code: exp(-D / d^2) for the summed D.
fn gaussian(d: usize) -> PairKernel {
    PairKernel::Gaussian { s: (d * d) as f32 }
}

fn mmd(n: usize, m: usize, d: usize) -> [Case; 2] {
    let shape = format!("n = m = {n}, d = {d}");
    let est = MmdEstimator::Biased;
    let fwd_pairs = (n * n + m * m + n * m) as f64;
    let bwd_pairs = (n * n + n * m) as f64;
    let df = d as f64;
    [
        Case::new(
            "pairwise mmd forward",
            shape.clone(),
            fwd_pairs * (3.0 * df + 3.0),
            f32s((n + m) * d + 1),
            move |gpu| {
                let mut data = Data::new();
                let x = data.f32(gpu, n * d, -2.0, 2.0)?;
                let y = data.f32(gpu, m * d, -2.0, 2.0)?;
                let scratch = out(gpu, pw::mmd_scratch_len(n, m))?;
                let o = out(gpu, 1)?;
                let ds = pw::mmd(gpu, gaussian(d), est, &x, &y, d, &scratch, &o)?;
                Ok((ds, vec![x, y, scratch, o]))
            },
        ),
        Case::new(
            "pairwise mmd backward (dx)",
            shape,
            bwd_pairs * (6.0 * df + 4.0),
            f32s(2 * n * d + m * d + 1),
            move |gpu| {
                let mut data = Data::new();
                let x = data.f32(gpu, n * d, -2.0, 2.0)?;
                let y = data.f32(gpu, m * d, -2.0, 2.0)?;
                let dmmd = gpu.upload(&[1.0f32])?;
                let scratch = out(gpu, pw::mmd_backward_scratch_len(n, m))?;
                let dx = out(gpu, n * d)?;
                let k = gaussian(d);
                let ds =
                    pw::mmd_backward(gpu, k, est, &x, &y, d, &dmmd, &scratch, &dx, None, false)?;
                Ok((ds, vec![x, y, dmmd, scratch, dx]))
            },
        ),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    let mut cases = vec![sqdist(128, 20), sqdist(1024, 64), knn(1024, 20, 1)];
    cases.extend(mmd(200, 200, 20));
    cases
}
