//! InfoGAN's training graphs: the two players' objectives built from the same drawn codes,
//! either in one graph (simultaneous updates: one backward gives each player its own
//! objective's gradient) or in one graph per player (alternating updates: D and Q step
//! first, then G against the updated D, as the official code and PyTorch ports train).
//!
//!   loss_D = BCE(D(x), 1) + BCE(D(sg G(z)), 0) + I(Q(sg G(z)), c)
//!   loss_G = BCE(D'(G(z)), 1) + I(Q'(G(z)), c)        (D', Q': parameters detached)
//! With `q_side = "generator"` the information term leaves loss_D and Q' in loss_G is live
//! (its head steps with G; D's body stays detached).
//! Shapes (MNIST): x, G(z) [B, 1, 28, 28]; codes c_cont [B, 2], c_labels [B]; per-image
//! objectives [B]; metrics are sums over the batch.

use super::nets::{Norm, Pass};
use super::InfoGan;
use crate::graph::{Graph, T};
use crate::kernels::elementwise::Unary;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::Result;

/// The generator's side of a step: the codes drawn on the GPU and the generated images.
pub(super) struct Fakes {
    pub c_cont: T,
    pub c_labels: T,
    /// Generated images in [0, 1], [B, c, H, W].
    pub fake: T,
}

/// D's objective and the pieces the step's metrics read.
pub(super) struct DSide {
    /// loss_D per image [B].
    pub objective: T,
    /// BCE(D(x), 1) + BCE(D(sg G(z)), 0) per image.
    pub gan: T,
    pub real_score: T,
    pub fake_score: T,
    pub info_cat: T,
    pub info_cont: T,
    /// lambda_cat CE + lambda_cont NLL per image (the information term).
    pub info: T,
}

impl InfoGan {
    /// Draw the codes on the GPU (the same draws in every graph built with `seed`: each draw
    /// op's stream is its position among the graph's draws) and generate; G's batch norms
    /// normalise as `norm` says.
    pub(super) fn fakes(
        &self,
        g: &mut Graph,
        batch: usize,
        seed: u64,
        norm: Norm,
    ) -> Result<Fakes> {
        let noise = match self.noise_prior {
            "uniform" => {
                let u = g.uniform(&[batch, self.noise], seed);
                g.to_signed(u)
            }
            _ => g.normal(&[batch, self.noise], seed),
        };
        let u = g.uniform(&[batch, self.continuous], seed);
        let c_cont = g.to_signed(u);
        let (one_hot, labels) = self.stratified_categories(batch);
        let c_cat = g.constant("c_cat", &[batch, self.categories], one_hot)?;
        let c_labels = g.constant_u32("c_labels", &[batch], &labels)?;
        let nc = g.concat_features(noise, c_cat)?;
        let z = g.concat_features(nc, c_cont)?;
        let logits = self.generate(g, z, norm)?;
        let fake = g.unary(Unary::Sigmoid, logits);
        Ok(Fakes {
            c_cont,
            c_labels,
            fake,
        })
    }

    /// D's objective on real images `x` and the detached fakes. In training, D's running
    /// statistics follow real images only (what codes are read from) and Q's the generated
    /// images it learns on; `train = false` normalises by the running statistics. The
    /// information term sits on D's side too: Q on D's live body over the detached fakes, so
    /// it trains Q's head and D's shared body (the official code adds it to D's loss).
    pub(super) fn d_side(&self, g: &mut Graph, x: T, f: &Fakes, train: bool) -> Result<DSide> {
        let norm = |n: Norm| if train { n } else { Norm::Running };
        let live = |norm| Pass {
            frozen: false,
            norm,
        };
        let real_body = self.body(g, x, live(norm(Norm::Track)))?;
        let real_score = self.score(g, real_body, false)?;
        let fake_sg = g.detach(f.fake);
        let fake_body = self.body(g, fake_sg, live(norm(Norm::BatchOnly)))?;
        let fake_score = self.score(g, fake_body, false)?;
        let d_real = Self::bce_to(g, real_score, 1.0, "ones")?;
        let d_fake = Self::bce_to(g, fake_score, 0.0, "zeros")?;
        let gan = g.add(d_real, d_fake)?;
        let q = self.q(g, fake_body, live(norm(Norm::Track)))?;
        let (info_cat, info_cont, info) = self.information(g, q, f.c_cont, f.c_labels)?;
        // With Q on G's side the term here only feeds the metrics (and Q's running
        // statistics): nothing of it reaches D's gradient.
        let objective = match self.q_side {
            "discriminator" => g.add(gan, info)?,
            _ => gan,
        };
        Ok(DSide {
            objective,
            gan,
            real_score,
            fake_score,
            info_cat,
            info_cont,
            info,
        })
    }

