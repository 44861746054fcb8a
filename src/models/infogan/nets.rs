//! InfoGAN's networks: the generator, the discriminator's body and score head, Q's head,
//! and how each pass of D normalises and whether it passes gradients (see mod.rs).
//!
//! Shapes (MNIST): z [B, 74] -> G logits [B, 1, 28, 28]; body [B, hidden]; score [B, 1];
//! Q: category logits [B, 10], mu [B, 2] (and logvar [B, 2] with `cont_std = "learned"`).

use super::InfoGan;
use crate::graph::ops::norm::BatchNorm;
use crate::graph::{Graph, T};
use crate::kernels::conv::Act;
use crate::kernels::elementwise::{Binary, Unary};
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::linear_params;
use crate::Result;

/// One pass of images through D (and Q): whether its parameters are detached, and how its
/// batch norms normalise.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pass {
    /// The generator's view: D's parameters pass no gradient.
    pub frozen: bool,
    pub norm: Norm,
}

/// How a pass's batch norms normalise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Norm {
    /// By the batch, updating the running statistics (training, on real images for D).
    Track,
    /// By the batch alone (training, on generated images).
    BatchOnly,
    /// By the running statistics (evaluation and codes).
    Running,
}

impl Norm {
    pub(super) fn config(self) -> BatchNorm {
        BatchNorm {
            train: self != Norm::Running,
            track_running_stats: self != Norm::BatchOnly,
            ..BatchNorm::default()
        }
    }
}

/// Q's reading of a batch: category logits [B, K], means and (unless `cont_std = "fixed"`)
/// log-variances of the continuous codes [B, C].
pub(super) struct QHead {
    pub cat: T,
    pub mu: T,
    pub logvar: Option<T>,
}

impl InfoGan {
    pub(super) fn code_dim(&self) -> usize {
        self.noise + self.categories + self.continuous
    }

    pub(super) fn inner(&self) -> (usize, usize) {
        (self.image[1] / 4, self.image[2] / 4)
    }

    pub(super) fn flat(&self) -> usize {
        let (h, w) = self.inner();
        self.widths[1] * h * w
    }

    fn bn_relu(&self, g: &mut Graph, x: T, name: &str, c: usize, norm: Norm) -> Result<T> {
        let gamma = g.param(&format!("{name}.weight"), &[c]);
        let beta = g.param(&format!("{name}.bias"), &[c]);
        let y = g.batch_norm(x, name, Some((gamma, beta)), norm.config())?;
        Ok(g.relu(y))
    }

    /// G: codes [B, 74] -> image logits [B, c, H, W]; its batch norms normalise per `norm`.
    pub(super) fn generate(&self, g: &mut Graph, z: T, norm: Norm) -> Result<T> {
        let [c1, c2] = self.widths;
        let batch = g.shape(z)[0];
        let (h, w) = self.inner();
        let (w1, b1) = linear_params(g, "generator.fc1", self.code_dim(), self.hidden);
        let (w2, b2) = linear_params(g, "generator.fc2", self.hidden, self.flat());
        let wt1 = g.param("generator.deconv1.weight", &[c2, c1, 4, 4]);
        let bt1 = g.param("generator.deconv1.bias", &[c1]);
        let wt2 = g.param("generator.deconv2.weight", &[c1, self.image[0], 4, 4]);
        let bt2 = g.param("generator.deconv2.bias", &[self.image[0]]);
        let h1 = g.linear(z, w1, b1, false)?;
        let h1 = self.bn_relu(g, h1, "generator.bn1", self.hidden, norm)?;
        let h2 = g.linear(h1, w2, b2, false)?;
        let map = g.reshape(h2, &[batch, c2, h, w])?;
        let map = self.bn_relu(g, map, "generator.bn2", c2, norm)?;
        let h3 = g.conv_transpose2d(map, wt1, Some(bt1), 2, 1, 0, Act::None)?;
        let h3 = self.bn_relu(g, h3, "generator.bn3", c1, norm)?;
        g.conv_transpose2d(h3, wt2, Some(bt2), 2, 1, 0, Act::None)
    }

    /// A parameter of D or Q, detached when `frozen` (the generator's view of its opponent).
    fn p(g: &mut Graph, name: &str, shape: &[usize], frozen: bool) -> T {
        let t = g.param(name, shape);
        match frozen {
            true => g.detach(t),
            false => t,
        }
    }

    fn fc(&self, g: &mut Graph, x: T, name: &str, io: (usize, usize), frozen: bool) -> Result<T> {
        let w = Self::p(g, &format!("{name}.weight"), &[io.1, io.0], frozen);
        let b = Self::p(g, &format!("{name}.bias"), &[io.1], frozen);
        g.linear(x, w, b, false)
    }

