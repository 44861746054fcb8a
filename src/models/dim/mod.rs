//! Deep InfoMax (Hjelm et al. 2019), the end-to-end variant: an encoder whose code z must tell
//! its own image apart from the others in the batch, globally and at every position of a
//! local feature map, with a KL pull of p(z|x) towards N(0, I) instead of an adversarial prior.
//!
//!   blocks [conv 3x3 -> BN -> leaky ReLU 0.2 -> max pool 2]: x -> C(x) [c2, h, w]
//!   conv 3x3 -> BN -> leaky ReLU -> global average pool: summary s(x);  (mu, logvar) = fc(s)
//!   (`head = "fc"`: flatten -> fc -> BN -> leaky ReLU instead of the pool, the reference
//!   encoders' head: a pooled summary forgets where strokes sit, which tells 6 from 9)
//!   z = mu + exp(logvar / 2) eps;  z' = z shuffled within the batch (a derangement)
//!   T1(s, z) = MLP([s, z]);  T2(C_ij, z) = 1x1 convs over [C_ij(x), z] at every position ij
//!   JS(T) = E_pos[-softplus(-T)] - E_neg[softplus(T)]   (the Jensen-Shannon bound)
//!   loss = -alpha JS(T1) - (beta / hw) sum_ij JS(T2_ij) + gamma KL(p(z|x) || N(0, I))
//! Positive pairs pair an image's own features with its own z; negatives with another image's.
//! Defaults alpha 0.5, beta 1.5, gamma 0.01 (the reference configuration). These are the
//! "concat" critics; `critic = "dot"` swaps in encode-and-dot-product critics scored over
//! all pairs of the batch (dot.rs), the official implementation's.
//! The loss is summed over the batch (reported per image). The code used for evaluation is mu.
//! Shapes: x [B, C, H, W]; C(x) [B, c2, H/4, W/4]; s [B, S] (S = c3, or head_hidden for
//! the fc head); mu, logvar, z [B, D]; global pairs [B, S + D]; local pairs [B, c2 + D, H/4, W/4]; scores [B] and [B, 1, H/4, W/4].

use std::collections::BTreeMap;

use crate::graph::ops::norm::BatchNorm;
use crate::graph::{Graph, T};
use crate::kernels::conv::Act;
use crate::kernels::elementwise::Unary;
use crate::kernels::random::Scale;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::kernels::shuffle::PermKind;
use crate::models::hparams::Overrides;
use crate::models::{finish_encode, linear_params, Built, GraphKind, Model};
use crate::nn::params::{batch_norm_specs, conv2d_specs, linear_specs, ParamSpec};
use crate::Result;

mod dot;

#[derive(Debug, Clone)]
pub struct Dim {
    /// Input image: channels, height, width (height and width divisible by 4).
    pub image: [usize; 3],
    /// Channels of the three conv blocks; the second block's output is C(x).
    pub widths: [usize; 3],
    pub latent: usize,
    /// Hidden units of both discriminators.
    pub disc_hidden: usize,
    pub alpha: f32,
    pub beta: f32,
    pub gamma: f32,
    /// "concat": T1, T2 score concatenated pairs, one shuffled negative per positive;
    /// "dot": encode-and-dot-product over all pairs of the batch (dot.rs).
    pub critic: &'static str,
    /// How the last conv map becomes the summary s(x): "pool" (global average pooling, the
    /// layout-free summary this model started with) or "fc" (flatten -> fc -> BN -> leaky
    /// ReLU, the reference encoders' head, which keeps where each feature sits).
    pub head: &'static str,
    /// Units of the "fc" head (the summary's width there).
    pub head_hidden: usize,
}

impl Default for Dim {
    fn default() -> Self {
        Dim {
            image: [1, 28, 28],
            // Small enough for a CPU adapter (~6 MFLOP per image forward at 28x28); the
            // reference's widths (64, 128, 256, 512) cost ~20x more.
            widths: [16, 32, 64],
            latent: 64,
            disc_hidden: 128,
            alpha: 0.5,
            beta: 1.5,
            gamma: 0.01,
            critic: "concat",
            head: "pool",
            head_hidden: 1024,
        }
    }
}

impl Dim {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        o.counts("widths", &mut self.widths)?;
        o.count("latent", &mut self.latent)?;
        o.count("disc_hidden", &mut self.disc_hidden)?;
        o.f32("alpha", &mut self.alpha)?;
        o.f32("beta", &mut self.beta)?;
        o.f32("gamma", &mut self.gamma)?;
        o.choice("critic", &mut self.critic, &["concat", "dot"])?;
        o.choice("head", &mut self.head, &["pool", "fc"])?;
        o.count("head_hidden", &mut self.head_hidden)?;
        Ok(())
    }
}

const SLOPE: f32 = 0.2;

impl Dim {
    /// Positions of the local map C(x): (H / 4) (W / 4).
    fn local_positions(&self) -> usize {
        (self.image[1] / 4) * (self.image[2] / 4)
    }