    /// G's objective per image [B]: fool D and make the codes recoverable by Q, both with
    /// their parameters detached; D's batch norms normalise the fakes by their own batch
    /// (`norm`: BatchOnly in training, Running in evaluation).
    pub(super) fn g_side(&self, g: &mut Graph, f: &Fakes, norm: Norm) -> Result<(T, T)> {
        let frozen = Pass { frozen: true, norm };
        let seen_body = self.body(g, f.fake, frozen)?;
        let seen_score = self.score(g, seen_body, true)?;
        let q_pass = Pass {
            frozen: self.q_side == "discriminator",
            norm,
        };
        let q_seen = self.q(g, seen_body, q_pass)?;
        let gan = Self::bce_to(g, seen_score, 1.0, "ones_g")?;
        let (_, _, info) = self.information(g, q_seen, f.c_cont, f.c_labels)?;
        Ok((g.add(gan, info)?, gan))
    }

    /// The step's metrics, summed over the batch: loss (both objectives), d_loss and g_loss
    /// (the GAN terms), info_cat, info_cont, and mean D(x) and D(G(z)) as probabilities.
    /// Returns both objectives per image [B] (the simultaneous graph's loss).
    pub(super) fn game_metrics(
        &self,
        g: &mut Graph,
        d: &DSide,
        g_objective: T,
        g_gan: T,
    ) -> Result<T> {
        let per_image = g.add(d.objective, g_objective)?;
        let total = Self::sum(g, per_image);
        g.metric("loss", total)?;
        for (name, t) in [
            ("d_loss", d.gan),
            ("g_loss", g_gan),
            ("info_cat", d.info_cat),
            ("info_cont", d.info_cont),
        ] {
            let s = Self::sum(g, t);
            g.metric(name, s)?;
        }
        for (name, score) in [("d_of_x", d.real_score), ("d_of_g", d.fake_score)] {
            let p = g.unary(Unary::Sigmoid, score);
            let s = Self::sum(g, p);
            g.metric(name, s)?;
        }
        Ok(per_image)
    }

    /// Both objectives in one graph (simultaneous updates, and evaluation): the loss is
    /// their sum, whose gradient gives each player its own objective's (see mod.rs).
    pub(super) fn simultaneous(
        &self,
        g: &mut Graph,
        x: T,
        batch: usize,
        seed: u64,
        train: bool,
    ) -> Result<()> {
        let g_norm = if train { Norm::Track } else { Norm::Running };
        let f = self.fakes(g, batch, seed, g_norm)?;
        let d = self.d_side(g, x, &f, train)?;
        let d_pass = if train {
            Norm::BatchOnly
        } else {
            Norm::Running
        };
        let (g_objective, g_gan) = self.g_side(g, &f, d_pass)?;
        // Each player's objective per image, by name (the gradient test checks each player's
        // parameters against its own objective).
        g.names(&[("d_objective", d.objective), ("g_objective", g_objective)]);
        let per_image = self.game_metrics(g, &d, g_objective, g_gan)?;
        if train {
            let mean = g.reduce(per_image, Axis::All, ReduceOp::Mean);
            g.set_loss(mean)?;
        }
        Ok(())
    }

    /// Player 0 of alternating updates: D and Q on loss_D. G runs forward only, normalising
    /// by its batch without touching its running statistics (player 1's pass updates them,
    /// on the same draws). The metrics are the simultaneous graph's, read off this pass: G's
    /// objective on a detached D equals BCE(D(sg G(z)), 1) + the same information term.
    pub(super) fn d_player(&self, g: &mut Graph, x: T, batch: usize, seed: u64) -> Result<()> {
        let f = self.fakes(g, batch, seed, Norm::BatchOnly)?;
        let d = self.d_side(g, x, &f, true)?;
        let g_gan = Self::bce_to(g, d.fake_score, 1.0, "ones_g")?;
        let g_objective = g.add(g_gan, d.info)?;
        g.names(&[("d_objective", d.objective)]);
        self.game_metrics(g, &d, g_objective, g_gan)?;
        let mean = g.reduce(d.objective, Axis::All, ReduceOp::Mean);
        g.set_loss(mean)
    }

    /// Player 1 of alternating updates: G on loss_G against the D and Q player 0 has just
    /// updated, on the same drawn codes (so the same G(z) before G's step).
    pub(super) fn g_player(&self, g: &mut Graph, batch: usize, seed: u64) -> Result<()> {
        let f = self.fakes(g, batch, seed, Norm::Track)?;
        let (g_objective, _) = self.g_side(g, &f, Norm::BatchOnly)?;
        g.names(&[("g_objective", g_objective)]);
        let mean = g.reduce(g_objective, Axis::All, ReduceOp::Mean);
        g.set_loss(mean)
    }

    pub(super) fn sum(g: &mut Graph, x: T) -> T {
        g.reduce(x, Axis::All, ReduceOp::Sum)
    }
}
