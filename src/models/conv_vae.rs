//! A DCGAN-style convolutional VAE: strided convolutions down, transposed convolutions up, the
//! same loss and outputs as the MLP VAE (`vae.rs`). Image sides must be divisible by 4.
//! Its encoder and decoder (`encode`, `decode`, any widths) are also the convolutional
//! InfoVAE's (`mmd_vae.rs`).
//!
//!   encoder: conv 4x4/2 (c -> 32), leaky ReLU 0.2; conv 4x4/2 (32 -> 64), leaky ReLU 0.2;
//!            flatten; fc 64 (H/4) (W/4) -> 256, ReLU; fc -> mu [20], fc -> logvar [20]
//!   decoder: fc 20 -> 256, ReLU; fc 256 -> 64 (H/4) (W/4), ReLU; reshape [64, H/4, W/4];
//!            conv-transpose 4x4/2 (64 -> 32), ReLU; conv-transpose 4x4/2 (32 -> c) -> logits
//!   loss = sum_batch [ BCE(sigmoid(logits), x) summed over pixels + KL(q(z|x) || N(0, I)) ]
//! Shapes (MNIST): x, logits [B, 1, 28, 28]; h1 [B, 32, 14, 14]; h2 [B, 64, 7, 7];
//! mu, logvar, z [B, 20].

use crate::graph::{Graph, T};
use crate::kernels::conv::Act;
use crate::kernels::random::Scale;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::hparams::Overrides;
use crate::models::{
    decode_graph, finish_encode, finish_reconstruction, linear_params, Built, GraphKind, Model,
};
use crate::nn::params::{conv2d_specs, conv_transpose2d_specs, linear_specs, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct ConvVae {
    /// Input image: channels, height, width (sides divisible by 4: two stride-2 stages).
    pub image: [usize; 3],
    pub widths: [usize; 2],
    pub hidden: usize,
    pub latent: usize,
    /// Negative slope of the leaky ReLUs after the two encoder convolutions.
    pub slope: f32,
}

impl Default for ConvVae {
    fn default() -> Self {
        ConvVae {
            image: [1, 28, 28],
            widths: [32, 64],
            hidden: 256,
            latent: 20,
            slope: 0.2,
        }
    }
}

impl ConvVae {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        o.counts("widths", &mut self.widths)?;
        o.count("hidden", &mut self.hidden)?;
        o.count("latent", &mut self.latent)?;
        Ok(())
    }
}

impl ConvVae {
    /// The inner feature map's (height, width).
    fn inner(&self) -> (usize, usize) {
        (self.image[1] / 4, self.image[2] / 4)
    }

    fn flat(&self) -> usize {
        let (h, w) = self.inner();
        self.widths[1] * h * w
    }

    fn conv(g: &mut Graph, name: &str, shape: [usize; 4]) -> (T, T) {
        let w = g.param(&format!("{name}.weight"), &shape);
        // Conv2d's bias has out = shape[0] channels; ConvTranspose2d's has shape[1].
        let out = if name.starts_with("deconv") {
            shape[1]
        } else {
            shape[0]
        };
        (w, g.param(&format!("{name}.bias"), &[out]))
    }

    /// The input "x" [B, c, H, W] of a `batch`-image graph.
    pub(crate) fn input(&self, g: &mut Graph, batch: usize) -> T {
        let [c, h, w] = self.image;
        g.input("x", &[batch, c, h, w])
    }

    /// (mu, logvar) of q(z | x).
    pub(crate) fn encode(&self, g: &mut Graph, x: T) -> Result<(T, T)> {
        let [c1, c2] = self.widths;
        let (w1, b1) = Self::conv(g, "conv1", [c1, self.image[0], 4, 4]);
        let (w2, b2) = Self::conv(g, "conv2", [c2, c1, 4, 4]);
        let h1 = g.conv2d(x, w1, Some(b1), 2, 1, Act::LeakyRelu(self.slope))?;
        let h2 = g.conv2d(h1, w2, Some(b2), 2, 1, Act::LeakyRelu(self.slope))?;
        let batch = g.shape(x)[0];
        let flat = g.reshape(h2, &[batch, self.flat()])?;
        let (wf, bf) = linear_params(g, "fc1", self.flat(), self.hidden);
        let (wm, bm) = linear_params(g, "fc21", self.hidden, self.latent);
        let (wv, bv) = linear_params(g, "fc22", self.hidden, self.latent);
        let h = g.linear(flat, wf, bf, true)?;
        Ok((g.linear(h, wm, bm, false)?, g.linear(h, wv, bv, false)?))
    }

    /// z [B, D] -> logits [B, c, H, W].
    pub(crate) fn decode(&self, g: &mut Graph, z: T) -> Result<T> {
        let [c1, c2] = self.widths;
        let (w3, b3) = linear_params(g, "fc3", self.latent, self.hidden);
        let (w4, b4) = linear_params(g, "fc4", self.hidden, self.flat());
        let (w5, b5) = Self::conv(g, "deconv1", [c2, c1, 4, 4]);
        let (w6, b6) = Self::conv(g, "deconv2", [c1, self.image[0], 4, 4]);
        let h3 = g.linear(z, w3, b3, true)?;
        let h4 = g.linear(h3, w4, b4, true)?;
        let batch = g.shape(z)[0];
        let (h, w) = self.inner();
        let map = g.reshape(h4, &[batch, c2, h, w])?;
        let h5 = g.conv_transpose2d(map, w5, Some(b5), 2, 1, 0, Act::Relu)?;
        g.conv_transpose2d(h5, w6, Some(b6), 2, 1, 0, Act::None)
    }
}

impl Model for ConvVae {
    fn name(&self) -> &'static str {
        "conv-vae"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let [c1, c2] = self.widths;
        [
            conv2d_specs("conv1", self.image[0], c1, 4),
            conv2d_specs("conv2", c1, c2, 4),
            linear_specs("fc1", self.flat(), self.hidden),
            linear_specs("fc21", self.hidden, self.latent),
            linear_specs("fc22", self.hidden, self.latent),
            linear_specs("fc3", self.latent, self.hidden),
            linear_specs("fc4", self.hidden, self.flat()),
            conv_transpose2d_specs("deconv1", c2, c1, 4),
            conv_transpose2d_specs("deconv2", c1, self.image[0], 4),
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
        let x = self.input(&mut g, batch);
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
        finish_reconstruction(g, kind, loss, logits, mu)
    }
}
