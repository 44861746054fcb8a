//! The implicit GEMM of shaders/conv.wgsl: its params, the `Gemm` description of one product
//! (the index maps of the shader header) and how it becomes a dispatch of either kernel.
//! `plans` describes conv2d's passes as such GEMMs; `helpers` dispatches the small kernels.

use bytemuck::{Pod, Zeroable};

use super::spec::{Act, Variant};
use crate::kernels::{grid_1d, Family};
use crate::{Buf, Dispatch, Error, Gpu, KernelKey, Result};

/// Lanes per register-blocked workgroup: one lavapipe SIMD group (each lane is its own tile).
const RB_WG: usize = 8;
/// Columns per register-blocked tile, and the largest row count (16 strips of 4).
pub const RB_COLS: usize = 16;
pub const RB_ROWS: usize = 64;
/// Edge of the tiled kernel's square tile.
pub const TILE: usize = 64;
/// Mirrors the shader's `Params` field by field (meanings there).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Params {
    pub rows: u32,
    pub cols: u32,
    pub k: u32,
    pub kch: u32,
    pub rblocks: u32,
    pub cblocks: u32,
    pub chunks: u32,
    pub a_rs: u32,
    pub a_off: u32,
    pub ac0: u32,
    pub ac1: u32,
    pub kr1: u32,
    pub kr2: u32,
    pub kc0: i32,
    pub kc1: i32,
    pub kc2: i32,
    pub kc3: i32,
    pub ka1: i32,
    pub ka0: i32,
    pub kb1: i32,
    pub kb0: i32,
    pub cr1: u32,
    pub cr2: u32,
    pub cc0: i32,
    pub cc1: i32,
    pub cc2: i32,
    pub ca1: i32,
    pub cb1: i32,
    pub lim_a: u32,
    pub lim_b: u32,
    pub o_rs: u32,
    pub oc0: u32,
    pub oc1: u32,
    pub oc2: u32,
    pub oc3: u32,
    pub o_chunk: u32,
    pub beta: f32,
    pub act: u32,
    pub alpha: f32,
    pub has_bias: u32,
    pub n_inv: u32,
    pub cin: u32,
    pub cout: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride: u32,
    pub plane: u32,
    pub total: u32,
    pub plane_out: u32,
    pub pad: u32,
    pub zh: u32,
    pub zw: u32,
    pub out_h: u32,
    pub out_w: u32,
}

/// One implicit GEMM: D[rows, cols] = sum over k of A(r, k) B(k, c), with the index maps of the
/// shader header (k = (i0, i1, i2) in radices kr, c = (j0, j1, j2) in radices cr).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Gemm {
    pub rows: usize,
    pub cols: usize,
    pub k: usize,
    pub chunks: usize,
    /// Reduction length per chunk (a multiple of 4).
    pub kch: usize,
    pub a_rs: usize,
    pub a_off: usize,
    pub ac: [usize; 2],
    pub kr: [usize; 2],
    pub kc: [i64; 4],
    /// (coefficient of i1, constant) of the first bounded coordinate; `kb` likewise for i2.
    pub ka: [i64; 2],
    pub kb: [i64; 2],
    pub cr: [usize; 2],
    pub cc: [i64; 3],
    pub ca1: i64,
    pub cb1: i64,
    pub lim: [usize; 2],
    pub o_rs: usize,
    pub oc: [usize; 4],
    pub o_chunk: usize,
    /// A rows are contiguous and 16-byte aligned along k in steps of 4, with no k tail.
    pub a_exact: bool,
}

/// What happens to D before it is stored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Epi {
    pub accumulate: bool,
    pub act: Act,
}

impl Epi {
    pub const PLAIN: Epi = Epi {
        accumulate: false,
        act: Act::None,
    };
    pub fn accumulate(accumulate: bool) -> Epi {
        Epi {
            accumulate,
            act: Act::None,
        }
    }
}

/// 4-row strips per register tile: the fewest covering `rows` among 1, 4, 8 and 16 (each count
/// is its own pipeline; 2 would save little on such small shapes and cost another JIT compile).
pub(super) fn strips(rows: usize) -> usize {
    match rows {
        0..=4 => 1,
        5..=16 => 4,
        17..=32 => 8,
        _ => 16,
    }
}

