//! The models, one file each; every model reads like its loss formula.
//!
//! A model declares its parameters (PyTorch names and init) and builds graphs on demand:
//! `Train` (loss with backward), `Eval` (test metrics and reconstructions), `Decode`
//! (images from latent codes) and `Encode` (the deterministic code of each image, for
//! representation evaluation), all sharing one `ParamStore`.
//! Inputs by name: "x" [B, P] pixels in [0, 1] (P = C * H * W of the dataset's images, each
//! CHW; 784 for MNIST); "labels" [B] u32; "z" [B, D] codes.
//! Encode graphs output "codes" [B, D] and, for a Gaussian posterior, "logvar" [B, D]
//! (`finish_encode`).

use std::collections::BTreeMap;

use crate::data::dataset::ImageShape;
use crate::graph::{Graph, T};
use crate::models::hparams::{Hparams, Overrides};
use crate::models::vae::Vae;
use crate::nn::params::ParamSpec;
use crate::{Error, Result};

pub mod bn_vae;
pub mod classifier;
pub mod conv_vae;
pub mod dim;
pub mod eae;
pub mod hparams;
pub mod infogan;
pub mod mmd_vae;
pub mod vae;
pub mod vib;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    Train,
    Eval,
    Decode,
    /// Input "x" [B, pixels], output "codes" [B, D]: the deterministic code (no sampling).
    Encode,
}

/// A built graph and the tensors the trainer reads from it by role ("probs", "loss", ...).
pub struct Built {
    pub graph: Graph,
    pub outputs: BTreeMap<&'static str, T>,
}

