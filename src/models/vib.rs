//! Deep Variational Information Bottleneck (Alemi et al. 2017) on MNIST:
//!
//!   encoder 784-1024-1024 (ReLU) -> mu [K] and sigma = softplus(rho - 5) [K], K = 256
//!   z = mu + sigma * eps;  decoder: softmax(z W^T + b) over 10 classes
//!   loss = mean_batch [ CE(decoder(z), y) + beta * KL(N(mu, sigma^2) || N(0, I)) ], beta = 1e-3
//! At test time the class probabilities are averaged over 12 draws of z.
//! Two settings reproduce the authors' TensorFlow demo instead of PyTorch conventions:
//! `input = "signed"` feeds 2x - 1 (pixels in [-1, 1]) as the demo does, and
//! `init = "glorot"` starts every layer as TensorFlow's Dense does (Glorot uniform, zero bias).
//! Shapes: x [B, P] (P = 784 on MNIST); h [B, 1024]; mu, sigma, z [B, 256]; logits [B, 10]; labels [B].

use std::collections::BTreeMap;

use crate::graph::{Graph, T};
use crate::kernels::elementwise::Unary;
use crate::kernels::random::Scale;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::hparams::Overrides;
use crate::models::{finish_encode, linear_params, Built, GraphKind, Model};
use crate::nn::params::{glorot_linear_specs, linear_specs, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct Vib {
    /// Pixels per image (784 for MNIST).
    pub input: usize,
    pub hidden: usize,
    pub k: usize,
    pub beta: f32,
    pub test_samples: usize,
    /// "unit": pixels as loaded, in [0, 1]; "signed": 2x - 1, in [-1, 1] (the demo's).
    pub input_range: &'static str,
    /// "pytorch": nn.Linear's default init; "glorot": TensorFlow Dense's (the demo's).
    pub init: &'static str,
}

impl Default for Vib {
    fn default() -> Self {
        Vib {
            input: 784,
            hidden: 1024,
            k: 256,
            beta: 1e-3,
            test_samples: 12,
            input_range: "unit",
            init: "pytorch",
        }
    }
}

impl Vib {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        o.f32("beta", &mut self.beta)?;
        o.count("k", &mut self.k)?;
        o.count("hidden", &mut self.hidden)?;
        o.count("test_samples", &mut self.test_samples)?;
        o.choice("input", &mut self.input_range, &["unit", "signed"])?;
        o.choice("init", &mut self.init, &["pytorch", "glorot"])?;
        Ok(())
    }
}

const CLASSES: usize = 10;

impl Vib {
    /// (mu, sigma) of q(z | x).
    fn encode(&self, g: &mut Graph, x: T) -> Result<(T, T)> {
        let x = match self.input_range {
            "signed" => g.to_signed(x),
            _ => x,
        };
        let (w1, b1) = linear_params(g, "fc1", self.input, self.hidden);
        let (w2, b2) = linear_params(g, "fc2", self.hidden, self.hidden);
        let (wm, bm) = linear_params(g, "fc_mu", self.hidden, self.k);
        let (wr, br) = linear_params(g, "fc_rho", self.hidden, self.k);
        let h1 = g.linear(x, w1, b1, true)?;
        let h2 = g.linear(h1, w2, b2, true)?;
        let mu = g.linear(h2, wm, bm, false)?;
        let rho = g.linear(h2, wr, br, false)?;
        let shifted = g.unary(Unary::AddScalar(-5.0), rho);
        let sigma = g.unary(Unary::Softplus, shifted);
        g.names(&[
            ("h1", h1),
            ("h2", h2),
            ("mu", mu),
            ("rho", rho),
            ("sigma", sigma),
        ]);
        Ok((mu, sigma))
    }

    fn classify(&self, g: &mut Graph, z: T) -> Result<T> {
        let (w, b) = linear_params(g, "decoder", self.k, CLASSES);
        g.linear(z, w, b, false)
    }
}

impl Model for Vib {
    fn name(&self) -> &'static str {
        "vib"
    }

    fn params(&self) -> Vec<ParamSpec> {
        // (name, fan_in, fan_out, the fan-out of the demo's layer): the demo computes mu and
        // rho as halves of one 2K-wide Dense, so Glorot's bound counts 2K there.
        let (h, k) = (self.hidden, self.k);
        let layers = [
            ("fc1", self.input, h, h),
            ("fc2", h, h, h),
            ("fc_mu", h, k, 2 * k),
            ("fc_rho", h, k, 2 * k),
            ("decoder", k, CLASSES, CLASSES),
        ];
        layers
            .iter()
            .flat_map(|&(name, fan_in, fan_out, demo_out)| match self.init {
                "glorot" => glorot_linear_specs(name, fan_in, fan_out, demo_out),
                _ => linear_specs(name, fan_in, fan_out),
            })
            .collect()
    }

    fn latent_dim(&self) -> usize {
        self.k
    }

    fn generative(&self) -> bool {
        false
    }

    fn uses_labels(&self) -> bool {
        true
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        let mut g = Graph::new();
        let x = g.input("x", &[batch, self.input]);
        if kind == GraphKind::Encode {
            // The code is the encoder mean; log sigma^2 = 2 ln sigma (sigma = softplus > 0).
            let (mu, sigma) = self.encode(&mut g, x)?;
            let ln_sigma = g.unary(Unary::Log, sigma);
            let logvar = g.scale(ln_sigma, 2.0);
            return Ok(finish_encode(g, mu, Some(logvar)));
        }
        let labels = g.input_u32("labels", &[batch]);
        let (mu, sigma) = self.encode(&mut g, x)?;
        let (z, kl) = g.gaussian_head(mu, sigma, Scale::Sigma, seed)?;
        let logits = self.classify(&mut g, z)?;
        let ce = g.softmax_xent(logits, labels)?;
        let weighted_kl = g.scale(kl, self.beta);
        let per_sample = g.add(ce, weighted_kl)?;
        g.names(&[("z", z), ("kl", kl), ("logits", logits), ("ce", ce)]);
        let total = g.reduce(per_sample, Axis::All, ReduceOp::Sum);
        let kl_total = g.reduce(kl, Axis::All, ReduceOp::Sum);
        g.metric("loss", total)?;
        g.metric("kl", kl_total)?;
        if kind == GraphKind::Train {
            let loss = g.reduce(per_sample, Axis::All, ReduceOp::Mean);
            g.set_loss(loss)?;
        } else {
            // Average the class probabilities over test_samples draws of z (the first is the
            // draw the loss used; each further head has its own noise stream).
            let mut draws = vec![logits];
            for _ in 1..self.test_samples {
                let (z, _) = g.gaussian_head(mu, sigma, Scale::Sigma, seed)?;
                draws.push(self.classify(&mut g, z)?);
            }
            let probs = g.softmax_mean(&draws)?;
            let correct = g.correct(probs, labels)?;
            let n_correct = g.reduce(correct, Axis::All, ReduceOp::Sum);
            g.metric("correct", n_correct)?;
        }
        Ok(Built {
            graph: g,
            outputs: BTreeMap::new(),
        })
    }
}
