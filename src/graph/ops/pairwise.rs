//! Batch-level ops on sets of rows: the Kozachenko-Leonenko k-NN entropy estimate (entropic
//! autoencoder), MMD^2 between two sample sets (InfoVAE), and fresh N(0, I) draws (prior
//! samples for the MMD).
//!
//! Shapes: z, a [n, d]; b [m, d]; eps, idx [n] (idx u32); entropy and mmd [1]; normal: any.
//!
//! knn_entropy is composed: one `Op::Knn` node (eps_i = distance from row i to its k-th
//! nearest other row, and that row's index) followed by existing pointwise and reduction ops,
//!   H = (d/n) sum_i log(eps_i + LOG_FLOOR) + log B_d + psi(n) - psi(k),
//! so its gradient is dH/deps_i = (d/n) / (eps_i + LOG_FLOOR) through those ops' rules, then
//! the kNN backward (see `knn_backward`).

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::elementwise::{self as ew, Unary};
use crate::kernels::pairwise::{self as pw, MmdEstimator, PairKernel};
use crate::kernels::random::{self, Dist, Rng};
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::{DType, Error, Result};

/// Added to every k-NN distance before its log, so a duplicate row (eps = 0, e.g. two equal
/// latent codes) gives log(1e-6) = -13.8 instead of -inf (an infinite loss). Latents here are
/// batch-normalised (unit scale): real k-NN distances in a batch of up to a few thousand rows
/// are >= 1e-3 in d >= 2, where the shift is log(1 + 1e-6 / eps) <= 1e-3 nats per row. The
/// derivative 1 / (eps + floor) stays finite; at eps = 0 itself the kNN backward gives the
/// pair's subgradient 0.
pub const LOG_FLOOR: f32 = 1e-6;

/// Philox streams of `normal` draws: this bit plus the op's index among the graph's normal
/// ops. `gaussian_head` numbers its streams 0, 1, ... from the bottom, so the two never meet.
pub const NORMAL_STREAM_BASE: u32 = 1 << 31;

/// digamma(n) for an integer n >= 1: -gamma + sum_{j < n} 1/j.
pub fn digamma_int(n: usize) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    -EULER_GAMMA + (1..n).map(|j| 1.0 / j as f64).sum::<f64>()
}

/// log B_d, B_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the unit d-ball. Gamma at integers
/// and half-integers is a finite product: Gamma(m + 1) = m!, Gamma(m + 3/2) = sqrt(pi) prod
/// (j + 1/2), so no general lgamma is needed.
pub fn log_unit_ball_volume(d: usize) -> f64 {
    let pi = std::f64::consts::PI;
    let ln_gamma = if d.is_multiple_of(2) {
        (1..=d / 2).map(|j| (j as f64).ln()).sum::<f64>()
    } else {
        0.5 * pi.ln()
            + (0..=(d - 1) / 2)
                .map(|j| (j as f64 + 0.5).ln())
                .sum::<f64>()
    };
    0.5 * d as f64 * pi.ln() - ln_gamma
}

/// The constant of the Kozachenko-Leonenko estimate: log B_d + psi(n) - psi(k).
pub fn knn_entropy_const(n: usize, d: usize, k: usize) -> f64 {
    log_unit_ball_volume(d) + digamma_int(n) - digamma_int(k)
}

/// The entropy of N(0, I_d): (d/2) log(2 pi e).
pub fn gaussian_entropy(d: usize) -> f64 {
    0.5 * d as f64 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln()
}

/// InfoVAE's Gaussian kernel exp(-||x - y||^2 / d) for d-dimensional codes (the paper's
/// bandwidth 2 sigma^2 = d; its reference code divides by d^2, a wider kernel).
pub fn gaussian_kernel(d: usize) -> PairKernel {
    PairKernel::Gaussian { s: d as f32 }
}

/// The inverse multiquadric C / (C + ||x - y||^2) with C = 2 d (the WAE paper's choice for a
/// N(0, I_d) prior, sigma = 1).
pub fn imq_kernel(d: usize) -> PairKernel {
    PairKernel::Imq { c: 2.0 * d as f32 }
}

impl Graph {
    /// eps [n]: the distance from each row of z [n, d] to its k-th nearest other row, and
    /// idx [n] (u32) that row. Gradient flows to z through both ends of each pair.
    pub fn knn(&mut self, z: T, k: usize) -> Result<(T, T)> {
        let (n, _) = self.matrix("knn z", z)?;
        if k == 0 || k >= n || k > pw::KNN_MAX_K {
            return Err(Error::Shape(format!(
                "knn: k = {k} must satisfy 1 <= k < n = {n} (self is excluded) and k <= {}",
                pw::KNN_MAX_K
            )));
        }
        let eps = self.push(Op::Knn { k }, &[z], &[("", vec![n]), (".idx", vec![n])]);
        let idx = self.nodes.last().unwrap().outputs[1];
        self.tensors[idx.0].dtype = DType::U32;
        self.needs_grad[idx.0] = false;
        Ok((eps, idx))
    }

