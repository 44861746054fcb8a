//! The entropic autoencoder (Ghose, Rashwan, Poupart 2020): a deterministic autoencoder whose
//! latent code passes through batch norm without affine parameters, trained to reconstruct
//! while maximising the batch entropy of the code (Kozachenko-Leonenko k-NN estimate):
//!
//!   z = BN(fc2(relu(fc1(x))))                              (per dimension: mean 0, variance 1)
//!   loss = sum_batch BCE(sigmoid(decoder(z)), x) summed over pixels - lambda * B * H(Z)
//!   H(Z) = (d/B) sum_i log eps_k(i) + log B_d + psi(B) - psi(k)
//! Per image: reconstruction nats minus lambda H. Under BN every dimension of z has unit
//! variance, so N(0, I) is the maximum-entropy code distribution and, with E||z||^2 = d,
//! KL(q(z) || N(0, I)) = (d/2) log(2 pi e) - H(Z): maximising H pulls the aggregate code
//! towards the prior, and decoding z ~ N(0, I) generates images.
//! Shapes: x [B, 784]; h [B, 400]; z [B, D]; logits [B, 784]. Decoder as the VAE's (fc3, fc4).

use std::collections::BTreeMap;

use crate::graph::ops::norm::BatchNorm;
use crate::graph::ops::pairwise::gaussian_entropy;
use crate::graph::Graph;
use crate::kernels::elementwise::Unary;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::hparams::Overrides;
use crate::models::vae::Vae;
use crate::models::{finish_encode, linear_params, Built, GraphKind, Model};
use crate::nn::params::{linear_specs, Init, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct Eae {
    /// Sizes (input, hidden, latent) and the decoder.
    pub ae: Vae,
    /// Which neighbour the entropy estimate uses.
    pub k: usize,
    /// Weight of the entropy term, in nats of reconstruction per nat of entropy.
    pub lambda: f32,
}

impl Default for Eae {
    /// D = 8: at batch 128 the k = 1 estimate is nearly unbiased in 8 dimensions (+0.1%,
    /// sd 2.3% over 40 draws of N(0, I_8)) but biased by +3.7% at D = 16 (and +4.7% at
    /// D = 20, n = 200; tests/entropy_knn.rs shows the growth at n = 1024), so the
    /// regulariser sees the entropy it is meant to maximise. lambda = 1: under BN, -H(Z) is KL(q(z) || N(0, I)) up
    /// to a constant, so lambda = 1 weighs it as the ELBO weighs its aggregate-posterior KL
    /// against summed reconstruction nats.
    fn default() -> Self {
        Eae {
            ae: Vae {
                latent: 8,
                ..Vae::default()
            },
            k: 1,
            lambda: 1.0,
        }
    }
}

impl Eae {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        self.ae.tune(o)?;
        o.count("k", &mut self.k)?;
        o.f32("lambda", &mut self.lambda)?;
        Ok(())
    }
}

impl Model for Eae {
    fn name(&self) -> &'static str {
        "eae"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let (i, h, d) = (self.ae.input, self.ae.hidden, self.ae.latent);
        [
            linear_specs("fc1", i, h),
            linear_specs("fc2", h, d),
            linear_specs("fc3", d, h),
            linear_specs("fc4", h, i),
        ]
        .concat()
    }

    fn state(&self) -> Vec<ParamSpec> {
        let d = self.ae.latent;
        vec![
            ParamSpec::new("z_bn.running_mean", &[d], Init::Const(0.0)),
            ParamSpec::new("z_bn.running_var", &[d], Init::Const(1.0)),
        ]
    }

    fn latent_dim(&self) -> usize {
        self.ae.latent
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        if kind == GraphKind::Decode {
            return self.ae.build(kind, batch, seed);
        }
        let (input, hidden, d) = (self.ae.input, self.ae.hidden, self.ae.latent);
        let mut g = Graph::new();
        let mut outputs = BTreeMap::new();
        let x = g.input("x", &[batch, input]);
        let (w1, b1) = linear_params(&mut g, "fc1", input, hidden);
        let (w2, b2) = linear_params(&mut g, "fc2", hidden, d);
        let h = g.linear(x, w1, b1, true)?;
        let z_raw = g.linear(h, w2, b2, false)?;
        let bn = BatchNorm {
            train: kind == GraphKind::Train,
            ..BatchNorm::default()
        };
        let z = g.batch_norm(z_raw, "z_bn", None, bn)?;
        if kind == GraphKind::Encode {
            // The code is the normalised latent itself (deterministic: no posterior variance).
            return Ok(finish_encode(g, z, None));
        }
        let logits = self.ae.decode(&mut g, z)?;
        let rec = g.bce_with_logits(logits, x)?;
        let rec_sum = g.reduce(rec, Axis::All, ReduceOp::Sum);
        let entropy = g.knn_entropy(z, self.k)?;
        let reg = g.scale(entropy, -self.lambda * batch as f32);
        let loss = g.add(rec_sum, reg)?;
        // Metrics are summed per step and divided by images: times B, they read per batch.
        let entropy_b = g.scale(entropy, batch as f32);
        let closed = g.constant(
            "entropy of N(0, I) x B",
            &[1],
            vec![(gaussian_entropy(d) * batch as f64) as f32],
        )?;
        g.metric("loss", loss)?;
        g.metric("rec", rec_sum)?;
        g.metric("entropy", entropy_b)?;
        g.metric("entropy_gaussian", closed)?;
        if kind == GraphKind::Train {
            g.set_loss(loss)?;
        } else {
            let probs = g.unary(Unary::Sigmoid, logits);
            outputs.insert("probs", g.output("probs", probs));
            outputs.insert("z", g.output("z", z));
        }
        Ok(Built { graph: g, outputs })
    }
}
