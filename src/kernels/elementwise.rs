//! Twin of shaders/elementwise.wgsl: unary ops y = f(x) and their backward.
//!
//! Shapes: x, y, dy, dx are [n] (any tensor, flattened).

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, Dispatch, Gpu, KernelKey, Result};

const WG: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Params {
    pub n: u32,
    pub alpha: f32,
}

/// Unary elementwise ops. The discriminant is the shader's OP override.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Relu,
}

impl Unary {
    fn code(self) -> u32 {
        match self {
            Unary::Relu => 0,
        }
    }
    fn alpha(self) -> f32 {
        0.0
    }
}

/// y = op(x).
pub fn unary(gpu: &Gpu, op: Unary, x: &Buf, y: &Buf) -> Result<Dispatch> {
    if x.len() != y.len() {
        return shape_err!("{op:?}: x has {} elements, y {}", x.len(), y.len());
    }
    let key = KernelKey::new(Family::Elementwise, "unary_forward")
        .with("WG", WG as f64)
        .with("OP", op.code() as f64);
    let params = Params {
        n: x.len() as u32,
        alpha: op.alpha(),
    };
    gpu.dispatch(&key, &params, &[x, y], grid_1d(gpu, x.len(), WG)?)
}

pub mod cpu {
    use super::Unary;

    pub fn unary(op: Unary, x: &[f64]) -> Vec<f64> {
        x.iter()
            .map(|&v| match op {
                Unary::Relu => v.max(0.0),
            })
            .collect()
    }
}
