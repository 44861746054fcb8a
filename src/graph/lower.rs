//! Lowering a graph to instructions: the forward of every node in order, then (for training)
//! reverse-mode autodiff: seed d(loss) = 1 and run each node's backward rule in reverse order.
//!
//! Gradients of a tensor used by several nodes are summed without extra kernels: the first
//! backward instruction that reaches a gradient writes it, later ones accumulate into it
//! (every backward kernel has an `accumulate` flag).

use std::collections::HashMap;

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::tensor::{Role, T};
use crate::kernels::elementwise;
use crate::{DType, Result};

pub struct Lowering<'g> {
    pub g: &'g mut Graph,
    pub instrs: Vec<Instr>,
    grads: HashMap<T, T>,
    written: HashMap<T, bool>,
}

impl<'g> Lowering<'g> {
    pub fn emit(&mut self, i: Instr) {
        self.instrs.push(i);
    }

    /// The gradient of `t` if any backward rule has produced one (outputs of a node, seen from
    /// its backward rule).
    pub fn grad_of(&self, t: T) -> Option<T> {
        self.grads
            .get(&t)
            .copied()
            .filter(|g| self.written.get(g).copied().unwrap_or(false))
    }

    /// Where a backward rule writes d/dt for input `t`, and whether it must accumulate.
    /// None when no gradient flows to `t` (data inputs, constants).
    pub fn grad_target(&mut self, t: T) -> Option<(T, bool)> {
        if !self.g.needs_grad[t.0] {
            return None;
        }
        let g = match self.grads.get(&t) {
            Some(&g) => g,
            None => {
                let info = self.g.info(t).clone();
                let (name, role) = match info.role {
                    Role::Param => (format!("{}.grad", info.name), Role::ParamGrad),
                    _ => (format!("d({})", info.name), Role::Transient),
                };
                let g = self.g.tensor(name, info.shape, DType::F32, role);
                self.grads.insert(t, g);
                g
            }
        };
        let accumulate = self.written.insert(g, true).unwrap_or(false);
        Some((g, accumulate))
    }

    /// Make d/dt a view of `src`, a finished gradient with t's element count (a reshape's
    /// backward), so no copy is needed. Only when nothing has written d/dt yet and it would be
    /// transient (a parameter's gradient lives in the gradient arena); returns whether it did.
    /// Later rules accumulating into d/dt then add into `src`'s buffer, which is safe: every
    /// reader of `src` ran before this rule (reverse order).
    pub fn alias_grad(&mut self, t: T, src: T) -> bool {
        let info = self.g.info(t).clone();
        if !self.g.needs_grad[t.0] || self.grads.contains_key(&t) || info.role == Role::Param {
            return false;
        }
        let g = self.g.tensor(
            format!("d({})", info.name),
            info.shape,
            DType::F32,
            Role::Transient,
        );
        self.g.make_alias(g, src);
        self.grads.insert(t, g);
        self.written.insert(g, true);
        true
    }

    /// A transient tensor for intermediate values of one rule (planned like any other).
    pub fn scratch(&mut self, name: &str, shape: &[usize]) -> T {
        self.g
            .tensor(name, shape.to_vec(), DType::F32, Role::Transient)
    }

    /// A transient u32 tensor (indices, permutation sort keys).
    pub fn scratch_u32(&mut self, name: &str, shape: &[usize]) -> T {
        self.g
            .tensor(name, shape.to_vec(), DType::U32, Role::Transient)
    }
}

/// Lower `g`: forward instructions, metric accumulation, and for `train` the backward.
pub fn lower(g: &mut Graph, train: bool) -> Result<Vec<Instr>> {
    let nodes: Vec<Node> = g.nodes.clone();
    let mut lw = Lowering {
        g,
        instrs: Vec::new(),
        grads: HashMap::new(),
        written: HashMap::new(),
    };
    for node in &nodes {
        node.op.forward(&mut lw, node)?;
    }
    let metrics = lw.g.metrics.clone();
    for (name, t) in metrics {
        let acc =
            lw.g.tensor(format!("metric:{name}"), vec![1], DType::F32, Role::Metric);
        lw.emit(Instr::new(
            format!("metric {name}"),
            &[t, acc],
            &[acc],
            move |gpu, b| one(elementwise::axpy(gpu, 1.0, b(t), b(acc))),
        ));
    }
    if train {
        if let Some(loss) = lw.g.loss {
            if let Some((seed, _)) = lw.grad_target(loss) {
                lw.emit(Instr::new("d(loss) = 1", &[], &[seed], move |gpu, b| {
                    one(elementwise::fill(gpu, 1.0, b(seed)))
                }));
            }
            for node in nodes.iter().rev() {
                if node.outputs.iter().any(|&o| lw.grad_of(o).is_some()) {
                    node.op.backward(&mut lw, node)?;
                }
            }
        }
    }
    Ok(lw.instrs)
}