    /// D's body on `images` [B, c, H, W] -> features [B, hidden].
    pub(super) fn body(&self, g: &mut Graph, images: T, pass: Pass) -> Result<T> {
        let [c1, c2] = self.widths;
        let c0 = self.image[0];
        let f = pass.frozen;
        let w1 = Self::p(g, "discriminator.conv1.weight", &[c1, c0, 4, 4], f);
        let b1 = Self::p(g, "discriminator.conv1.bias", &[c1], f);
        let w2 = Self::p(g, "discriminator.conv2.weight", &[c2, c1, 4, 4], f);
        let b2 = Self::p(g, "discriminator.conv2.bias", &[c2], f);
        let h1 = g.conv2d(images, w1, Some(b1), 2, 1, Act::LeakyRelu(self.slope))?;
        let h2 = match self.d_batch_norm {
            false => g.conv2d(h1, w2, Some(b2), 2, 1, Act::LeakyRelu(self.slope))?,
            true => {
                let h2 = g.conv2d(h1, w2, Some(b2), 2, 1, Act::None)?;
                self.batch_norm(g, h2, "discriminator.bn2", c2, pass)?
            }
        };
        let batch = g.shape(images)[0];
        let flat = g.reshape(h2, &[batch, self.flat()])?;
        let h3 = self.fc(g, flat, "discriminator.fc", (self.flat(), self.hidden), f)?;
        match self.d_batch_norm {
            true => self.batch_norm(g, h3, "discriminator.bn3", self.hidden, pass),
            false => Ok(g.leaky_relu(h3, self.slope)),
        }
    }

    /// D's or Q's batch norm as `pass` says, then leaky ReLU.
    fn batch_norm(&self, g: &mut Graph, x: T, name: &str, c: usize, pass: Pass) -> Result<T> {
        let gamma = Self::p(g, &format!("{name}.weight"), &[c], pass.frozen);
        let beta = Self::p(g, &format!("{name}.bias"), &[c], pass.frozen);
        let y = g.batch_norm(x, name, Some((gamma, beta)), pass.norm.config())?;
        Ok(g.leaky_relu(y, self.slope))
    }

    /// D's real-vs-generated logit [B, 1] from body features.
    pub(super) fn score(&self, g: &mut Graph, body: T, frozen: bool) -> Result<T> {
        self.fc(g, body, "discriminator.out", (self.hidden, 1), frozen)
    }

    /// Q's head on body features; its parameters detached when `pass.frozen`.
    pub(super) fn q(&self, g: &mut Graph, body: T, pass: Pass) -> Result<QHead> {
        let f = pass.frozen;
        let h = self.fc(g, body, "q.fc", (self.hidden, self.q_hidden), f)?;
        let h = match self.d_batch_norm {
            true => self.batch_norm(g, h, "q.bn", self.q_hidden, pass)?,
            false => g.leaky_relu(h, self.slope),
        };
        let (k, c) = (self.categories, self.continuous);
        Ok(QHead {
            cat: self.fc(g, h, "q.cat", (self.q_hidden, k), f)?,
            mu: self.fc(g, h, "q.mu", (self.q_hidden, c), f)?,
            logvar: match self.cont_std {
                "learned" => Some(self.fc(g, h, "q.logvar", (self.q_hidden, c), f)?),
                _ => None,
            },
        })
    }

    /// Q's code losses per image: (CE of the category, NLL of the continuous codes,
    /// lambda_cat CE + lambda_cont NLL), each [B].
    pub(super) fn information(
        &self,
        g: &mut Graph,
        q: QHead,
        c_cont: T,
        c_labels: T,
    ) -> Result<(T, T, T)> {
        let cat = g.softmax_xent(q.cat, c_labels)?;
        let cont = Self::gaussian_nll(g, c_cont, q.mu, q.logvar)?;
        let cat_w = g.scale(cat, self.lambda_cat);
        let cont_w = g.scale(cont, self.lambda_cont);
        Ok((cat, cont, g.add(cat_w, cont_w)?))
    }

    /// sum_j [ logvar_j / 2 + (c_j - mu_j)^2 exp(-logvar_j) / 2 ] per row: [B]; with no
    /// log-variance (unit variance) sum_j (c_j - mu_j)^2 / 2. The constant log(2 pi) / 2
    /// per code is left out.
    pub(super) fn gaussian_nll(g: &mut Graph, c: T, mu: T, logvar: Option<T>) -> Result<T> {
        let diff = g.binary(Binary::Sub, c, mu)?;
        let sq = g.unary(Unary::Square, diff);
        let per_dim = match logvar {
            Some(logvar) => {
                let neg = g.scale(logvar, -1.0);
                let precision = g.unary(Unary::Exp, neg);
                let weighted = g.binary(Binary::Mul, sq, precision)?;
                g.add(weighted, logvar)?
            }
            None => sq,
        };
        let per_row = g.reduce(per_dim, Axis::Cols, ReduceOp::Sum);
        Ok(g.scale(per_row, 0.5))
    }

    /// BCE of `score` [B, 1] against the constant label `target`, per row: [B].
    pub(super) fn bce_to(g: &mut Graph, score: T, target: f32, name: &str) -> Result<T> {
        let b = g.shape(score)[0];
        let t = g.constant(name, &[b, 1], vec![target; b])?;
        g.bce_with_logits(score, t)
    }
}
