//! BN-VAE (Zhu et al. 2020), scaled variant: the VAE with batch norm (no learned affine) on
//! the encoder's mu and on its sigma head, rescaled per latent dimension by a learned theta.
//! As in the reference implementations, the sigma head is the log-variance (batch-normalising
//! sigma itself makes it cross 0, where log sigma^2 and the KL diverge: tried, NaN by step 400):
//!
//!   mu     = BN(mu_raw)     * gamma_mu,     gamma_mu    = sqrt(tau + (1 - tau) sigmoid(theta))
//!   logvar = BN(logvar_raw) * gamma_sigma,  gamma_sigma = sqrt((1 - tau) sigmoid(-theta))
//! with tau = 0.5. Over a batch, mean(mu_d^2) = gamma_mu_d^2 (BN makes mu_raw unit-variance),
//! so the batch KL is at least (1/2) sum_d gamma_mu_d^2 >= d tau / 2: it cannot collapse to 0.
//! Shapes as the VAE; theta [D].

use std::collections::BTreeMap;

use crate::graph::ops::norm::BatchNorm;
use crate::graph::{Graph, T};
use crate::kernels::elementwise::Unary;
use crate::kernels::random::Scale;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::hparams::Overrides;
use crate::models::vae::Vae;
use crate::models::{finish_encode, linear_params, Built, GraphKind, Model};
use crate::nn::params::{Init, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct BnVae {
    pub vae: Vae,
    pub tau: f32,
}

impl Default for BnVae {
    fn default() -> Self {
        BnVae {
            vae: Vae::default(),
            tau: 0.5,
        }
    }
}

impl BnVae {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        self.vae.tune(o)?;
        o.f32("tau", &mut self.tau)?;
        Ok(())
    }
}

impl BnVae {
    /// (gamma_mu, gamma_sigma) from theta.
    fn scales(&self, g: &mut Graph, theta: T) -> (T, T) {
        let tau = self.tau;
        let s = g.unary(Unary::Sigmoid, theta);
        let s = g.scale(s, 1.0 - tau);
        let s = g.unary(Unary::AddScalar(tau), s);
        let gamma_mu = g.unary(Unary::Sqrt, s);
        let neg = g.scale(theta, -1.0);
        let s = g.unary(Unary::Sigmoid, neg);
        let s = g.scale(s, 1.0 - tau);
        (gamma_mu, g.unary(Unary::Sqrt, s))
    }
}

impl Model for BnVae {
    fn name(&self) -> &'static str {
        "bn-vae"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut p = self.vae.params();
        p.push(ParamSpec::new(
            "theta",
            &[self.vae.latent],
            Init::Const(0.0),
        ));
        p
    }

    fn state(&self) -> Vec<ParamSpec> {
        let d = self.vae.latent;
        ["mu_bn", "logvar_bn"]
            .iter()
            .flat_map(|l| {
                [
                    ParamSpec::new(&format!("{l}.running_mean"), &[d], Init::Const(0.0)),
                    ParamSpec::new(&format!("{l}.running_var"), &[d], Init::Const(1.0)),
                ]
            })
            .collect()
    }

    fn latent_dim(&self) -> usize {
        self.vae.latent
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        if kind == GraphKind::Decode {
            return self.vae.build(kind, batch, seed);
        }
        let (input, hidden, d) = (self.vae.input, self.vae.hidden, self.vae.latent);
        let mut g = Graph::new();
        let mut outputs = BTreeMap::new();
        let x = g.input("x", &[batch, input]);
        let (w1, b1) = linear_params(&mut g, "fc1", input, hidden);
        let (w21, b21) = linear_params(&mut g, "fc21", hidden, d);
        let (w22, b22) = linear_params(&mut g, "fc22", hidden, d);
        let theta = g.param("theta", &[d]);
        let h = g.linear(x, w1, b1, true)?;
        let mu_raw = g.linear(h, w21, b21, false)?;
        let lv_raw = g.linear(h, w22, b22, false)?;
        let (gamma_mu, gamma_sigma) = self.scales(&mut g, theta);
        let zero = g.constant("zero shift", &[d], vec![0.0; d])?;
        let bn = BatchNorm {
            train: kind == GraphKind::Train,
            ..BatchNorm::default()
        };
        let mu = g.batch_norm(mu_raw, "mu_bn", Some((gamma_mu, zero)), bn)?;
        let logvar = g.batch_norm(lv_raw, "logvar_bn", Some((gamma_sigma, zero)), bn)?;
        if kind == GraphKind::Encode {
            // The code is the normalised and scaled posterior mean (running statistics).
            return Ok(finish_encode(g, mu, Some(logvar)));
        }
        let (z, kl) = g.gaussian_head(mu, logvar, Scale::LogVar, seed)?;
        let logits = self.vae.decode(&mut g, z)?;
        let rec = g.bce_with_logits(logits, x)?;
        let per_image = g.add(rec, kl)?;
        let loss = g.reduce(per_image, Axis::All, ReduceOp::Sum);
        let kl_sum = g.reduce(kl, Axis::All, ReduceOp::Sum);
        g.names(&[("h", h), ("mu_raw", mu_raw), ("logvar_raw", lv_raw)]);
        g.names(&[("gamma_mu", gamma_mu), ("gamma_sigma", gamma_sigma)]);
        g.names(&[("mu", mu), ("logvar", logvar), ("z", z), ("kl", kl)]);
        g.names(&[("logits", logits), ("rec", rec)]);
        // The KL floor (1/2) sum_d gamma_mu_d^2, times B so the trainer's per-image average
        // of this metric is the floor itself.
        let sq = g.unary(Unary::Square, gamma_mu);
        let floor = g.reduce(sq, Axis::All, ReduceOp::Sum);
        let floor = g.scale(floor, 0.5 * batch as f32);
        g.metric("loss", loss)?;
        g.metric("kl", kl_sum)?;
        g.metric("kl_bound", floor)?;
        if kind == GraphKind::Train {
            g.set_loss(loss)?;
        } else {
            let probs = g.unary(Unary::Sigmoid, logits);
            outputs.insert("probs", g.output("probs", probs));
        }
        Ok(Built { graph: g, outputs })
    }
}
