//! InfoGAN (Chen et al. 2016) on MNIST: a DCGAN-style GAN whose generator input carries codes
//! that a head Q, sharing the discriminator's body, must recover from the generated image;
//! maximising that (variational) mutual information makes the codes mean something.
//!
//!   codes: c_cat one-hot over 10 categories, c_cont ~ U[-1, 1]^2, noise n ~ U[-1, 1]^62
//!          (the official MNIST experiment's; N(0, I) with `noise_prior = "normal"`);
//!          z = [n | c_cat | c_cont]. Row i of a batch takes category i mod 10 (a stratified
//!          draw of the uniform categorical: every batch holds each category equally often).
//!   G:  fc 74 -> 1024, BN, ReLU; fc -> 128 (H/4)(W/4), reshape, BN, ReLU;
//!       conv-transpose 4x4/2 (128 -> 64), BN, ReLU; conv-transpose 4x4/2 (64 -> c) -> logits
//!   D body: conv 4x4/2 (c -> 64), lReLU 0.01; conv 4x4/2 (64 -> 128), BN, lReLU;
//!           fc -> 1024, BN, lReLU
//!   D head: fc 1024 -> 1;  Q head: fc 1024 -> 128, BN, lReLU; fc -> 10 (category logits),
//!           fc -> 2 (means of c_cont) [, fc -> 2 (their log-variances), `cont_std = "learned"`]
//!   I(Q, c) = lambda_cat CE(Q_cat, c_cat) + lambda_cont NLL(c_cont | Q_mu)
//!   loss_D = BCE(D(x), 1) + BCE(D(sg G(z)), 0) + I(Q(sg G(z)), c)
//!   loss_G = BCE(D'(G(z)), 1) + I(Q'(G(z)), c)
//!   NLL(c | mu) = sum_j (c_j - mu_j)^2 / 2 (unit variance, the official `fix_std`), or
//!   sum_j [ logvar_j / 2 + (c_j - mu_j)^2 / (2 exp(logvar_j)) ] with `cont_std = "learned"`
//! sg is stop-gradient (detach); D' and Q' are D and Q with their parameters detached. The
//! information term sits in both players' losses, as in the official code: it trains Q's head
//! and the body Q shares with D (on D's side) and makes G's codes recoverable (on G's).
//! G steps at 5x the learning rate of D and Q (1e-3 vs 2e-4, the paper's). By default each
//! player has its own graph (game.rs): D and Q step first, then G against the updated D, on
//! the same drawn codes, as the official code trains; `updates = "simultaneous"` takes one
//! backward pass of loss_D + loss_G, which gives D's and Q's parameters loss_D's gradient
//! only and G's loss_G's only, and both players step at once.
//! The defaults (uniform noise, unit-variance continuous codes, slope 0.01, alternating
//! updates) are the official MNIST experiment's, with the lambda_cont = 0.1; they
//! replaced N(0, I) noise, learned variances, slope 0.1 and simultaneous updates, whose
//! categories split the 1s over two rows and merged 4 with 9 (README, InfoGAN recipes).
//! With `q_side = "generator"` (the PyTorch ports) loss_D is the GAN term alone and Q's
//! head steps with G on loss_G = BCE(D'(G(z)), 1) + I(Q(B'(G(z))), c), B' D's body detached.
//! D sees real and generated batches in separate passes, each normalised by its own
//! batch statistics (as PyTorch does with two calls); only the real pass updates D's running
//! statistics, which evaluation and the codes of real images then use, so a code depends on
//! its image alone. Q's batch norm tracks the generated images it learns on.
//! Widths are the paper's halves by default (32, 64, fc 512) to fit a CPU adapter; the paper's
//! (64, 128, fc 1024) are a config away.
//! Shapes (MNIST): x, G(z) [B, 1, 28, 28]; z [B, 74]; D body [B, 512]; scores [B, 1];
//! category logits [B, 10]; c_cont, mu, logvar [B, 2]. Encode codes [B, 12]: the category
//! logits then the continuous means of Q on real images.

use std::collections::BTreeMap;

use nets::{Norm, Pass};

use crate::graph::Graph;
use crate::models::hparams::Overrides;
use crate::models::{decode_graph, Built, GraphKind, Model};
use crate::nn::params::{
    batch_norm_specs, conv2d_specs, conv_transpose2d_specs, linear_specs, ParamSpec,
};
mod codes;
mod game;
mod nets;

use crate::Result;

