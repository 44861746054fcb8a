//! Tensors of a graph: symbolic handles (`T`) and what the scheduler knows about each.
//!
//! Shapes are row-major: [B, F] is B rows of F features; [N, C, H, W] for feature maps.

use crate::DType;

/// A tensor of one graph (an index into `Graph::tensors`). Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct T(pub(crate) usize);

impl T {
    pub fn index(self) -> usize {
        self.0
    }
}

/// Where a tensor lives and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Written by the host (or a data kernel) each step: the batch, labels, permutations.
    Input,
    /// A learned parameter: a view into the model's parameter arena.
    Param,
    /// The gradient of a parameter: a view into the gradient arena.
    ParamGrad,
    /// Persistent non-learned state: batch-norm running statistics.
    State,
    /// Fixed values given when the graph is built (`Graph::constant`).
    Const,
    /// Persistent accumulators read by the host every N steps (losses, metrics).
    Metric,
    /// A result the host reads after a step (reconstructions, samples): kept out of the plan.
    Output,
    /// Lives within one step; its buffer is reused by the memory plan.
    Transient,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub role: Role,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn bytes(&self) -> u64 {
        (self.len() * self.dtype.size()) as u64
    }
    /// Rows and columns of a tensor seen as a matrix: [B, rest...] -> (B, prod(rest)).
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.split_first() {
            Some((&b, rest)) => (b, rest.iter().product()),
            None => (1, 1),
        }
    }
}