    /// Scalar Kozachenko-Leonenko entropy estimate of the rows of z [n, d] (nats):
    /// H = (d/n) sum_i log(eps_k(i) + LOG_FLOOR) + log B_d + psi(n) - psi(k).
    pub fn knn_entropy(&mut self, z: T, k: usize) -> Result<T> {
        let (n, d) = self.matrix("knn_entropy z", z)?;
        let (eps, _) = self.knn(z, k)?;
        let shifted = self.unary(Unary::AddScalar(LOG_FLOOR), eps);
        let logs = self.unary(Unary::Log, shifted);
        let sum = self.reduce(logs, Axis::All, ReduceOp::Sum);
        let scaled = self.scale(sum, d as f32 / n as f32);
        let c = knn_entropy_const(n, d, k) as f32;
        Ok(self.unary(Unary::AddScalar(c), scaled))
    }

    /// Scalar MMD^2 (V-statistic: mean k(a, a) + mean k(b, b) - 2 mean k(a, b)) between the
    /// rows of a [n, d] and b [m, d]. Gradient to both.
    pub fn mmd(&mut self, a: T, b: T, kernel: PairKernel) -> Result<T> {
        let (_, d) = self.matrix("mmd a", a)?;
        let (_, db) = self.matrix("mmd b", b)?;
        if d != db {
            return Err(Error::Shape(format!(
                "mmd: a has {d} features per row, b has {db}; they must match"
            )));
        }
        if a == b {
            return Err(Error::Shape(
                "mmd of a tensor with itself is 0; pass two sample sets".into(),
            ));
        }
        let (PairKernel::Gaussian { s: v } | PairKernel::Imq { c: v }) = kernel;
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::Config(format!(
                "mmd: {kernel:?} needs a positive finite scale"
            )));
        }
        Ok(self.push(Op::Mmd(kernel), &[a, b], &[("", vec![1])]))
    }

    /// Fresh N(0, I) samples of `shape` every step, drawn on the GPU from Philox keyed by
    /// (seed, step, this op's stream). No gradient.
    pub fn normal(&mut self, shape: &[usize], seed: u64) -> T {
        self.draw(Dist::Normal, shape, seed)
    }

    /// Fresh U[0, 1) samples of `shape` every step, like `normal`.
    pub fn uniform(&mut self, shape: &[usize], seed: u64) -> T {
        self.draw(Dist::Uniform, shape, seed)
    }

    fn draw(&mut self, dist: Dist, shape: &[usize], seed: u64) -> T {
        // Each draw op has its own stream, so two draws with one seed differ.
        let stream = NORMAL_STREAM_BASE
            + self
                .nodes
                .iter()
                .filter(|n| matches!(n.op, Op::Draw { .. }))
                .count() as u32;
        self.push(
            Op::Draw { dist, seed, stream },
            &[],
            &[("", shape.to_vec())],
        )
    }
}

pub(crate) fn knn_forward(lw: &mut Lowering, n: &Node, k: usize) -> Result<()> {
    let (z, eps, idx) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let d = lw.g.shape(z)[1];
    lw.emit(Instr::new(
        format!("knn k={k}"),
        &[z],
        &[eps, idx],
        move |gpu, b| one(pw::knn(gpu, b(z), d, k, b(eps), b(idx))),
    ));
    Ok(())
}

/// With j = idx_i: d eps_i/d z_i = (z_i - z_j) / eps_i, d eps_i/d z_j = -(z_i - z_j) / eps_i.
pub(crate) fn knn_backward(lw: &mut Lowering, n: &Node) -> Result<()> {
    let (z, eps, idx) = (n.inputs[0], n.outputs[0], n.outputs[1]);
    let Some(deps) = lw.grad_of(eps) else {
        return Ok(());
    };
    let Some((dz, acc)) = lw.grad_target(z) else {
        return Ok(());
    };
    let d = lw.g.shape(z)[1];
    lw.emit(Instr::new(
        "knn backward",
        &[z, eps, idx, deps],
        &[dz],
        move |gpu, b| {
            one(pw::knn_backward(
                gpu,
                b(z),
                d,
                b(eps),
                b(idx),
                b(deps),
                b(dz),
                acc,
            ))
        },
    ));
    Ok(())
}