#[derive(Debug, Clone)]
pub struct InfoGan {
    /// Image: channels, height, width (sides divisible by 4).
    pub image: [usize; 3],
    pub noise: usize,
    pub categories: usize,
    pub continuous: usize,
    /// Channels of the two conv stages (G mirrors D).
    pub widths: [usize; 2],
    /// Units of G's first and D's last hidden layer.
    pub hidden: usize,
    /// Units of Q's hidden layer.
    pub q_hidden: usize,
    pub lambda_cat: f32,
    pub lambda_cont: f32,
    /// Batch norm in D's body and Q's head (always on batch statistics: see the header).
    pub d_batch_norm: bool,
    /// "simultaneous": both players step at once from one graph; "alternating": D and Q
    /// step first, then G against the updated D (game.rs).
    pub updates: &'static str,
    /// The incompressible noise's prior: "normal" N(0, I) or "uniform" U[-1, 1] (the
    /// official MNIST experiment's), which weighs less against the one-hot category at G's
    /// input (expected squared norm 62 / 3 instead of 62).
    pub noise_prior: &'static str,
    /// Q's reading of the continuous codes: "learned" (a mean and a log-variance per code)
    /// or "fixed" (a mean, unit variance: the official MNIST experiment's `fix_std`, whose
    /// NLL is (c - mu)^2 / 2 and whose pull on G does not grow as Q grows confident).
    pub cont_std: &'static str,
    /// Which player trains Q's head: "discriminator" (the official code: the information
    /// term sits in both losses, so it also shapes D's body) or "generator" (the PyTorch
    /// ports: only G's loss holds it, Q's head steps with G at G's rate, and D's body
    /// learns from the real-vs-fake loss alone).
    pub q_side: &'static str,
    /// Negative slope of the leaky ReLUs in D and Q (0.1 in the PyTorch ports; the
    /// official code's prettytensor default is 0.01).
    pub slope: f32,
}

impl Default for InfoGan {
    fn default() -> Self {
        InfoGan {
            image: [1, 28, 28],
            noise: 62,
            categories: 10,
            continuous: 2,
            widths: [32, 64],
            hidden: 512,
            q_hidden: 128,
            lambda_cat: 1.0,
            lambda_cont: 0.1,
            d_batch_norm: true,
            updates: "alternating",
            noise_prior: "uniform",
            cont_std: "fixed",
            q_side: "discriminator",
            slope: 0.01,
        }
    }
}

impl InfoGan {
    /// Apply `--hparam` overrides (see models::hparams).
    pub fn tune(&mut self, o: &mut Overrides) -> Result<()> {
        o.counts("widths", &mut self.widths)?;
        o.count("hidden", &mut self.hidden)?;
        o.count("q_hidden", &mut self.q_hidden)?;
        o.count("noise", &mut self.noise)?;
        o.f32("lambda_cat", &mut self.lambda_cat)?;
        o.f32("lambda_cont", &mut self.lambda_cont)?;
        o.choice(
            "updates",
            &mut self.updates,
            &["simultaneous", "alternating"],
        )?;
        o.choice("noise_prior", &mut self.noise_prior, &["normal", "uniform"])?;
        o.choice("cont_std", &mut self.cont_std, &["learned", "fixed"])?;
        o.choice("q_side", &mut self.q_side, &["discriminator", "generator"])?;
        o.f32_in("slope", &mut self.slope, 0.0, 1.0)?;
        Ok(())
    }

    /// Whether parameter `name` steps with the generator: G's own, and Q's head when
    /// `q_side = "generator"`.
    fn on_generator_side(&self, name: &str) -> bool {
        name.starts_with("generator.") || (self.q_side == "generator" && name.starts_with("q."))
    }
}