    /// Width of the summary s(x): the last conv's channels (pool) or the fc head's units.
    fn summary_dim(&self) -> usize {
        match self.head {
            "fc" => self.head_hidden,
            _ => self.widths[2],
        }
    }

    /// Values of the last conv map, flattened (the fc head's fan-in).
    fn last_map_len(&self) -> usize {
        self.widths[2] * self.local_positions()
    }

    fn bn(&self, kind: GraphKind) -> BatchNorm {
        BatchNorm {
            train: kind == GraphKind::Train,
            ..BatchNorm::default()
        }
    }

    /// conv 3x3 (no bias: the batch norm after it has one) -> BN -> leaky ReLU.
    fn conv_block(
        &self,
        g: &mut Graph,
        x: T,
        name: &str,
        cin: usize,
        cout: usize,
        kind: GraphKind,
    ) -> Result<T> {
        let w = g.param(&format!("{name}.weight"), &[cout, cin, 3, 3]);
        let gamma = g.param(&format!("{name}_bn.weight"), &[cout]);
        let beta = g.param(&format!("{name}_bn.bias"), &[cout]);
        let y = g.conv2d(x, w, None, 1, 1, Act::None)?;
        let y = g.batch_norm(y, &format!("{name}_bn"), Some((gamma, beta)), self.bn(kind))?;
        Ok(g.leaky_relu(y, SLOPE))
    }

    /// x -> (C(x), s(x), mu, logvar).
    fn encode(&self, g: &mut Graph, x: T, kind: GraphKind) -> Result<(T, T, T, T)> {
        let [c0, _, _] = self.image;
        let [c1, c2, c3] = self.widths;
        let h1 = self.conv_block(g, x, "conv1", c0, c1, kind)?;
        let p1 = g.max_pool2d(h1, 2)?;
        let h2 = self.conv_block(g, p1, "conv2", c1, c2, kind)?;
        let local = g.max_pool2d(h2, 2)?;
        let h3 = self.conv_block(g, local, "conv3", c2, c3, kind)?;
        let summary = match self.head {
            "fc" => {
                let flat = g.reshape(h3, &[g.shape(h3)[0], self.last_map_len()])?;
                let (wh, bh) = linear_params(g, "fc_head", self.last_map_len(), self.head_hidden);
                let gamma = g.param("fc_head_bn.weight", &[self.head_hidden]);
                let beta = g.param("fc_head_bn.bias", &[self.head_hidden]);
                let h = g.linear(flat, wh, bh, false)?;
                let h = g.batch_norm(h, "fc_head_bn", Some((gamma, beta)), self.bn(kind))?;
                g.leaky_relu(h, SLOPE)
            }
            _ => g.global_avg_pool(h3)?,
        };
        let s = self.summary_dim();
        let (wm, bm) = linear_params(g, "fc_mu", s, self.latent);
        let (wv, bv) = linear_params(g, "fc_logvar", s, self.latent);
        let mu = g.linear(summary, wm, bm, false)?;
        let logvar = g.linear(summary, wv, bv, false)?;
        Ok((local, summary, mu, logvar))
    }

    /// T1(s, z) [B]: a two-layer MLP on the concatenated pair.
    fn global_score(&self, g: &mut Graph, s: T, z: T) -> Result<T> {
        let s_dim = self.summary_dim();
        let (w1, b1) = linear_params(g, "t1.fc1", s_dim + self.latent, self.disc_hidden);
        let (w2, b2) = linear_params(g, "t1.fc2", self.disc_hidden, 1);
        let pair = g.concat_features(s, z)?;
        let h = g.linear(pair, w1, b1, true)?;
        let t = g.linear(h, w2, b2, false)?;
        let b = g.shape(t)[0];
        g.reshape(t, &[b])
    }

    /// T2(C_ij, z) [B, 1, h, w]: 1x1 convolutions over [C(x), z broadcast over positions].
    fn local_scores(&self, g: &mut Graph, local: T, z: T) -> Result<T> {
        let c2 = self.widths[1];
        let w1 = g.param(
            "t2.conv1.weight",
            &[self.disc_hidden, c2 + self.latent, 1, 1],
        );
        let b1 = g.param("t2.conv1.bias", &[self.disc_hidden]);
        let w2 = g.param("t2.conv2.weight", &[1, self.disc_hidden, 1, 1]);
        let b2 = g.param("t2.conv2.bias", &[1]);
        let pairs = g.concat_map_vec(local, z)?;
        let h = g.conv2d(pairs, w1, Some(b1), 1, 0, Act::Relu)?;
        g.conv2d(h, w2, Some(b2), 1, 0, Act::None)
    }

    /// Per-sample -JS terms, softplus(-T_pos) + softplus(T_neg), summed over positions:
    /// [B] for global scores, [B] (sum over hw) for local ones.
    fn neg_js(&self, g: &mut Graph, pos: T, neg: T) -> Result<T> {
        let flipped = g.scale(pos, -1.0);
        let sp_pos = g.unary(Unary::Softplus, flipped);
        let sp_neg = g.unary(Unary::Softplus, neg);
        let both = g.add(sp_pos, sp_neg)?;
        Ok(match g.shape(both).len() {
            1 => both,
            _ => g.sum_rows_of(both),
        })
    }
}

