//! The Gaussian latent head as one graph op: z = mu + sigma * eps with eps ~ N(0, I) drawn on
//! the GPU, and kl[b] = KL(N(mu_b, sigma_b^2) || N(0, I)), fused in one kernel.
//!
//! eps for step s is drawn at stream offset s * B * D of the head's own Philox stream, so a
//! run is reproducible, independent of dispatch shape, and resumable at any step.
//! Alternatively eps is read from an input tensor (`gaussian_head_with_noise`, or
//! `noise_from_inputs` on a built graph), so another framework's noise can be replayed
//! exactly (`shadergrad verify`). Node layout: inputs (mu, s) and outputs (z, kl, eps) when
//! drawing; inputs (mu, s, eps) and outputs (z, kl) when reading.
//! Shapes: mu, s, z, eps [B, D]; kl [B]. `s` is log sigma^2 (VAE) or sigma (VIB).

use crate::graph::builder::{Graph, Node};
use crate::graph::instr::{one, Instr};
use crate::graph::lower::Lowering;
use crate::graph::op::Op;
use crate::graph::tensor::{Role, T};
use crate::kernels::elementwise as ew;
use crate::kernels::random::{self, Latent, Rng, Scale};
use crate::{DType, Error, Result};

impl Graph {
    /// Sample z from N(mu, sigma^2) by reparameterisation; returns (z, kl per sample).
    pub fn gaussian_head(&mut self, mu: T, s: T, scale: Scale, seed: u64) -> Result<(T, T)> {
        self.same_shape("gaussian head (mu, s)", mu, s)?;
        let (b, d) = self.matrix("gaussian head mu", mu)?;
        let stream = self
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::GaussianHead { .. }))
            .count() as u32;
        let op = Op::GaussianHead {
            scale,
            seed,
            stream,
        };
        let z = self.push(
            op,
            &[mu, s],
            &[("z", vec![b, d]), ("kl", vec![b]), ("eps", vec![b, d])],
        );
        let node = self.nodes.last().unwrap();
        Ok((z, node.outputs[1]))
    }

    /// `gaussian_head` with the noise given: z = mu + sigma * eps for an `eps` [B, D] the
    /// caller supplies (no gradient flows to it).
    pub fn gaussian_head_with_noise(
        &mut self,
        mu: T,
        s: T,
        eps: T,
        scale: Scale,
    ) -> Result<(T, T)> {
        self.same_shape("gaussian head (mu, s)", mu, s)?;
        self.same_shape("gaussian head (mu, eps)", mu, eps)?;
        let (b, d) = self.matrix("gaussian head mu", mu)?;
        let op = Op::GaussianHead {
            scale,
            seed: 0,
            stream: 0,
        };
        let z = self.push(op, &[mu, s, eps], &[("z", vec![b, d]), ("kl", vec![b])]);
        Ok((z, self.nodes.last().unwrap().outputs[1]))
    }

    /// Make every Gaussian head of this graph read its noise instead of drawing it: each
    /// drawing head gets a new f32 input [B, D] named "eps" (the first head) or "eps.<k>"
    /// (the k-th, from 1), returned with its tensor in head order. Heads that already read
    /// their noise keep it. Used by `shadergrad verify` to replay another framework's noise.
    pub fn noise_from_inputs(&mut self) -> Result<Vec<(String, T)>> {
        let mut added = Vec::new();
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if !matches!(node.op, Op::GaussianHead { .. }) || node.inputs.len() == 3 {
                continue;
            }
            let name = match added.len() {
                0 => "eps".to_string(),
                k => format!("eps.{k}"),
            };
            if self.tensors.iter().any(|t| t.name == name) {
                return Err(Error::Config(format!(
                    "the graph already has a tensor named '{name}'; rename it to feed noise"
                )));
            }
            let shape = self.shape(node.inputs[0]).to_vec();
            let eps = self.tensor(name.clone(), shape, DType::F32, Role::Input);
            let node = &mut self.nodes[i];
            node.inputs.push(eps);
            node.outputs.truncate(2); // the drawn-eps output is no longer written
            added.push((name, eps));
        }
        Ok(added)
    }
}

/// The eps a head's backward reads: its input when given, else the noise its forward drew.
fn noise_of(n: &Node) -> T {
    match n.inputs.get(2) {
        Some(&eps) => eps,
        None => n.outputs[2],
    }
}

