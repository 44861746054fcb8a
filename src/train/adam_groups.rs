//! The optimizer of a run as one Adam update per contiguous range of the parameter arena
//! whose parameters share a learning-rate multiplier (`Model::lr_multiplier`) and a player
//! (`Model::player_of`, for models updated in turn): one range for most models, two for
//! InfoGAN (the generator at 5x the rate; the discriminator with Q at 1x).
//! Every range takes the same step count, so bias corrections agree.
//!
//! Shapes: p, g, m, v are [n] f32 arenas; a range is a view [start, end) of each.

use crate::kernels::optimizer::Adam;
use crate::models::Model;
use crate::nn::params::ParamStore;
use crate::{Error, Gpu, Result};

/// Adam over one contiguous range of the parameter arena (and of its moments).
pub struct AdamGroup {
    pub adam: Adam,
    pub multiplier: f64,
    /// The player whose graph computes this range's gradients (0 unless the model has more).
    pub player: usize,
    pub step: crate::Dispatch,
}

impl AdamGroup {
    /// Split the arena into runs of consecutive parameters with the same learning-rate
    /// multiplier and player; each run (with the alignment gaps inside it, whose gradients stay 0) gets
    /// its own update over views of p, g, m and v.
    pub fn build(
        gpu: &Gpu,
        model: &dyn Model,
        store: &ParamStore,
        m: &crate::Buf,
        v: &crate::Buf,
        beta1: f64,
    ) -> Result<Vec<AdamGroup>> {
        let mut runs: Vec<(usize, f64, usize)> = Vec::new(); // (start offset, multiplier, player)
        for name in store.names() {
            let (mult, player) = (model.lr_multiplier(name), model.player_of(name));
            // A range whose player has no graph would never be updated: refuse it here rather
            // than train part of a model silently.
            if player >= model.players() {
                return Err(Error::Config(format!(
                    "model {} puts parameter {name} with player {player} but has {} player(s)",
                    model.name(),
                    model.players()
                )));
            }
            if runs.last().is_none_or(|r| (r.1, r.2) != (mult, player)) {
                let start = store.offset(name).unwrap_or(0);
                runs.push((if runs.is_empty() { 0 } else { start }, mult, player));
            }
        }
        if runs.is_empty() {
            runs.push((0, 1.0, 0));
        }
        let total = store.params.len();
        (0..runs.len())
            .map(|i| {
                let (start, multiplier, player) = runs[i];
                let end = runs.get(i + 1).map_or(total, |r| r.0);
                let view = |b: &crate::Buf| gpu.view(b, start, end - start);
                let mut adam = Adam::new(end - start, 0.0);
                adam.betas.0 = beta1;
                let step = adam.dispatch(
                    gpu,
                    &view(&store.params)?,
                    &view(&store.grads)?,
                    &view(m)?,
                    &view(v)?,
                )?;
                Ok(AdamGroup {
                    adam,
                    multiplier,
                    player,
                    step,
                })
            })
            .collect()
    }
}
