//! Twin of shaders/optimizer.wgsl: Adam, AdamW and SGD (momentum, Nesterov) over flat buffers,
//! so one dispatch updates every parameter of a model; and the exponential moving average of
//! the parameters that some papers evaluate with (`ema_update`).
//!
//! Shapes: p (all parameters), g (their gradients), m, v (Adam moments) and the SGD momentum
//! buffer are all [n]. State buffers start zeroed (`gpu.zeros`), as PyTorch's state does.
//!
//! Use: build the dispatch once with the host-side state (`Adam`, `Sgd`), then every step
//! ```text
//! let prm = adam.params_for_step();   // t += 1, bias corrections in f64
//! gpu.set_params(&step, &prm);        // lands before the next submit
//! ```

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

const WG: usize = 64;

/// Mirrors the WGSL `Params` field by field; one layout serves every entry point.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub n: u32,
    pub lr: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub l2: f32,
    pub decay: f32,
    pub step_size: f32,
    pub bc2_sqrt: f32,
    pub momentum: f32,
    pub nesterov: u32,
    pub first: u32,
}

/// Adam / AdamW hyperparameters and step counter (torch.optim.Adam / AdamW, amsgrad off).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Number of parameters (the length of the flat p, g, m, v buffers).
    pub n: usize,
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// false: Adam (L2, wd p added to g); true: AdamW (p *= 1 - lr wd before the update).
    pub decoupled: bool,
    /// Steps taken so far; `params_for_step` advances it.
    pub t: u32,
}

impl Adam {
    /// torch.optim.Adam defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(n: usize, lr: f64) -> Adam {
        Adam {
            n,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
        }
    }

    /// torch.optim.AdamW with the same defaults (PyTorch's default weight_decay is 0.01).
    pub fn adamw(n: usize, lr: f64, weight_decay: f64) -> Adam {
        Adam {
            weight_decay,
            decoupled: true,
            ..Adam::new(n, lr)
        }
    }

    /// The params of step `t` (1-based); bias corrections 1 - beta^t in f64.
    pub fn params_at(&self, t: u32) -> Params {
        let t = t.max(1) as i32;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let (l2, decay) = match self.decoupled {
            false => (self.weight_decay, 1.0),
            true => (0.0, 1.0 - self.lr * self.weight_decay),
        };
        Params {
            n: self.n as u32,
            lr: self.lr as f32,
            beta1: b1 as f32,
            one_minus_beta1: (1.0 - b1) as f32,
            beta2: b2 as f32,
            one_minus_beta2: (1.0 - b2) as f32,
            eps: self.eps as f32,
            l2: l2 as f32,
            decay: decay as f32,
            step_size: (self.lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            ..Params::default()
        }
    }

    /// Advance to the next step and return its params (for `gpu.set_params`).
    pub fn params_for_step(&mut self) -> Params {
        self.t += 1;
        self.params_at(self.t)
    }

    /// The update dispatch, built once; its params are those of the next step.
    pub fn dispatch(&self, gpu: &Gpu, p: &Buf, g: &Buf, m: &Buf, v: &Buf) -> Result<Dispatch> {
        adam(gpu, &self.params_at(self.t + 1), p, g, m, v)
    }
}

/// SGD hyperparameters and step counter (torch.optim.SGD with dampening 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    pub n: usize,
    pub lr: f64,
    /// Fixed when the dispatch is built: 0 selects the kernel without a momentum buffer.
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub t: u32,
}

impl Sgd {
    pub fn new(n: usize, lr: f64, momentum: f64) -> Sgd {
        Sgd {
            n,
            lr,
            momentum,
            nesterov: false,
            weight_decay: 0.0,
            t: 0,
        }
    }

    pub fn params_at(&self, t: u32) -> Params {
        Params {
            n: self.n as u32,
            lr: self.lr as f32,
            l2: self.weight_decay as f32,
            momentum: self.momentum as f32,
            nesterov: self.nesterov as u32,
            first: (t <= 1) as u32,
            ..Params::default()
        }
    }

    pub fn params_for_step(&mut self) -> Params {
        self.t += 1;
        self.params_at(self.t)
    }

    /// `buf` is the momentum buffer, required when momentum != 0.
    pub fn dispatch(&self, gpu: &Gpu, p: &Buf, g: &Buf, buf: Option<&Buf>) -> Result<Dispatch> {
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::Config(
                "Nesterov SGD needs a nonzero momentum (as in PyTorch)".into(),
            ));
        }
        sgd(gpu, &self.params_at(self.t + 1), p, g, buf)
    }
}

