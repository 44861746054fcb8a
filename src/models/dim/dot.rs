//! DIM's encode-and-dot-product critics (the official implementation's): the local features
//! and the code are embedded separately, and a pair's score is the dot product of the two
//! embeddings. That scores every image's features against every code of the batch in one
//! product, so each positive pair meets B - 1 negatives (every shuffle of the batch at once)
//! instead of the one a single shuffle gives.
//!
//!   phi_L(C) = 1x1 conv net on C(x) [B, E, h, w];  psi_L(z) = MLP on z [B, E]
//!   S_L[j, i, p] = <phi_L(C(x_j))_p, psi_L(z_i)>            (a 1x1 conv with psi_L as weight)
//!   phi_G(C) = MLP on flatten(C(x)) [B, E];  psi_G(z) [B, E];  S_G[j, i] = <phi_G_j, psi_G_i>
//!   per image j:  softplus(-S[j, j]) + mean_{i != j} softplus(S[j, i])   (summed over p)
//! The global critic reads the local map through its own layers, as the official global DIM
//! does (the encoder's own summary would make the pairing trivial: z is a function of it).
//! Each embedding is a residual MLP: W2 relu(W1 x + b1) + b2 + Ws x (the official MIFCNet
//! without its batch norm). Shapes: C(x) [B, c2, h, w]; z [B, D]; scores [B, B, h, w], [B, B].

use super::Dim;
use crate::graph::{Graph, T};
use crate::kernels::conv::Act;
use crate::kernels::elementwise::{Binary, Unary};
use crate::models::linear_params;
use crate::nn::params::{conv2d_specs, linear_specs, ParamSpec};
use crate::Result;

impl Dim {
    pub(super) fn dot_specs(&self) -> Vec<ParamSpec> {
        let [_, c2, _] = self.widths;
        let (d, e) = (self.latent, self.disc_hidden);
        let flat = c2 * self.local_positions();
        let mut p = Vec::new();
        for (name, fan_in) in [("t2.psi", d), ("t1.psi", d), ("t1.phi", flat)] {
            p.extend(linear_specs(&format!("{name}.fc1"), fan_in, e));
            p.extend(linear_specs(&format!("{name}.fc2"), e, e));
            p.push(linear_specs(&format!("{name}.shortcut"), fan_in, e)[0].clone());
        }
        p.extend(conv2d_specs("t2.phi.conv1", c2, e, 1));
        p.extend(conv2d_specs("t2.phi.conv2", e, e, 1));
        p.push(conv2d_specs("t2.phi.shortcut", c2, e, 1)[0].clone());
        p
    }

    /// -JS terms per image [B] of the local critic, summed over positions.
    pub(super) fn dot_local(&self, g: &mut Graph, local: T, z: T) -> Result<T> {
        let [_, c2, _] = self.widths;
        let e = self.disc_hidden;
        let w1 = g.param("t2.phi.conv1.weight", &[e, c2, 1, 1]);
        let b1 = g.param("t2.phi.conv1.bias", &[e]);
        let w2 = g.param("t2.phi.conv2.weight", &[e, e, 1, 1]);
        let b2 = g.param("t2.phi.conv2.bias", &[e]);
        let ws = g.param("t2.phi.shortcut.weight", &[e, c2, 1, 1]);
        let h = g.conv2d(local, w1, Some(b1), 1, 0, Act::Relu)?;
        let deep = g.conv2d(h, w2, Some(b2), 1, 0, Act::None)?;
        let short = g.conv2d(local, ws, None, 1, 0, Act::None)?;
        let phi = g.add(deep, short)?;
        let psi = self.embed(g, "t2.psi", z, self.latent)?;
        // psi as the weight of a 1x1 conv: output channel i of image j is <phi_j, psi_i>.
        let b = g.shape(z)[0];
        let psi_w = g.reshape(psi, &[b, e, 1, 1])?;
        let scores = g.conv2d(phi, psi_w, None, 1, 0, Act::None)?;
        self.all_pairs_neg_js(g, scores)
    }

    /// -JS terms per image [B] of the global critic (flattened local map against z).
    pub(super) fn dot_global(&self, g: &mut Graph, local: T, z: T) -> Result<T> {
        let b = g.shape(z)[0];
        let flat = self.widths[1] * self.local_positions();
        let c = g.reshape(local, &[b, flat])?;
        let phi = self.embed(g, "t1.phi", c, flat)?;
        let psi = self.embed(g, "t1.psi", z, self.latent)?;
        let zero = g.constant("t1.zero_bias", &[b], vec![0.0; b])?;
        let scores = g.linear(phi, psi, zero, false)?;
        self.all_pairs_neg_js(g, scores)
    }

    /// W2 relu(W1 x + b1) + b2 + Ws x: [B, fan_in] -> [B, E].
    fn embed(&self, g: &mut Graph, name: &str, x: T, fan_in: usize) -> Result<T> {
        let e = self.disc_hidden;
        let (w1, b1) = linear_params(g, &format!("{name}.fc1"), fan_in, e);
        let (w2, b2) = linear_params(g, &format!("{name}.fc2"), e, e);
        let ws = g.param(&format!("{name}.shortcut.weight"), &[e, fan_in]);
        let zero = g.constant(&format!("{name}.zero_bias"), &[e], vec![0.0; e])?;
        let h = g.linear(x, w1, b1, true)?;
        let deep = g.linear(h, w2, b2, false)?;
        let short = g.linear(x, ws, zero, false)?;
        g.add(deep, short)
    }

    /// Scores [B, B, ...] with positives where the first two indices agree -> per row j:
    /// sum over positions of softplus(-S[j, j]) + mean_{i != j} softplus(S[j, i]); [B].
    fn all_pairs_neg_js(&self, g: &mut Graph, scores: T) -> Result<T> {
        let shape = g.shape(scores).to_vec();
        let b = shape[0];
        let per_pair: usize = shape[2..].iter().product();
        let mut diagonal = vec![0.0f32; b * b * per_pair];
        for j in 0..b {
            diagonal[(j * b + j) * per_pair..(j * b + j + 1) * per_pair].fill(1.0);
        }
        let name = format!("diagonal_{}", shape.len());
        let mask = g.constant(&name, &shape, diagonal)?;
        // mask (sp(-S) - sp(S) / (B - 1)) + sp(S) / (B - 1)
        let flipped = g.scale(scores, -1.0);
        let sp_pos = g.unary(Unary::Softplus, flipped);
        let sp_all = g.unary(Unary::Softplus, scores);
        let sp_neg = g.scale(sp_all, 1.0 / (b.max(2) - 1) as f32);
        let diff = g.binary(Binary::Sub, sp_pos, sp_neg)?;
        let on_diag = g.binary(Binary::Mul, mask, diff)?;
        let terms = g.add(on_diag, sp_neg)?;
        Ok(g.sum_rows_of(terms))
    }
}