impl Model for InfoGan {
    fn name(&self) -> &'static str {
        "infogan"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let [c1, c2] = self.widths;
        let c0 = self.image[0];
        let (k, c) = (self.categories, self.continuous);
        let mut specs = Vec::new();
        specs.extend(linear_specs("generator.fc1", self.code_dim(), self.hidden));
        specs.extend(batch_norm_specs("generator.bn1", self.hidden).0);
        specs.extend(linear_specs("generator.fc2", self.hidden, self.flat()));
        specs.extend(batch_norm_specs("generator.bn2", c2).0);
        specs.extend(conv_transpose2d_specs("generator.deconv1", c2, c1, 4));
        specs.extend(batch_norm_specs("generator.bn3", c1).0);
        specs.extend(conv_transpose2d_specs("generator.deconv2", c1, c0, 4));
        specs.extend(conv2d_specs("discriminator.conv1", c0, c1, 4));
        specs.extend(conv2d_specs("discriminator.conv2", c1, c2, 4));
        let bn = self.d_batch_norm;
        let d_bn = |name: &str, c: usize| batch_norm_specs(name, c).0;
        if bn {
            specs.extend(d_bn("discriminator.bn2", c2));
        }
        specs.extend(linear_specs("discriminator.fc", self.flat(), self.hidden));
        if bn {
            specs.extend(d_bn("discriminator.bn3", self.hidden));
        }
        specs.extend(linear_specs("discriminator.out", self.hidden, 1));
        specs.extend(linear_specs("q.fc", self.hidden, self.q_hidden));
        if bn {
            specs.extend(d_bn("q.bn", self.q_hidden));
        }
        specs.extend(linear_specs("q.cat", self.q_hidden, k));
        specs.extend(linear_specs("q.mu", self.q_hidden, c));
        if self.cont_std == "learned" {
            specs.extend(linear_specs("q.logvar", self.q_hidden, c));
        }
        specs
    }

    fn state(&self) -> Vec<ParamSpec> {
        let [c1, c2] = self.widths;
        let mut state = [
            batch_norm_specs("generator.bn1", self.hidden).1,
            batch_norm_specs("generator.bn2", c2).1,
            batch_norm_specs("generator.bn3", c1).1,
        ]
        .concat();
        if self.d_batch_norm {
            for (name, c) in [
                ("discriminator.bn2", c2),
                ("discriminator.bn3", self.hidden),
                ("q.bn", self.q_hidden),
            ] {
                state.extend(batch_norm_specs(name, c).1);
            }
        }
        state
    }

    fn latent_dim(&self) -> usize {
        self.code_dim()
    }

    /// The paper's rates: the generator at 1e-3, the discriminator at 2e-4 (the run's --lr);
    /// Q's head at its player's rate.
    fn lr_multiplier(&self, name: &str) -> f64 {
        match self.on_generator_side(name) {
            true => 5.0,
            false => 1.0,
        }
    }

    fn code_dim(&self) -> usize {
        self.categories + self.continuous
    }

    fn categorical_code(&self) -> Option<usize> {
        Some(self.categories)
    }

    /// Noise N(0, I), category i mod K (so a 10-column grid shows one category per column),
    /// continuous codes U[-1, 1].
    fn sample_latent(&self, n: usize, seed: u64) -> Vec<f32> {
        self.sample_codes(n, seed)
    }

    fn code_grids(&self, seed: u64) -> Option<Vec<(String, Vec<f32>)>> {
        Some(self.sweep_grids(seed))
    }

    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built> {
        if kind == GraphKind::Decode {
            return decode_graph(batch, self.code_dim(), |g, z| {
                self.generate(g, z, Norm::Running)
            });
        }
        let mut g = Graph::new();
        let [c, h, w] = self.image;
        let x = g.input("x", &[batch, c, h, w]);
        if kind == GraphKind::Encode {
            // The code of a real image: Q's category logits and continuous means.
            let eval = Pass {
                frozen: false,
                norm: Norm::Running,
            };
            let body = self.body(&mut g, x, eval)?;
            let q = self.q(&mut g, body, eval)?;
            let codes = g.concat_features(q.cat, q.mu)?;
            let outputs = BTreeMap::from([("codes", g.output("codes", codes))]);
            return Ok(Built { graph: g, outputs });
        }
        self.simultaneous(&mut g, x, batch, seed, kind == GraphKind::Train)?;
        Ok(Built {
            graph: g,
            outputs: BTreeMap::new(),
        })
    }

    fn players(&self) -> usize {
        match self.updates {
            "alternating" => 2,
            _ => 1,
        }
    }

    /// With alternating updates player 0 is D (with Q's head unless `q_side = "generator"`),
    /// player 1 the generator; simultaneous updates have one player.
    fn player_of(&self, name: &str) -> usize {
        (self.players() > 1 && self.on_generator_side(name)) as usize
    }

    fn build_player(&self, player: usize, batch: usize, seed: u64) -> Result<Built> {
        if self.players() == 1 {
            return self.build(GraphKind::Train, batch, seed);
        }
        let mut g = Graph::new();
        match player {
            0 => {
                let [c, h, w] = self.image;
                let x = g.input("x", &[batch, c, h, w]);
                self.d_player(&mut g, x, batch, seed)?;
            }
            _ => self.g_player(&mut g, batch, seed)?,
        }
        Ok(Built {
            graph: g,
            outputs: BTreeMap::new(),
        })
    }
}