fn check(what: &str, n: usize, bufs: &[(&str, &Buf)]) -> Result<()> {
    if n > u32::MAX as usize {
        return shape_err!("{what}: {n} parameters exceed the u32 index range");
    }
    for (name, b) in bufs {
        if b.len() != n || b.dtype() != DType::F32 {
            return shape_err!(
                "{what}: {name} has {} {:?} elements but the optimizer updates {n} F32",
                b.len(),
                b.dtype()
            );
        }
    }
    Ok(())
}

/// One Adam/AdamW step over flat p, g, m, v with `params` (from `Adam::params_at`).
pub fn adam(gpu: &Gpu, params: &Params, p: &Buf, g: &Buf, m: &Buf, v: &Buf) -> Result<Dispatch> {
    let n = params.n as usize;
    check("adam", n, &[("p", p), ("g", g), ("m", m), ("v", v)])?;
    let key = KernelKey::new(Family::Optimizer, "adam_step").with("WG", WG as f64);
    gpu.dispatch(&key, params, &[p, g, m, v], grid_1d(gpu, n, WG)?)
}

/// One SGD step; with momentum (params.momentum != 0) `buf` is the momentum buffer.
pub fn sgd(gpu: &Gpu, params: &Params, p: &Buf, g: &Buf, buf: Option<&Buf>) -> Result<Dispatch> {
    let n = params.n as usize;
    check("sgd", n, &[("p", p), ("g", g)])?;
    let grid = grid_1d(gpu, n, WG)?;
    if params.momentum == 0.0 {
        let key = KernelKey::new(Family::Optimizer, "sgd_step").with("WG", WG as f64);
        return gpu.dispatch(&key, params, &[p, g], grid);
    }
    let Some(buf) = buf else {
        return shape_err!("sgd: momentum {} needs a momentum buffer", params.momentum);
    };
    check("sgd", n, &[("momentum buffer", buf)])?;
    let key = KernelKey::new(Family::Optimizer, "sgd_momentum_step").with("WG", WG as f64);
    gpu.dispatch(&key, params, &[p, g, buf], grid)
}

/// shadow -= (1 - decay) (shadow - p) over flat buffers: the parameter average of
/// tf.train.ExponentialMovingAverage(decay) (no num_updates), updated after each optimizer step.
pub fn ema_update(gpu: &Gpu, decay: f64, p: &Buf, shadow: &Buf) -> Result<Dispatch> {
    if !(0.0..1.0).contains(&decay) {
        return Err(Error::Config(format!(
            "the parameter average's decay must lie in [0, 1), got {decay}"
        )));
    }
    let n = p.len();
    check("ema_update", n, &[("p", p), ("shadow", shadow)])?;
    let params = Params {
        n: n as u32,
        lr: (1.0 - decay) as f32,
        ..Params::default()
    };
    let key = KernelKey::new(Family::Optimizer, "ema_update").with("WG", WG as f64);
    gpu.dispatch(&key, &params, &[shadow, p], grid_1d(gpu, n, WG)?)
}

/// f64 references, updating the state in place exactly as torch.optim does.
pub mod cpu {
    use super::{Adam, Sgd};

    /// shadow -= (1 - decay) (shadow - p).
    pub fn ema_update(decay: f64, p: &[f64], shadow: &mut [f64]) {
        for (s, &q) in shadow.iter_mut().zip(p) {
            *s -= (1.0 - decay) * (*s - q);
        }
    }

    /// Step `opt.t` (already advanced) of Adam/AdamW.
    pub fn adam(opt: &Adam, p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
        let (b1, b2) = opt.betas;
        let t = opt.t.max(1) as i32;
        let step_size = opt.lr / (1.0 - b1.powi(t));
        let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
        for i in 0..p.len() {
            let mut gi = g[i];
            if opt.decoupled {
                p[i] *= 1.0 - opt.lr * opt.weight_decay;
            } else {
                gi += opt.weight_decay * p[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            p[i] -= step_size * m[i] / (v[i].sqrt() / bc2_sqrt + opt.eps);
        }
    }

    /// Step `opt.t` (already advanced) of SGD; `buf` is ignored without momentum.
    pub fn sgd(opt: &Sgd, p: &mut [f64], g: &[f64], buf: &mut [f64]) {
        for i in 0..p.len() {
            let mut d = g[i] + opt.weight_decay * p[i];
            if opt.momentum != 0.0 {
                buf[i] = match opt.t <= 1 {
                    true => d,
                    false => opt.momentum * buf[i] + d,
                };
                d = match opt.nesterov {
                    true => d + opt.momentum * buf[i],
                    false => buf[i],
                };
            }
            p[i] -= opt.lr * d;
        }
    }
}
