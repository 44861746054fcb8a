//! The MLP VAE of PyTorch's examples: 784-400-(20 mu, 20 logvar), decoder 20-400-784, ReLU.
//!
//!   loss = sum_batch [ BCE(sigmoid(decoder(z)), x) summed over pixels + KL(q(z|x) || N(0, I)) ]
//!   z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)
//! The loss is summed over the batch as in the example (Adam is invariant to that scale up
//! to its eps); reported losses are per image: the negative ELBO in nats.
//! Shapes: x [B, P] (P = `input`, 784 on MNIST); h [B, 400]; mu, logvar, z [B, 20];
//! logits [B, P].

use crate::graph::{Graph, T};
use crate::kernels::random::Scale;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::hparams::Overrides;
use crate::models::{
    decode_graph, finish_encode, finish_reconstruction, linear_params, Built, GraphKind, Model,
};
use crate::nn::params::{linear_specs, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct Vae {
    pub input: usize,
    pub hidden: usize,
    pub latent: usize,
}

impl Default for Vae {
    fn default() -> Self {
        Vae {
            input: 784,
            hidden: 400,
            latent: 20,
        }
    }
}

impl Vae {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        o.count("hidden", &mut self.hidden)?;
        o.count("latent", &mut self.latent)?;
        Ok(())
    }
}

impl Vae {
    /// Encoder: x [B, P] -> (mu, logvar) [B, D].
    pub(crate) fn encode(&self, g: &mut Graph, x: T) -> Result<(T, T)> {
        let (w1, b1) = linear_params(g, "fc1", self.input, self.hidden);
        let (w21, b21) = linear_params(g, "fc21", self.hidden, self.latent);
        let (w22, b22) = linear_params(g, "fc22", self.hidden, self.latent);
        let h = g.linear(x, w1, b1, true)?;
        g.name("h", h);
        Ok((g.linear(h, w21, b21, false)?, g.linear(h, w22, b22, false)?))
    }

    /// Decoder: z [B, D] -> logits [B, P].
    pub(crate) fn decode(&self, g: &mut Graph, z: T) -> Result<T> {
        let (w3, b3) = linear_params(g, "fc3", self.latent, self.hidden);
        let (w4, b4) = linear_params(g, "fc4", self.hidden, self.input);
        let h3 = g.linear(z, w3, b3, true)?;
        g.name("h3", h3);
        g.linear(h3, w4, b4, false)
    }
}

impl Model for Vae {
    fn name(&self) -> &'static str {
        "vae"
    }

    fn params(&self) -> Vec<ParamSpec> {
        [
            linear_specs("fc1", self.input, self.hidden),
            linear_specs("fc21", self.hidden, self.latent),
            linear_specs("fc22", self.hidden, self.latent),
            linear_specs("fc3", self.latent, self.hidden),
            linear_specs("fc4", self.hidden, self.input),
        ]
        .concat()
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        if kind == GraphKind::Decode {
            return decode_graph(batch, self.latent, |g, z| self.decode(g, z));
        }
        let mut g = Graph::new();
        let x = g.input("x", &[batch, self.input]);
        let (mu, logvar) = self.encode(&mut g, x)?;
        if kind == GraphKind::Encode {
            // The code is the posterior mean.
            return Ok(finish_encode(g, mu, Some(logvar)));
        }
        let (z, kl) = g.gaussian_head(mu, logvar, Scale::LogVar, seed)?;
        let logits = self.decode(&mut g, z)?;
        let rec = g.bce_with_logits(logits, x)?;
        let per_image = g.add(rec, kl)?;
        let loss = g.reduce(per_image, Axis::All, ReduceOp::Sum);
        let kl_sum = g.reduce(kl, Axis::All, ReduceOp::Sum);
        g.metric("loss", loss)?;
        g.metric("kl", kl_sum)?;
        g.names(&[("mu", mu), ("logvar", logvar), ("z", z), ("kl", kl)]);
        g.names(&[("logits", logits), ("rec", rec)]);
        finish_reconstruction(g, kind, loss, logits, mu)
    }
}
