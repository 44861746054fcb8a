//! Batch norm as a graph op (PyTorch's BatchNorm1d on [B, F], BatchNorm2d on [N, C, H, W]).
//!
//! Training: statistics of the batch (mean, biased variance, rstd, saved for the backward),
//! normalise, and update the running statistics with momentum (unbiased variance). Eval:
//! normalise with the running statistics. Backward (training):
//!   dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)), dgamma = sum dy xhat, dbeta = sum dy
//! Shapes: x, y [B, F] or [N, C, H, W]; gamma, beta, running stats, mean, var, rstd [F or C].

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Bufs, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::T;
use crate::kernels::batchnorm::{
    self as bn, Affine, BatchNormSpec, Grads, Layout, ParamGrads, Stats,
};
use crate::{Error, Result};

/// A batch-norm layer's settings (PyTorch defaults: eps 1e-5, momentum 0.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    pub eps: f32,
    pub momentum: f32,
    /// true: normalise by batch statistics and update the running ones; false: eval mode.
    pub train: bool,
    /// false: always batch statistics, running ones never updated (PyTorch's
    /// track_running_stats=False), for a layer that sees batches of different kinds.
    pub track_running_stats: bool,
}

impl Default for BatchNorm {
    fn default() -> Self {
        BatchNorm {
            eps: 1e-5,
            momentum: 0.1,
            train: true,
            track_running_stats: true,
        }
    }
}

impl Graph {
    /// y = BN(x) (* gamma + beta when `affine` is given). `prefix` names the layer's state
    /// (`{prefix}.running_mean`, `{prefix}.running_var`), which the model must declare.
    pub fn batch_norm(
        &mut self,
        x: T,
        prefix: &str,
        affine: Option<(T, T)>,
        cfg: BatchNorm,
    ) -> Result<T> {
        let shape = self.shape(x).to_vec();
        let f = match shape.len() {
            2 => shape[1],
            4 => shape[1],
            _ => {
                return Err(Error::Shape(format!(
                    "batch_norm takes [B, F] or [N, C, H, W], got {shape:?}"
                )))
            }
        };
        let rm = self.state(&format!("{prefix}.running_mean"), &[f]);
        let rv = self.state(&format!("{prefix}.running_var"), &[f]);
        let mut inputs = vec![x, rm, rv];
        if let Some((g, b)) = affine {
            if self.shape(g) != [f] || self.shape(b) != [f] {
                return Err(Error::Shape(format!("batch_norm gamma/beta must be [{f}]")));
            }
            inputs.extend([g, b]);
        }
        let outs = [
            ("", shape),
            (".mean", vec![f]),
            (".var", vec![f]),
            (".rstd", vec![f]),
        ];
        Ok(self.push(Op::BatchNorm(cfg), &inputs, &outs))
    }
}

fn spec(lw: &Lowering, n: &Node, cfg: BatchNorm) -> BatchNormSpec {
    let s = lw.g.shape(n.inputs[0]);
    let layout = match *s {
        [b, f] => Layout::Rows { b, f },
        [n, c, h, w] => Layout::Nchw { n, c, h, w },
        _ => unreachable!("checked by Graph::batch_norm"),
    };
    BatchNormSpec::new(layout)
        .with_affine(n.inputs.len() == 5)
        .with_eps(cfg.eps)
        .with_momentum(cfg.momentum)
}

fn affine_of<'a>(affine: Option<(T, T)>, b: &Bufs<'a>) -> Option<Affine<'a>> {
    affine.map(|(g, be)| Affine {
        gamma: b(g),
        beta: b(be),
    })
}

