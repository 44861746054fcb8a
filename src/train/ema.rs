//! An exponential moving average of the parameters (Polyak averaging), for models whose
//! reference evaluates averaged weights: Alemi et al.'s VIB demo keeps
//! tf.train.ExponentialMovingAverage(0.999) and tests with it.
//!
//! The shadow arena is laid out like `ParamStore::params` (one flat buffer) and updated by one
//! dispatch appended to every training step. To evaluate, `install` copies the live weights
//! aside and the shadow into the parameter arena, so every compiled program (which binds views
//! of that arena) sees the average; `restore` puts the live weights back before training
//! resumes. Shapes: params, shadow, live [n] with n = the arena's length.

use crate::kernels::optimizer::ema_update;
use crate::nn::params::ParamStore;
use crate::{Buf, DType, Dispatch, Gpu, Result};

pub struct Ema {
    pub decay: f64,
    pub shadow: Buf,
    live: Buf,
    pub update: Dispatch,
}

impl Ema {
    /// Start the average at the current (initial) parameters, as TensorFlow does.
    pub fn new(gpu: &Gpu, store: &ParamStore, decay: f64) -> Result<Ema> {
        let n = store.params.len();
        let shadow = gpu.zeros(n, DType::F32)?;
        gpu.copy(&store.params, &shadow)?;
        let update = ema_update(gpu, decay, &store.params, &shadow)?;
        Ok(Ema {
            decay,
            shadow,
            live: gpu.zeros(n, DType::F32)?,
            update,
        })
    }

    /// Put the averaged weights in the parameter arena (the live ones are kept aside).
    pub fn install(&self, gpu: &Gpu, store: &ParamStore) -> Result<()> {
        gpu.copy(&store.params, &self.live)?;
        gpu.copy(&self.shadow, &store.params)
    }

    /// Bring the live weights back after `install`.
    pub fn restore(&self, gpu: &Gpu, store: &ParamStore) -> Result<()> {
        gpu.copy(&self.live, &store.params)
    }
}