pub trait Model {
    /// The name used on the command line and in checkpoints.
    fn name(&self) -> &'static str;
    /// Learned parameters in declaration (and initialisation) order.
    fn params(&self) -> Vec<ParamSpec>;
    /// Persistent non-learned state (batch-norm running statistics).
    fn state(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// Dimension of the latent code, for decoders and grids.
    fn latent_dim(&self) -> usize;
    /// Width of the Encode graph's "codes" (the latent unless the model reads images into
    /// something else: InfoGAN's Q gives its 12 code estimates, not the 74 generator inputs).
    fn code_dim(&self) -> usize {
        self.latent_dim()
    }
    /// Whether the model reconstructs and decodes images (the VIB classifier does not).
    fn generative(&self) -> bool {
        true
    }
    /// Whether the model builds an `Encode` graph (representation evaluation applies).
    fn has_encoder(&self) -> bool {
        true
    }
    /// Whether the model needs the "labels" input.
    fn uses_labels(&self) -> bool {
        false
    }
    /// `n` draws of the decoder's input "z" from the model's prior, [n, latent_dim] row-major,
    /// from `seed`: N(0, I) unless the model's generator takes other codes (InfoGAN).
    /// Sample grids and generative-quality metrics draw through this.
    fn sample_latent(&self, n: usize, seed: u64) -> Vec<f32> {
        crate::train::grids::prior(n * self.latent_dim(), seed)
    }
    /// Named grids of decoder inputs (GRID x GRID rows of "z" each), written as `<name>.png`
    /// in place of the interpolation grid: InfoGAN's category rows and code sweeps.
    fn code_grids(&self, _seed: u64) -> Option<Vec<(String, Vec<f32>)>> {
        None
    }
    /// The factor on the learning rate for parameter `name`: players of a game may learn at
    /// different rates (InfoGAN's generator and Q head at 5x the discriminator's).
    fn lr_multiplier(&self, _name: &str) -> f64 {
        1.0
    }
    /// Some(K) when the first K columns of the Encode codes are logits of a categorical code
    /// learned without labels (InfoGAN): its accuracy as a classifier under the best
    /// assignment of categories to labels is then reported.
    fn categorical_code(&self) -> Option<usize> {
        None
    }
    fn build(&self, kind: GraphKind, batch: usize, seed: u64) -> Result<Built>;
    /// Players updated in turn (alternating updates, as GAN codes usually train): 1 for an
    /// ordinary model, whose `Train` graph updates every parameter at once. With more, the
    /// trainer compiles `build_player(i)` for each player and runs them in order within one
    /// submit, each followed by the Adam update of its own parameters (`player_of`), so a
    /// later player sees the earlier ones already updated.
    fn players(&self) -> usize {
        1
    }
    /// The player whose Adam update owns parameter `name`: below `players()`, so 0 for a
    /// model with one player (the trainer refuses any other).
    fn player_of(&self, _name: &str) -> usize {
        0
    }
    /// Player `player`'s training graph: its loss's gradient reaches its own parameters
    /// only. Player 0's graph also carries the step's metrics (and reads "x").
    fn build_player(&self, player: usize, batch: usize, seed: u64) -> Result<Built> {
        let _ = player;
        self.build(GraphKind::Train, batch, seed)
    }
}

/// Every model the command line knows.
pub const NAMES: [&str; 11] = [
    "vae",
    "vib",
    "bn-vae",
    "eae",
    "mmd-vae",
    "mmd-vae-mlp",
    "mmd-vae-ref",
    "conv-vae",
    "dim",
    "infogan",
    "classifier",
];

/// The model called `name` on the command line, for images of `shape`, at its defaults.
pub fn by_name(name: &str, shape: ImageShape) -> Result<Box<dyn Model>> {
    by_name_with(name, shape, &Hparams::new())
}

/// The model called `name` for images of `shape`, with the hyperparameters `hp` (names the
/// model does not know are an error listing those it does).
pub fn by_name_with(name: &str, shape: ImageShape, hp: &Hparams) -> Result<Box<dyn Model>> {
    Ok(by_name_resolved(name, shape, hp)?.0)
}

/// `by_name_with`, plus every hyperparameter of the model with the value it was built with
/// (the given ones and the defaults of the rest).
pub fn by_name_resolved(
    name: &str,
    shape: ImageShape,
    hp: &Hparams,
) -> Result<(Box<dyn Model>, Hparams)> {
    let mut o = Overrides::new(name, hp);
    let model = build_named(name, shape, &mut o)?;
    let resolved = o.resolved();
    o.finish()?;
    Ok((model, resolved))
}

fn build_named(name: &str, shape: ImageShape, o: &mut Overrides) -> Result<Box<dyn Model>> {
    let image = [shape.channels, shape.height, shape.width];
    let vae = Vae {
        input: shape.pixels(),
        ..Vae::default()
    };
    Ok(match name {
        "vae" => tuned(vae, o, Vae::tune)?,
        "vib" => {
            let m = vib::Vib {
                input: shape.pixels(),
                ..vib::Vib::default()
            };
            tuned(m, o, vib::Vib::tune)?
        }
        "bn-vae" => {
            let m = bn_vae::BnVae {
                vae,
                ..bn_vae::BnVae::default()
            };
            tuned(m, o, bn_vae::BnVae::tune)?
        }
        "eae" => {
            let d = eae::Eae::default();
            let m = eae::Eae {
                ae: Vae {
                    input: shape.pixels(),
                    ..d.ae
                },
                ..d
            };
            tuned(m, o, eae::Eae::tune)?
        }
        "mmd-vae-mlp" => {
            let m = mmd_vae::MmdVae {
                name: "mmd-vae-mlp",
                net: mmd_vae::Net::Mlp(vae),
                ..mmd_vae::MmdVae::default()
            };
            tuned(m, o, mmd_vae::MmdVae::tune)?
        }
        "conv-vae" | "dim" | "mmd-vae" | "mmd-vae-ref" | "infogan"
            if !shape.height.is_multiple_of(4) || !shape.width.is_multiple_of(4) =>
        {
            return Err(Error::Config(format!(
                "{name} needs image sides divisible by 4 (two stride-2 stages), got {}x{}",
                shape.height, shape.width
            )))
        }
        "conv-vae" => {
            let m = conv_vae::ConvVae {
                image,
                ..conv_vae::ConvVae::default()
            };
            tuned(m, o, conv_vae::ConvVae::tune)?
        }
        "mmd-vae" | "mmd-vae-ref" => {
            let (name, net) = match name {
                "mmd-vae" => ("mmd-vae", mmd_vae::Net::small_conv(image)),
                _ => ("mmd-vae-ref", mmd_vae::Net::reference_conv(image)),
            };
            let m = mmd_vae::MmdVae {
                name,
                net,
                ..mmd_vae::MmdVae::default()
            };
            tuned(m, o, mmd_vae::MmdVae::tune)?
        }
        "dim" => {
            let m = dim::Dim {
                image,
                ..dim::Dim::default()
            };
            tuned(m, o, dim::Dim::tune)?
        }
        "infogan" => {
            let m = infogan::InfoGan {
                image,
                ..infogan::InfoGan::default()
            };
            tuned(m, o, infogan::InfoGan::tune)?
        }
        "classifier" if shape.height < 4 || shape.width < 4 => {
            return Err(Error::Config(format!(
                "classifier needs images of at least 4x4 (two 2x2 pools), got {}x{}",
                shape.height, shape.width
            )))
        }
        "classifier" => Box::new(classifier::Classifier {
            image,
            ..classifier::Classifier::default()
        }),
        other => {
            return Err(Error::Config(format!(
                "unknown model '{other}'; available: {}",
                NAMES.join(", ")
            )))
        }
    })
}

/// `m` after its `--hparam` overrides, boxed.
fn tuned<M: Model + 'static>(
    mut m: M,
    o: &mut Overrides,
    tune: fn(&mut M, &mut Overrides) -> Result<()>,
) -> Result<Box<dyn Model>> {
    tune(&mut m, o)?;
    Ok(Box::new(m))
}