impl Model for Dim {
    fn name(&self) -> &'static str {
        "dim"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let [c0, _, _] = self.image;
        let [c1, c2, c3] = self.widths;
        let mut p = Vec::new();
        for (name, cin, cout) in [("conv1", c0, c1), ("conv2", c1, c2), ("conv3", c2, c3)] {
            p.push(conv2d_specs(name, cin, cout, 3)[0].clone());
            p.extend(batch_norm_specs(&format!("{name}_bn"), cout).0);
        }
        if self.head == "fc" {
            p.extend(linear_specs(
                "fc_head",
                self.last_map_len(),
                self.head_hidden,
            ));
            p.extend(batch_norm_specs("fc_head_bn", self.head_hidden).0);
        }
        let s = self.summary_dim();
        p.extend(linear_specs("fc_mu", s, self.latent));
        p.extend(linear_specs("fc_logvar", s, self.latent));
        if self.critic == "dot" {
            p.extend(self.dot_specs());
            return p;
        }
        p.extend(linear_specs("t1.fc1", s + self.latent, self.disc_hidden));
        p.extend(linear_specs("t1.fc2", self.disc_hidden, 1));
        p.extend(conv2d_specs(
            "t2.conv1",
            c2 + self.latent,
            self.disc_hidden,
            1,
        ));
        p.extend(conv2d_specs("t2.conv2", self.disc_hidden, 1, 1));
        p
    }

    fn state(&self) -> Vec<ParamSpec> {
        let [c1, c2, c3] = self.widths;
        let mut layers = vec![("conv1", c1), ("conv2", c2), ("conv3", c3)];
        if self.head == "fc" {
            layers.push(("fc_head", self.head_hidden));
        }
        layers
            .iter()
            .flat_map(|(name, c)| batch_norm_specs(&format!("{name}_bn"), *c).1)
            .collect()
    }

    fn latent_dim(&self) -> usize {
        self.latent
    }

    fn generative(&self) -> bool {
        false
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        let [c, h, w] = self.image;
        let mut g = Graph::new();
        let x = g.input("x", &[batch, c, h, w]);
        let (local, summary, mu, logvar) = self.encode(&mut g, x, kind)?;
        if kind == GraphKind::Encode {
            // The code is the encoder mean; the local map and the summary are there for
            // `eval --layer` (the paper also probes its conv and fc layers).
            let mut built = finish_encode(g, mu, Some(logvar));
            let g = &mut built.graph;
            built.outputs.insert("local", g.output("local", local));
            built
                .outputs
                .insert("summary", g.output("summary", summary));
            return Ok(built);
        }
        let (z, kl) = g.gaussian_head(mu, logvar, Scale::LogVar, seed)?;
        let (global, local_sum) = match self.critic {
            "dot" => (
                self.dot_global(&mut g, local, z)?,
                self.dot_local(&mut g, local, z)?,
            ),
            _ => {
                let z_other = g.shuffle_rows(z, PermKind::Derangement, seed)?;
                let global_pos = self.global_score(&mut g, summary, z)?;
                let global_neg = self.global_score(&mut g, summary, z_other)?;
                let local_pos = self.local_scores(&mut g, local, z)?;
                let local_neg = self.local_scores(&mut g, local, z_other)?;
                (
                    self.neg_js(&mut g, global_pos, global_neg)?,
                    self.neg_js(&mut g, local_pos, local_neg)?,
                )
            }
        };
        let hw = self.local_positions() as f32;

        // Per image: alpha (-JS_global) + beta/hw sum_ij (-JS_local_ij) + gamma KL.
        let a = g.scale(global, self.alpha);
        let b = g.scale(local_sum, self.beta / hw);
        let k = g.scale(kl, self.gamma);
        let ab = g.add(a, b)?;
        let per_image = g.add(ab, k)?;
        let loss = g.reduce(per_image, Axis::All, ReduceOp::Sum);
        g.metric("loss", loss)?;
        let kl_sum = g.reduce(kl, Axis::All, ReduceOp::Sum);
        g.metric("kl", kl_sum)?;
        // The JS estimates of I(x; z), per image: -(softplus(-T+) + softplus(T-)).
        let js_global = g.reduce(global, Axis::All, ReduceOp::Sum);
        let js_global = g.scale(js_global, -1.0);
        g.metric("js_global", js_global)?;
        let js_local = g.reduce(local_sum, Axis::All, ReduceOp::Sum);
        let js_local = g.scale(js_local, -1.0 / hw);
        g.metric("js_local", js_local)?;
        if kind == GraphKind::Train {
            g.set_loss(loss)?;
        }
        Ok(Built {
            graph: g,
            outputs: BTreeMap::new(),
        })
    }
}