fn latent(lw: &Lowering, mu: T, scale: Scale) -> Latent {
    let s = lw.g.shape(mu);
    Latent {
        b: s[0],
        d: s[1],
        scale,
    }
}

pub(crate) fn head_forward(
    lw: &mut Lowering,
    n: &Node,
    scale: Scale,
    seed: u64,
    stream: u32,
) -> Result<()> {
    let (mu, s) = (n.inputs[0], n.inputs[1]);
    let (z, kl) = (n.outputs[0], n.outputs[1]);
    let l = latent(lw, mu, scale);
    if let Some(&eps) = n.inputs.get(2) {
        lw.emit(Instr::new(
            "gaussian head (given noise)",
            &[mu, s, eps],
            &[z, kl],
            move |gpu, b| {
                one(random::reparam_kl(
                    gpu,
                    l,
                    b(mu),
                    b(s),
                    b(eps),
                    b(z),
                    b(kl),
                    None,
                ))
            },
        ));
        return Ok(());
    }
    let eps = n.outputs[2];
    let draws = (l.b * l.d) as u64;
    let rng = move |step: u64| Rng {
        seed,
        offset: step * draws,
        stream,
    };
    lw.emit(
        Instr::new("gaussian head", &[mu, s], &[z, kl, eps], move |gpu, b| {
            one(random::reparam_kl(
                gpu,
                l,
                b(mu),
                b(s),
                b(eps),
                b(z),
                b(kl),
                Some(rng(0)),
            ))
        })
        .with_per_step(move |gpu, d, step| {
            gpu.set_params(&d[0], &random::reparam_kl_params(l, Some(rng(step))))
        }),
    );
    Ok(())
}

/// dmu = dz + dkl * dKL/dmu, ds = dz * dz/ds + dkl * dKL/ds (the kernels hold the closed forms).
pub(crate) fn head_backward(lw: &mut Lowering, n: &Node, scale: Scale) -> Result<()> {
    let (mu, s, eps) = (n.inputs[0], n.inputs[1], noise_of(n));
    let (z, kl) = (n.outputs[0], n.outputs[1]);
    let l = latent(lw, mu, scale);
    let (dz, dkl) = (lw.grad_of(z), lw.grad_of(kl));
    let (Some((dmu, acc_mu)), Some((ds, acc_s))) = (lw.grad_target(mu), lw.grad_target(s)) else {
        return Ok(()); // mu and s are computed together upstream: both or neither need grads
    };
    // The kernels take one accumulate flag for both outputs: when the two differ, the
    // accumulating one is written to a scratch and added afterwards.
    let acc = acc_mu && acc_s;
    let shape = lw.g.shape(mu).to_vec();
    let mut redirect = None;
    let (dmu_out, ds_out) = if acc_mu == acc_s {
        (dmu, ds)
    } else if acc_mu {
        let tmp = lw.scratch("dmu (to add)", &shape);
        redirect = Some((tmp, dmu));
        (tmp, ds)
    } else {
        let tmp = lw.scratch("ds (to add)", &shape);
        redirect = Some((tmp, ds));
        (dmu, tmp)
    };
    match (dz, dkl) {
        (Some(dz), Some(dkl)) => lw.emit(Instr::new(
            "gaussian head backward",
            &[mu, s, eps, dz, dkl],
            &[dmu_out, ds_out],
            move |gpu, b| {
                one(random::reparam_kl_backward(
                    gpu,
                    l,
                    b(mu),
                    b(s),
                    b(eps),
                    b(dz),
                    b(dkl),
                    b(dmu_out),
                    b(ds_out),
                    acc,
                ))
            },
        )),
        (Some(dz), None) => lw.emit(Instr::new(
            "reparam backward",
            &[s, eps, dz],
            &[dmu_out, ds_out],
            move |gpu, b| {
                one(random::reparam_backward(
                    gpu,
                    l,
                    b(s),
                    b(eps),
                    b(dz),
                    b(dmu_out),
                    b(ds_out),
                    acc,
                ))
            },
        )),
        (None, Some(dkl)) => lw.emit(Instr::new(
            "kl backward",
            &[mu, s, dkl],
            &[dmu_out, ds_out],
            move |gpu, b| {
                one(random::kl_backward(
                    gpu,
                    l,
                    b(mu),
                    b(s),
                    b(dkl),
                    b(dmu_out),
                    b(ds_out),
                    acc,
                ))
            },
        )),
        (None, None) => return Ok(()),
    }
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