/// Declare a Linear layer's parameters in the graph: returns (weight, bias).
pub(crate) fn linear_params(g: &mut Graph, name: &str, fan_in: usize, fan_out: usize) -> (T, T) {
    (
        g.param(&format!("{name}.weight"), &[fan_out, fan_in]),
        g.param(&format!("{name}.bias"), &[fan_out]),
    )
}

/// The Decode graph of an image model: "z" [B, D] -> "probs", the sigmoid of `decode`'s logits.
pub(crate) fn decode_graph(
    batch: usize,
    latent: usize,
    decode: impl FnOnce(&mut Graph, T) -> Result<T>,
) -> Result<Built> {
    let mut g = Graph::new();
    let z = g.input("z", &[batch, latent]);
    let logits = decode(&mut g, z)?;
    let probs = g.unary(crate::kernels::elementwise::Unary::Sigmoid, logits);
    let outputs = BTreeMap::from([("probs", g.output("probs", probs))]);
    Ok(Built { graph: g, outputs })
}

/// Finish a reconstructing model's graph: training minimises `loss`; evaluation exposes the
/// reconstruction probabilities ("probs", from `logits`) and the posterior mean ("mu").
pub(crate) fn finish_reconstruction(
    mut g: Graph,
    kind: GraphKind,
    loss: T,
    logits: T,
    mu: T,
) -> Result<Built> {
    let mut outputs = BTreeMap::new();
    if kind == GraphKind::Train {
        g.set_loss(loss)?;
    } else {
        let probs = g.unary(crate::kernels::elementwise::Unary::Sigmoid, logits);
        outputs.insert("probs", g.output("probs", probs));
        outputs.insert("mu", g.output("mu", mu));
    }
    Ok(Built { graph: g, outputs })
}

/// Finish an `Encode` graph: "codes" [B, D] (the deterministic code) and, for models with a
/// Gaussian posterior q(z|x) = N(mu, sigma^2), "logvar" [B, D] = log sigma^2, from which the
/// trainer's per-epoch diagnostics compute the KL to N(0, I) per latent dimension.
pub(crate) fn finish_encode(mut g: Graph, codes: T, logvar: Option<T>) -> Built {
    let mut outputs = BTreeMap::from([("codes", g.output("codes", codes))]);
    if let Some(lv) = logvar {
        outputs.insert("logvar", g.output("logvar", lv));
    }
    Built { graph: g, outputs }
}