pub(super) fn round4(v: usize) -> usize {
    v.div_ceil(4) * 4
}

pub(super) fn u(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Limit(format!("conv: index {v} exceeds 32 bits")))
}
pub(super) fn i(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Limit(format!("conv: index {v} exceeds 31 bits")))
}
pub(super) fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Gemm {
    /// Four consecutive columns from a multiple of 4 are one aligned vec4 of out.
    fn svec(&self) -> bool {
        self.oc[2] == 1
            && self.oc[1] == self.cr[1]
            && (self.cr[0] * self.cr[1]).is_multiple_of(4)
            && [self.oc[0], self.oc[3], self.o_rs, self.o_chunk, self.cols]
                .iter()
                .all(|v| v.is_multiple_of(4))
    }

    fn params(&self, epi: Epi, has_bias: bool, rblocks: usize, cblocks: usize) -> Result<Params> {
        let (act, alpha) = epi.act.code();
        Ok(Params {
            rows: u(self.rows)?,
            cols: u(self.cols)?,
            k: u(self.k)?,
            kch: u(self.kch)?,
            rblocks: u(rblocks)?,
            cblocks: u(cblocks)?,
            chunks: u(self.chunks)?,
            a_rs: u(self.a_rs)?,
            a_off: u(self.a_off)?,
            ac0: u(self.ac[0])?,
            ac1: u(self.ac[1])?,
            kr1: u(self.kr[0].max(1))?,
            kr2: u(self.kr[1].max(1))?,
            kc0: i(self.kc[0])?,
            kc1: i(self.kc[1])?,
            kc2: i(self.kc[2])?,
            kc3: i(self.kc[3])?,
            ka1: i(self.ka[0])?,
            ka0: i(self.ka[1])?,
            kb1: i(self.kb[0])?,
            kb0: i(self.kb[1])?,
            cr1: u(self.cr[0].max(1))?,
            cr2: u(self.cr[1].max(1))?,
            cc0: i(self.cc[0])?,
            cc1: i(self.cc[1])?,
            cc2: i(self.cc[2])?,
            ca1: i(self.ca1)?,
            cb1: i(self.cb1)?,
            lim_a: u(self.lim[0])?,
            lim_b: u(self.lim[1])?,
            o_rs: u(self.o_rs)?,
            oc0: u(self.oc[0])?,
            oc1: u(self.oc[1])?,
            oc2: u(self.oc[2])?,
            oc3: u(self.oc[3])?,
            o_chunk: u(self.o_chunk)?,
            beta: flag(epi.accumulate) as f32,
            act,
            alpha,
            has_bias: has_bias as u32,
            ..Params::default()
        })
    }

    /// The dispatch on `variant`: A at binding 1, the gathered operand at 2, bias at 3, out at 4.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &self,
        gpu: &Gpu,
        variant: Variant,
        epi: Epi,
        a: &Buf,
        src: &Buf,
        bias: Option<&Buf>,
        out: &Buf,
    ) -> Result<Dispatch> {
        let (key, rblocks, cblocks, groups) = match variant {
            Variant::RegisterBlocked => {
                let s = strips(self.rows);
                let (rb, cb) = (self.rows.div_ceil(4 * s), self.cols.div_ceil(RB_COLS));
                let key = KernelKey::new(Family::Conv, "conv_gemm_rb")
                    .with("WG", RB_WG as f64)
                    .with("STRIPS", s as f64)
                    .with("EXACT", flag(self.a_exact))
                    .with("SVEC", flag(self.svec()));
                (key, rb, cb, grid_1d(gpu, rb * cb * self.chunks, RB_WG)?)
            }
            Variant::Tiled => {
                let (rb, cb) = (self.rows.div_ceil(TILE), self.cols.div_ceil(TILE));
                let key = KernelKey::new(Family::Conv, "conv_gemm_tiled");
                (key, rb, cb, gpu.grid((rb * cb * self.chunks) as u64)?)
            }
        };
        let params = self.params(epi, bias.is_some(), rblocks, cblocks)?;
        // Without a bias binding 3 is never read, but it is statically used: bind A there
        // (read-only, like a bias).
        gpu.dispatch(&key, &params, &[a, src, bias.unwrap_or(a), out], groups)
    }
}