pub(crate) fn mmd_forward(lw: &mut Lowering, n: &Node, kern: PairKernel) -> Result<()> {
    let (a, b_, out) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let (rows_a, d) = lw.g.info(a).rows_cols();
    let rows_b = lw.g.shape(b_)[0];
    let scratch = lw.scratch("mmd row sums", &[pw::mmd_scratch_len(rows_a, rows_b)]);
    lw.emit(Instr::new(
        "mmd",
        &[a, b_],
        &[out, scratch],
        move |gpu, b| {
            pw::mmd(
                gpu,
                kern,
                MmdEstimator::Biased,
                b(a),
                b(b_),
                d,
                b(scratch),
                b(out),
            )
        },
    ));
    Ok(())
}

/// With k' = dk/dD and D_xy = ||x - y||^2 (the kernel twin holds the sums):
///   dMMD/da_i = 2/n^2 sum_j k'(D(a_i, a_j)) 2 (a_i - a_j)
///             - 2/(n m) sum_j k'(D(a_i, b_j)) 2 (a_i - b_j)
/// and symmetrically for b. The kernel takes one accumulate flag for da and db, and computes
/// db only alongside da: when only b needs a gradient, a and b swap (MMD^2 is symmetric);
/// when the flags differ, the accumulating gradient goes to a scratch and is added after.
pub(crate) fn mmd_backward(lw: &mut Lowering, n: &Node, kern: PairKernel) -> Result<()> {
    let (a, b_, out) = (n.inputs[0], n.inputs[1], n.outputs[0]);
    let Some(dout) = lw.grad_of(out) else {
        return Ok(());
    };
    let d = lw.g.info(a).rows_cols().1;
    let (ta, tb) = (lw.grad_target(a), lw.grad_target(b_));
    // (x, y, dx target, optional dy target)
    let (x, y, (dx, acc_x), dy) = match (ta, tb) {
        (None, None) => return Ok(()),
        (Some(ga), None) => (a, b_, ga, None),
        (None, Some(gb)) => (b_, a, gb, None),
        (Some(ga), Some(gb)) => (a, b_, ga, Some(gb)),
    };
    let (nx, ny) = (lw.g.shape(x)[0], lw.g.shape(y)[0]);
    let scratch = lw.scratch(
        "mmd backward weights",
        &[pw::mmd_backward_scratch_len(nx, ny)],
    );
    let mut redirect = None;
    let (dx_out, dy_out, acc) = match dy {
        None => (dx, None, acc_x),
        Some((dy, acc_y)) if acc_y == acc_x => (dx, Some(dy), acc_x),
        Some((dy, acc_y)) => {
            let shape = lw.g.shape(if acc_x { x } else { y }).to_vec();
            let tmp = lw.scratch("mmd grad (to add)", &shape);
            if acc_x {
                redirect = Some((tmp, dx));
                (tmp, Some(dy), acc_y)
            } else {
                redirect = Some((tmp, dy));
                (dx, Some(tmp), acc_x)
            }
        }
    };
    let mut writes = vec![dx_out, scratch];
    writes.extend(dy_out);
    lw.emit(Instr::new(
        "mmd backward",
        &[x, y, dout],
        &writes,
        move |gpu, b| {
            pw::mmd_backward(
                gpu,
                kern,
                MmdEstimator::Biased,
                b(x),
                b(y),
                d,
                b(dout),
                b(scratch),
                b(dx_out),
                dy_out.map(b),
                acc,
            )
        },
    ));
    if let Some((tmp, dst)) = redirect {
        lw.emit(Instr::new(
            "add to gradient",
            &[tmp, dst],
            &[dst],
            move |gpu, b| one(ew::axpy(gpu, 1.0, b(tmp), b(dst))),
        ));
    }
    Ok(())
}

pub(crate) fn draw_forward(
    lw: &mut Lowering,
    n: &Node,
    dist: Dist,
    seed: u64,
    stream: u32,
) -> Result<()> {
    let out = n.outputs[0];
    let len = lw.g.info(out).len();
    // Step s draws elements s * len .. (s + 1) * len of the stream: fresh every step.
    let rng = move |step: u64| Rng {
        seed,
        offset: step * len as u64,
        stream,
    };
    lw.emit(
        Instr::new(
            format!("{dist:?}").to_lowercase(),
            &[],
            &[out],
            move |gpu, b| one(random::fill(gpu, dist, b(out), rng(0))),
        )
        .with_per_step(move |gpu, d, step| {
            gpu.set_params(&d[0], &random::fill_params(len, rng(step)))
        }),
    );
    Ok(())
}
