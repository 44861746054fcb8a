//! The closed set of graph operations. Each variant's builder method, forward lowering and
//! backward rule live together in one file under `ops/`, grouped by family; this file only
//! routes to them.

use crate::graph::builder::Node;
use crate::graph::lower::Lowering;
use crate::graph::ops::conv_transpose::{self, Geometry};
use crate::graph::ops::losses::LossKind;
use crate::graph::ops::norm::BatchNorm;
use crate::graph::ops::{conv, dense, layout, losses, norm, pairwise, pointwise, pool};
use crate::graph::ops::{reduction, shuffle, stochastic};
use crate::kernels::conv::Act;
use crate::kernels::elementwise::{Binary, Unary};
use crate::kernels::pairwise::PairKernel;
use crate::kernels::random::{Dist, Scale};
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::kernels::shuffle::PermKind;
use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// y = f(x) elementwise.
    Unary(Unary),
    /// y = a op b, same shapes.
    Binary(Binary),
    /// y[b, f] = x[b, f] + bias[f].
    AddRowBias,
    /// Sum or mean of a [rows, cols] view of x along an axis.
    Reduce(Axis, ReduceOp),
    /// y = x W^T + b (+ ReLU).
    Linear { relu: bool },
    /// (mu, s) -> (z, kl, eps): reparameterised sample and KL to N(0, I).
    GaussianHead {
        scale: Scale,
        seed: u64,
        stream: u32,
    },
    /// Per-sample loss of (prediction, target).
    Loss(LossKind),
    /// (x, running_mean, running_var[, gamma, beta]) -> (y, mean, var, rstd).
    BatchNorm(BatchNorm),
    /// Mean of softmax over several logits tensors (evaluation only).
    SoftmaxMean,
    /// Per-sample 0/1 argmax == label (evaluation only).
    Correct,
    /// (x, w[, b]) -> act(conv2d(x, w) + b), NCHW.
    Conv2d { stride: usize, pad: usize, act: Act },
    /// (x, w[, b]) -> act(conv_transpose2d(x, w) + b), NCHW.
    ConvTranspose2d(Geometry, Act),
    /// x -> (max over k x k windows at stride k, argmax).
    MaxPool2d { k: usize },
    /// [N, C, H, W] -> [N, C] plane means.
    GlobalAvgPool,
    /// [N, C, H, W] -> ([N, C] plane maxima, argmax).
    GlobalMaxPool,
    /// The same buffer seen with another shape.
    Reshape,
    /// (a, b) -> [a | b] along features.
    ConcatFeatures,
    /// (map, vec) -> map with vec broadcast over H x W appended as channels.
    ConcatMapVec,
    /// x -> (rows of x in a fresh random order each step, the permutation).
    ShuffleRows {
        kind: PermKind,
        seed: u64,
        stream: u32,
    },
    /// z [n, d] -> (eps [n], idx [n] u32): distance to and index of the k-th nearest other row.
    Knn { k: usize },
    /// (a [n, d], b [m, d]) -> MMD^2 [1] (V-statistic).
    Mmd(PairKernel),
    /// () -> draws from `dist` (N(0, 1) or U[0, 1)), fresh every step.
    Draw { dist: Dist, seed: u64, stream: u32 },
    /// The same buffer, cut off from the gradient (stop-gradient).
    Detach,
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => format!("{u:?}").to_lowercase(),
            Op::Binary(b) => format!("{b:?}").to_lowercase(),
            Op::AddRowBias => "add_row_bias".into(),
            Op::Reduce(a, o) => format!("{o:?}_{a:?}").to_lowercase(),
            Op::Linear { relu: true } => "linear_relu".into(),
            Op::Linear { relu: false } => "linear".into(),
            Op::GaussianHead { .. } => "gaussian_head.".into(),
            Op::Loss(k) => format!("{k:?}").to_lowercase(),
            Op::BatchNorm(_) => "batch_norm".into(),
            Op::SoftmaxMean => "softmax_mean".into(),
            Op::Correct => "correct".into(),
            Op::Conv2d { .. } => "conv2d".into(),
            Op::ConvTranspose2d(..) => "conv_transpose2d".into(),
            Op::MaxPool2d { .. } => "max_pool2d".into(),
            Op::GlobalAvgPool => "global_avg_pool".into(),
            Op::GlobalMaxPool => "global_max_pool".into(),
            Op::Reshape => "reshape".into(),
            Op::ConcatFeatures => "concat_features".into(),
            Op::ConcatMapVec => "concat_map_vec".into(),
            Op::ShuffleRows { .. } => "shuffle_rows".into(),
            Op::Knn { .. } => "knn".into(),
            Op::Mmd(_) => "mmd".into(),
            Op::Draw { dist, .. } => format!("{dist:?}").to_lowercase(),
            Op::Detach => "detach".into(),
        }
    }

    /// Whether gradients flow through this op at all (random draws do not).
    pub fn differentiable(&self) -> bool {
        !matches!(self, Op::SoftmaxMean | Op::Correct | Op::Detach)
    }

    pub(crate) fn forward(&self, lw: &mut Lowering, n: &Node) -> Result<()> {
        match self {
            Op::Unary(u) => pointwise::unary_forward(lw, n, *u),
            Op::Binary(b) => pointwise::binary_forward(lw, n, *b),
            Op::AddRowBias => pointwise::add_row_bias_forward(lw, n),
            Op::Reduce(a, o) => reduction::reduce_forward(lw, n, *a, *o),
            Op::Linear { relu } => dense::linear_forward(lw, n, *relu),
            Op::GaussianHead {
                scale,
                seed,
                stream,
            } => stochastic::head_forward(lw, n, *scale, *seed, *stream),
            Op::Loss(k) => losses::loss_forward(lw, n, *k),
            Op::BatchNorm(c) => norm::bn_forward(lw, n, *c),
            Op::SoftmaxMean => losses::softmax_mean_forward(lw, n),
            Op::Correct => losses::correct_forward(lw, n),
            Op::Conv2d { stride, pad, act } => conv::conv2d_forward(lw, n, *stride, *pad, *act),
            Op::ConvTranspose2d(g, act) => conv_transpose::forward(lw, n, *g, *act),
            Op::MaxPool2d { k } => pool::max_pool_forward(lw, n, *k),
            Op::GlobalAvgPool => pool::global_forward(lw, n, false),
            Op::GlobalMaxPool => pool::global_forward(lw, n, true),
            Op::Reshape => Ok(()), // a view: no kernel
            Op::ConcatFeatures => layout::concat_forward(lw, n, false),
            Op::ConcatMapVec => layout::concat_forward(lw, n, true),
            Op::ShuffleRows { kind, seed, stream } => {
                shuffle::forward(lw, n, *kind, *seed, *stream)
            }
            Op::Knn { k } => pairwise::knn_forward(lw, n, *k),
            Op::Mmd(kern) => pairwise::mmd_forward(lw, n, *kern),
            Op::Draw { dist, seed, stream } => pairwise::draw_forward(lw, n, *dist, *seed, *stream),
            Op::Detach => Ok(()), // a view: no kernel
        }
    }

    pub(crate) fn backward(&self, lw: &mut Lowering, n: &Node) -> Result<()> {
        match self {
            Op::Unary(u) => pointwise::unary_backward(lw, n, *u),
            Op::Binary(b) => pointwise::binary_backward(lw, n, *b),
            Op::AddRowBias => pointwise::add_row_bias_backward(lw, n),
            Op::Reduce(a, o) => reduction::reduce_backward(lw, n, *a, *o),
            Op::Linear { relu } => dense::linear_backward(lw, n, *relu),
            Op::GaussianHead { scale, .. } => stochastic::head_backward(lw, n, *scale),
            Op::Loss(k) => losses::loss_backward(lw, n, *k),
            Op::BatchNorm(c) => norm::bn_backward(lw, n, *c),
            Op::Conv2d { stride, pad, act } => conv::conv2d_backward(lw, n, *stride, *pad, *act),
            Op::ConvTranspose2d(g, act) => conv_transpose::backward(lw, n, *g, *act),
            Op::MaxPool2d { k } => pool::max_pool_backward(lw, n, *k),
            Op::GlobalAvgPool => pool::global_backward(lw, n, false),
            Op::GlobalMaxPool => pool::global_backward(lw, n, true),
            Op::Reshape => layout::reshape_backward(lw, n),
            Op::ConcatFeatures => layout::concat_backward(lw, n, false),
            Op::ConcatMapVec => layout::concat_backward(lw, n, true),
            Op::ShuffleRows { .. } => shuffle::backward(lw, n),
            Op::SoftmaxMean | Op::Correct | Op::Draw { .. } | Op::Detach => Ok(()),
            Op::Knn { .. } => pairwise::knn_backward(lw, n),
            Op::Mmd(kern) => pairwise::mmd_backward(lw, n, *kern),
        }
    }
}
