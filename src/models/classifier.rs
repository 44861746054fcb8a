//! A small convolutional classifier, trained with the project itself, whose penultimate
//! features define the Fréchet classifier distance of generated images (`eval::fcd`):
//!
//!   conv 3x3 (c -> 32), ReLU; max pool 2; conv 3x3 (32 -> 64), ReLU; max pool 2;
//!   flatten; fc -> 128, ReLU (the features); fc 128 -> 10 (logits)
//!   loss = mean_batch CE(softmax(logits), y)   ("loss" reports the batch sum)
//! The Encode graph's "codes" are the 128 post-ReLU features.
//! Shapes (MNIST): x [B, 1, 28, 28]; h1 [B, 32, 28, 28]; p1 [B, 32, 14, 14];
//! h2 [B, 64, 14, 14]; p2 [B, 64, 7, 7]; flat [B, 3136]; features [B, 128]; logits [B, 10].
//! Other sizes: the pools floor, so sides of at least 4 work (CIFAR-10: p2 [B, 64, 8, 8]).

use std::collections::BTreeMap;

use crate::graph::{Graph, T};
use crate::kernels::conv::Act;
use crate::kernels::reduce::{Axis, Op as ReduceOp};
use crate::models::{linear_params, Built, GraphKind, Model};
use crate::nn::params::{conv2d_specs, linear_specs, ParamSpec};
use crate::Result;

#[derive(Debug, Clone)]
pub struct Classifier {
    /// Input image: channels, height, width (sides at least 4: two 2x2 pools).
    pub image: [usize; 3],
    pub widths: [usize; 2],
    /// Units of the penultimate layer (the features).
    pub features: usize,
    pub classes: usize,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier {
            image: [1, 28, 28],
            widths: [32, 64],
            features: 128,
            classes: 10,
        }
    }
}

impl Classifier {
    /// Values of the second pool's output per image.
    fn flat(&self) -> usize {
        self.widths[1] * (self.image[1] / 4) * (self.image[2] / 4)
    }

    fn conv(g: &mut Graph, name: &str, cin: usize, cout: usize) -> (T, T) {
        (
            g.param(&format!("{name}.weight"), &[cout, cin, 3, 3]),
            g.param(&format!("{name}.bias"), &[cout]),
        )
    }

    /// x [B, C, H, W] -> the penultimate features [B, features] (post-ReLU).
    fn features(&self, g: &mut Graph, x: T) -> Result<T> {
        let [c1, c2] = self.widths;
        let (w1, b1) = Self::conv(g, "conv1", self.image[0], c1);
        let (w2, b2) = Self::conv(g, "conv2", c1, c2);
        let h1 = g.conv2d(x, w1, Some(b1), 1, 1, Act::Relu)?;
        let p1 = g.max_pool2d(h1, 2)?;
        let h2 = g.conv2d(p1, w2, Some(b2), 1, 1, Act::Relu)?;
        let p2 = g.max_pool2d(h2, 2)?;
        let batch = g.shape(x)[0];
        let flat = g.reshape(p2, &[batch, self.flat()])?;
        let (wf, bf) = linear_params(g, "fc1", self.flat(), self.features);
        let h = g.linear(flat, wf, bf, true)?;
        g.names(&[("h1", h1), ("h2", h2), ("features", h)]);
        Ok(h)
    }
}

impl Model for Classifier {
    fn name(&self) -> &'static str {
        "classifier"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let [c1, c2] = self.widths;
        [
            conv2d_specs("conv1", self.image[0], c1, 3),
            conv2d_specs("conv2", c1, c2, 3),
            linear_specs("fc1", self.flat(), self.features),
            linear_specs("fc2", self.features, self.classes),
        ]
        .concat()
    }

    /// The code is the feature vector.
    fn latent_dim(&self) -> usize {
        self.features
    }

    fn generative(&self) -> bool {
        false
    }

    fn uses_labels(&self) -> bool {
        true
    }

    fn build(&self, kind: GraphKind, batch: usize, _seed: u64) -> Result<Built> {
        let mut g = Graph::new();
        let [c, h, w] = self.image;
        let x = g.input("x", &[batch, c, h, w]);
        let features = self.features(&mut g, x)?;
        if kind == GraphKind::Encode {
            let outputs = BTreeMap::from([("codes", g.output("codes", features))]);
            return Ok(Built { graph: g, outputs });
        }
        let labels = g.input_u32("labels", &[batch]);
        let (wo, bo) = linear_params(&mut g, "fc2", self.features, self.classes);
        let logits = g.linear(features, wo, bo, false)?;
        let ce = g.softmax_xent(logits, labels)?;
        g.names(&[("logits", logits), ("ce", ce)]);
        let total = g.reduce(ce, Axis::All, ReduceOp::Sum);
        g.metric("loss", total)?;
        if kind == GraphKind::Train {
            let loss = g.reduce(ce, Axis::All, ReduceOp::Mean);
            g.set_loss(loss)?;
        } else {
            let correct = g.correct(logits, labels)?;
            let n_correct = g.reduce(correct, Axis::All, ReduceOp::Sum);
            g.metric("correct", n_correct)?;
        }
        Ok(Built {
            graph: g,
            outputs: BTreeMap::new(),
        })
    }
}
