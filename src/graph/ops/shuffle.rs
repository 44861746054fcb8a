//! Row shuffling as a graph op: y[i] = x[perm[i]] with a fresh random permutation of the
//! batch every step, drawn on the GPU (Deep InfoMax's negatives: features of one image paired
//! with the code of another).
//!
//! The permutation is a pure function of (seed, step, B, kind) (kernels::shuffle): a run is
//! reproducible and resumable at any step. Each shuffle op of a graph mixes its index among
//! the graph's shuffle ops into the seed, so two ops never draw the same permutations.
//! Derivative: d y[i, c] / d x[j, c] = [perm[i] == j], so dx[perm[i]] = dy[i] (a scatter with
//! no collisions, perm being a permutation).
//! Shapes: x, y [B, ...] (rows of F = prod(rest) values); perm [B] u32; sort keys [2B] u32.

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::shuffle::{self, PermKind, MAX_PERMUTATION_B};
use crate::{Error, Result};

/// The seed the `stream`-th shuffle op of a graph draws from: the given seed for the first,
/// then steps of the 64-bit golden ratio (distinct for every stream).
pub fn stream_seed(seed: u64, stream: u32) -> u64 {
    seed.wrapping_add((stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Graph {
    /// Rows of x permuted by a new random permutation (or derangement: no row stays in
    /// place) each step.
    pub fn shuffle_rows(&mut self, x: T, kind: PermKind, seed: u64) -> Result<T> {
        let (rows, _) = self.info(x).rows_cols();
        if self.shape(x).is_empty() || self.info(x).is_empty() {
            return Err(Error::Shape(format!(
                "shuffle_rows: x {:?} has no rows to shuffle",
                self.shape(x)
            )));
        }
        if kind == PermKind::Derangement && rows < 2 {
            return Err(Error::Shape(format!(
                "shuffle_rows: a derangement of {rows} row is impossible (the row would pair \
                 with itself); use a batch of at least 2"
            )));
        }
        if rows > MAX_PERMUTATION_B {
            return Err(Error::Limit(format!(
                "shuffle_rows: {rows} rows exceed the {MAX_PERMUTATION_B} the GPU permutation \
                 supports; use a smaller batch"
            )));
        }
        let stream = self
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::ShuffleRows { .. }))
            .count() as u32;
        let op = Op::ShuffleRows { kind, seed, stream };
        let shape = self.shape(x).to_vec();
        let y = self.push(op, &[x], &[("", shape), (".perm", vec![rows])]);
        self.set_u32(self.nodes.last().unwrap().outputs[1]);
        Ok(y)
    }
}

pub(crate) fn forward(
    lw: &mut Lowering,
    n: &Node,
    kind: PermKind,
    seed: u64,
    stream: u32,
) -> Result<()> {
    let (x, y, perm) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let (rows, f) = lw.g.info(x).rows_cols();
    let seed = stream_seed(seed, stream);
    let keys = lw.scratch_u32(
        "permutation sort keys",
        &[shuffle::permutation_scratch_len(rows)],
    );
    lw.emit(
        Instr::new(
            format!("{kind:?} permutation of {rows} rows"),
            &[],
            &[perm, keys],
            move |gpu, b| shuffle::permutation(gpu, b(perm), b(keys), seed, 0, kind),
        )
        .with_per_step(move |gpu, d, step| {
            let p = shuffle::permutation_params(rows, seed, step, kind);
            for dispatch in d {
                gpu.set_params(dispatch, &p);
            }
        }),
    );
    lw.emit(Instr::new(
        "shuffle rows",
        &[perm, x],
        &[y],
        move |gpu, b| one(shuffle::gather(gpu, b(perm), b(x), b(y), rows, f)),
    ));
    Ok(())
}

pub(crate) fn backward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (x, y, perm) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let (rows, f) = lw.g.info(x).rows_cols();
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let Some((dx, acc)) = lw.grad_target(x) else {
        return Ok(());
    };
    lw.emit(Instr::new(
        "shuffle rows backward",
        &[perm, dy],
        &[dx],
        move |gpu, b| {
            one(shuffle::gather_backward(
                gpu,
                b(perm),
                b(dy),
                b(dx),
                rows,
                f,
                acc,
            ))
        },
    ));
    Ok(())
}