pub(crate) fn bn_forward(lw: &mut Lowering, n: &Node, cfg: BatchNorm) -> Result<()> {
    let spec = spec(lw, n, cfg);
    let (x, rm, rv) = (n.inputs[0], n.inputs[1], n.inputs[2]);
    let affine = (n.inputs.len() == 5).then(|| (n.inputs[3], n.inputs[4]));
    let (y, mean, var, rstd) = (n.outputs[0], n.outputs[1], n.outputs[2], n.outputs[3]);
    let mut reads = vec![x];
    reads.extend(affine.iter().flat_map(|(g, b)| [*g, *b]));
    if !cfg.train && cfg.track_running_stats {
        reads.extend([rm, rv]);
        lw.emit(Instr::new(
            "batch norm (eval)",
            &reads,
            &[y],
            move |gpu, b| {
                one(bn::eval(
                    gpu,
                    &spec,
                    b(x),
                    b(rm),
                    b(rv),
                    affine_of(affine, b),
                    b(y),
                ))
            },
        ));
        return Ok(());
    }
    let scratch = lw.scratch(
        "bn stats partials",
        &[bn::batch_stats_scratch_len(&spec).max(1)],
    );
    lw.emit(Instr::new(
        "batch norm statistics",
        &[x],
        &[mean, var, rstd, scratch],
        move |gpu, b| bn::batch_stats(gpu, &spec, b(x), b(mean), b(var), b(rstd), b(scratch)),
    ));
    reads.extend([mean, rstd]);
    lw.emit(Instr::new("batch norm", &reads, &[y], move |gpu, b| {
        one(bn::normalize(
            gpu,
            &spec,
            b(x),
            Stats::Batch {
                mean: b(mean),
                rstd: b(rstd),
            },
            affine_of(affine, b),
            b(y),
        ))
    }));
    if !cfg.track_running_stats {
        return Ok(());
    }
    lw.emit(Instr::new(
        "batch norm running update",
        &[mean, var, rm, rv],
        &[rm, rv],
        move |gpu, b| {
            one(bn::running_update(
                gpu,
                &spec,
                b(mean),
                b(var),
                b(rm),
                b(rv),
            ))
        },
    ));
    Ok(())
}

pub(crate) fn bn_backward(lw: &mut Lowering, n: &Node, cfg: BatchNorm) -> Result<()> {
    let spec = spec(lw, n, cfg);
    let (x, rm, rv) = (n.inputs[0], n.inputs[1], n.inputs[2]);
    let (y, mean, rstd) = (n.outputs[0], n.outputs[1], n.outputs[3]);
    let Some(dy) = lw.grad_of(y) else {
        return Ok(());
    };
    let f = spec.features();
    let dx_target = lw.grad_target(x);
    // The kernel always writes dx; a scratch takes it when x needs no gradient.
    let x_shape = lw.g.shape(x).to_vec();
    let (dx, acc_dx) = dx_target.unwrap_or_else(|| (lw.scratch("unused dx", &x_shape), false));
    let params = match (n.inputs.len() == 5).then(|| (n.inputs[3], n.inputs[4])) {
        Some((g, be)) => {
            let (dg, acc_g) = lw
                .grad_target(g)
                .unwrap_or_else(|| (lw.scratch("unused dgamma", &[f]), false));
            let (db, acc_b) = lw
                .grad_target(be)
                .unwrap_or_else(|| (lw.scratch("unused dbeta", &[f]), false));
            if acc_g != acc_b {
                return Err(Error::Config(
                    "batch norm gamma and beta must be used by this layer only".into(),
                ));
            }
            Some((g, dg, db, acc_g))
        }
        None => None,
    };
    let scratch = lw.scratch(
        "bn backward partials",
        &[bn::backward_scratch_len(&spec).max(1)],
    );
    let mut reads = vec![x, dy];
    let mut writes = vec![dx, scratch];
    // Batch statistics in training mode, and always without running statistics.
    let batch_stats = cfg.train || !cfg.track_running_stats;
    match batch_stats {
        true => reads.extend([mean, rstd]),
        false => reads.extend([rm, rv]),
    }
    if let Some((g, dg, db, _)) = params {
        reads.push(g);
        writes.extend([dg, db]);
    }
    lw.emit(Instr::new(
        "batch norm backward",
        &reads,
        &writes,
        move |gpu, b| {
            let stats = match batch_stats {
                true => Stats::Batch {
                    mean: b(mean),
                    rstd: b(rstd),
                },
                false => Stats::Running {
                    mean: b(rm),
                    var: b(rv),
                },
            };
            let grads = Grads {
                dy: b(dy),
                dx: b(dx),
                accumulate_dx: acc_dx,
                params: params.map(|(_, dg, db, acc)| ParamGrads {
                    dgamma: b(dg),
                    dbeta: b(db),
                    accumulate: acc,
                }),
            };
            bn::backward(
                gpu,
                &spec,
                b(x),
                stats,
                params.map(|(g, ..)| b(g)),
                &grads,
                b(scratch),
            )
        },
    ));
    Ok(())
}
