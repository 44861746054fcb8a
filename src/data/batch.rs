//! Batching: a per-epoch shuffled order derived from (seed, epoch), so a resumed run sees the
//! same batches as an unbroken one, and gathering rows into a reusable host buffer.
//!
//! Shapes: rows [n, width] row-major; a batch is [b, width].

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// The order of the rows 0..n for `epoch` of a run seeded with `seed`.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    // A distinct stream per epoch; the golden-ratio constant spreads nearby epochs apart.
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// Copy rows `idx` of `rows` (each `width` long) into `out` (resized to idx.len() * width).
pub fn gather_rows<T: Copy + Default>(rows: &[T], width: usize, idx: &[u32], out: &mut Vec<T>) {
    out.resize(idx.len() * width, T::default());
    for (dst, &i) in out.chunks_exact_mut(width).zip(idx) {
        let i = i as usize;
        dst.copy_from_slice(&rows[i * width..(i + 1) * width]);
    }
}

/// Full batches of an epoch's order (the last partial batch is dropped, as
/// `drop_last=True`, so every step has the same shapes).
pub fn batches(order: &[u32], batch: usize) -> impl Iterator<Item = &[u32]> {
    order.chunks_exact(batch)
}
