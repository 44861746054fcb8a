//! The implicit GEMM of shaders/conv.wgsl: its params, how a `Gemm` description becomes a
//! dispatch of either kernel, and the descriptions of conv2d's forward, input gradient (one
//! GEMM per stride phase) and weight gradient. The formulas are in the shader's header.

use bytemuck::{Pod, Zeroable};

use super::spec::{Act, Conv2dSpec, Variant, K_MAX};
use crate::kernels::{grid_1d, Family};
use crate::{Buf, Dispatch, Error, Gpu, KernelKey, Result};

/// Lanes per register-blocked workgroup: one lavapipe SIMD group (each lane is its own tile).
const RB_WG: usize = 8;
/// Columns per register-blocked tile, and the largest row count (16 strips of 4).
pub const RB_COLS: usize = 16;
pub const RB_ROWS: usize = 64;
/// Edge of the tiled kernel's square tile.
pub const TILE: usize = 64;
/// Input gradients of at most this many input channels go through Z and col2im (see
/// `input_grad_taps_gemm`) instead of one GEMM per stride phase.
pub const COL2IM_MAX_ROWS: usize = 4;
/// Most reduction positions per weight-gradient chunk (4,096 loop iterations).
const CHUNK_MAX: usize = 16384;
/// Independent tiles the weight gradient aims for (16 SIMD groups: work for every core).
const TILES_WANTED: usize = 128;

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
fn strips(rows: usize) -> usize {
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

fn u(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Limit(format!("conv: index {v} exceeds 32 bits")))
}
fn i(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Limit(format!("conv: index {v} exceeds 31 bits")))
}
fn flag(b: bool) -> f64 {
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

/// Kernel taps of phase `ph` (kernel rows k with k % s == ph) and those of the phases before it.
pub(super) fn taps(len: usize, s: usize, ph: usize) -> usize {
    if ph < len {
        (len - ph).div_ceil(s)
    } else {
        0
    }
}
fn taps_before(len: usize, s: usize, ph: usize) -> usize {
    (len / s) * ph + (len % s).min(ph)
}

/// Where phase (ph_h, ph_w)'s [Cin][Cout][T_h][T_w] block starts in the packed weight (the
/// shader's conv_pack_dx computes the same).
fn packed_offset(c: &Conv2dSpec, ph_h: usize, ph_w: usize) -> usize {
    let s = c.stride;
    c.cin
        * c.cout
        * (taps_before(c.kh, s, ph_h) * c.kw + taps(c.kh, s, ph_h) * taps_before(c.kw, s, ph_w))
}

fn too_long(what: &str, k: usize) -> Error {
    Error::Limit(format!(
        "conv {what}: each output sums {k} terms, more than the {K_MAX} one invocation may \
         (lavapipe caps loops per invocation); use fewer channels or a smaller kernel"
    ))
}

impl Conv2dSpec {
    /// Forward: rows = co, columns = (n, oh, ow), k = (ci, kh, kw); A = weight, B = x.
    pub(super) fn forward_gemm(&self) -> Result<Gemm> {
        let (s, p) = (self.stride as i64, self.pad as i64);
        let (h, w) = (self.h, self.w);
        let (oh, ow) = (self.oh(), self.ow());
        let k = self.cin * self.kh * self.kw;
        if k > K_MAX {
            return Err(too_long("forward", k));
        }
        Ok(Gemm {
            rows: self.cout,
            cols: self.n * oh * ow,
            k,
            chunks: 1,
            kch: round4(k),
            a_rs: k,
            a_off: 0,
            ac: [self.kh * self.kw, self.kw],
            kr: [self.kh, self.kw],
            kc: [(h * w) as i64, w as i64, 1, -(p * w as i64 + p)],
            ka: [1, -p],
            kb: [1, -p],
            cr: [oh, ow],
            cc: [(self.cin * h * w) as i64, s * w as i64, s],
            ca1: s,
            cb1: s,
            lim: [h, w],
            o_rs: oh * ow,
            oc: [self.cout * oh * ow, ow, 1, 0],
            o_chunk: 0,
            a_exact: k.is_multiple_of(4),
        })
    }

    /// Input gradient, one GEMM per stride phase (ph_h, ph_w), i.e. per class of input rows ih
    /// with (ih + P) % S == ph_h (columns likewise). Those rows are ih = S i' + r_h and meet
    /// exactly the taps kh = ph_h + S th, at output rows oh = i' + d_h - th, so each phase is a
    /// dense GEMM: rows = ci, columns = (n, i', j'), k = (co, th, tw); A = the packed weight
    /// (conv_pack_dx), B = dy. Phases without columns are left out.
    pub(super) fn input_grad_gemms(&self) -> Result<Vec<Gemm>> {
        let (s, p) = (self.stride, self.pad);
        let (h, w, oh, ow) = (self.h, self.w, self.oh(), self.ow());
        let mut out = Vec::new();
        for ph_h in 0..s {
            for ph_w in 0..s {
                let (th, tw) = (taps(self.kh, s, ph_h), taps(self.kw, s, ph_w));
                // First input row of the phase, and the output row its first tap meets.
                let (r_h, r_w) = ((ph_h + s - p % s) % s, (ph_w + s - p % s) % s);
                let (d_h, d_w) = ((r_h + p - ph_h) / s, (r_w + p - ph_w) / s);
                let hp = if r_h < h { (h - r_h).div_ceil(s) } else { 0 };
                let wp = if r_w < w { (w - r_w).div_ceil(s) } else { 0 };
                let (cols, k) = (self.n * hp * wp, self.cout * th * tw);
                if cols == 0 {
                    continue;
                }
                if k > K_MAX {
                    return Err(too_long("input gradient", k));
                }
                let a_off = packed_offset(self, ph_h, ph_w);
                let ohw = (oh * ow) as i64;
                out.push(Gemm {
                    rows: self.cin,
                    cols,
                    k,
                    chunks: 1,
                    kch: round4(k),
                    a_rs: k,
                    a_off,
                    ac: [th * tw, tw],
                    kr: [th, tw],
                    kc: [ohw, -(ow as i64), -1, (d_h * ow + d_w) as i64],
                    ka: [-1, d_h as i64],
                    kb: [-1, d_w as i64],
                    cr: [hp, wp],
                    cc: [self.cout as i64 * ohw, ow as i64, 1],
                    ca1: 1,
                    cb1: 1,
                    lim: [oh, ow],
                    o_rs: h * w,
                    oc: [self.cin * h * w, s * w, s, r_h * w + r_w],
                    o_chunk: 0,
                    a_exact: k.is_multiple_of(4) && a_off.is_multiple_of(4),
                });
            }
        }
        Ok(out)
    }

    /// Input gradient for few input channels, first pass: Z[n, ci, kh, kw, oh, ow] =
    /// sum over co of weight[co, ci, kh, kw] dy[n, co, oh, ow], a dense GEMM with rows =
    /// (ci, kh, kw), columns = (n, oh, ow), k = co; A = weight (k-major: rows contiguous, k
    /// strided, so the general A path), B = dy. conv_col2im then gathers each input pixel's
    /// taps. With one phase GEMM per stride phase a single input channel would use one row of
    /// each 4-row strip and one FMA per gathered value; here every value feeds a whole tile.
    pub(super) fn input_grad_taps_gemm(&self) -> Result<Gemm> {
        let (oh, ow) = (self.oh(), self.ow());
        let rows = self.cin * self.kh * self.kw;
        if self.cout > K_MAX {
            return Err(too_long("input gradient", self.cout));
        }
        Ok(Gemm {
            rows,
            cols: self.n * oh * ow,
            k: self.cout,
            chunks: 1,
            kch: round4(self.cout),
            a_rs: 1,
            a_off: 0,
            ac: [rows, 0],
            kr: [1, 1],
            kc: [(oh * ow) as i64, 0, 0, 0],
            ka: [0, 0],
            kb: [0, 0],
            cr: [oh, ow],
            cc: [(self.cout * oh * ow) as i64, ow as i64, 1],
            ca1: 0,
            cb1: 0,
            lim: [1, 1],
            o_rs: oh * ow,
            oc: [rows * oh * ow, ow, 1, 0],
            o_chunk: 0,
            a_exact: false,
        })
    }

    /// Floats of Z for `input_grad_taps_gemm`.
    pub(super) fn taps_len(&self) -> usize {
        self.n * self.cin * self.kh * self.kw * self.oh() * self.ow()
    }

    /// Weight-gradient chunks (count, positions per chunk): enough independent tiles for every
    /// core, at least 256 positions per chunk, at most CHUNK_MAX.
    pub(super) fn weight_grad_chunks(&self) -> (usize, usize) {
        let pos = self.n * self.oh() * self.ow();
        let k = self.cin * self.kh * self.kw;
        let tiles = self.cout.div_ceil(4 * strips(self.cout)) * k.div_ceil(RB_COLS);
        let chunks = TILES_WANTED
            .div_ceil(tiles)
            .min(pos.div_ceil(256))
            .max(pos.div_ceil(CHUNK_MAX))
            .max(1);
        let kch = round4(pos.div_ceil(chunks));
        (pos.div_ceil(kch), kch)
    }

    /// Output rows of dy after padding its planes to a multiple of 4 floats (see
    /// `weight_grad_gemm`), or None when they need no padding or it does not pay: only a
    /// single-chunk reduction is padded (its scratch holds the padded dy, not partials), and
    /// only when it adds at most a quarter more positions.
    pub(super) fn weight_grad_padded_rows(&self) -> Option<usize> {
        let (oh, ow) = (self.oh(), self.ow());
        if (oh * ow).is_multiple_of(4) || self.weight_grad_chunks().0 > 1 {
            return None;
        }
        let rows = (oh..oh + 4).find(|r| (r * ow).is_multiple_of(4))?;
        let pos = self.n * rows * ow;
        (4 * rows <= 5 * oh && pos <= 2 * CHUNK_MAX).then_some(rows)
    }

    /// Weight gradient: rows = co, columns = (ci, kh, kw), k = (n, oh, ow) in chunks;
    /// A = dy, B = x. With several chunks each writes its own partial [Cout, Cin KH KW].
    /// With `padded_rows` = Some(OH'), A is dy copied into [N, Cout, OH' OW] planes with zero
    /// rows oh >= OH (conv_pad_planes), so A rows are vec4-aligned; the extra positions add
    /// dy = 0 times x (zero or a real, finite input value), i.e. nothing.
    pub(super) fn weight_grad_gemm(&self, padded_rows: Option<usize>) -> Gemm {
        let (s, p) = (self.stride as i64, self.pad as i64);
        let (h, w, ow) = (self.h, self.w, self.ow());
        let oh = padded_rows.unwrap_or(self.oh());
        let k = self.cin * self.kh * self.kw;
        let (chunks, kch) = match padded_rows {
            Some(_) => (1, round4(self.n * oh * ow)),
            None => self.weight_grad_chunks(),
        };
        Gemm {
            rows: self.cout,
            cols: k,
            k: self.n * oh * ow,
            chunks,
            kch,
            a_rs: oh * ow,
            a_off: 0,
            ac: [self.cout * oh * ow, ow],
            kr: [oh, ow],
            kc: [
                (self.cin * h * w) as i64,
                s * w as i64,
                s,
                -(p * w as i64 + p),
            ],
            ka: [s, -p],
            kb: [s, -p],
            cr: [self.kh, self.kw],
            cc: [(h * w) as i64, w as i64, 1],
            ca1: 1,
            cb1: 1,
            lim: [h, w],
            o_rs: k,
            oc: [self.kh * self.kw, self.kw, 1, 0],
            o_chunk: if chunks > 1 { self.cout * k } else { 0 },
            a_exact: (oh * ow).is_multiple_of(4),
        }
    }
}

/// The helper kernels' params (the GEMM fields they use are named in the shader).
pub(super) fn helper_key(entry: &'static str) -> KernelKey {
    KernelKey::new(Family::Conv, entry).with("WG", 64.0)
}

/// conv_pack_dx over the weight of `c`.
pub(super) fn pack_dispatch(gpu: &Gpu, c: &Conv2dSpec, w: &Buf, packed: &Buf) -> Result<Dispatch> {
    let n = c.w_len();
    let params = Params {
        n_inv: u(n)?,
        cin: u(c.cin)?,
        cout: u(c.cout)?,
        kh: u(c.kh)?,
        kw: u(c.kw)?,
        stride: u(c.stride)?,
        ..Params::default()
    };
    let key = helper_key("conv_pack_dx");
    gpu.dispatch(&key, &params, &[w, w, w, packed], grid_1d(gpu, n, 64)?)
}

/// out[o] (+)= sum over `chunks` partials [chunks, outs] in `parts`.
pub(super) fn sum_dispatch(
    gpu: &Gpu,
    outs: usize,
    chunks: usize,
    parts: &Buf,
    out: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let params = Params {
        n_inv: u(outs)?,
        chunks: u(chunks)?,
        beta: flag(accumulate) as f32,
        ..Params::default()
    };
    let key = helper_key("conv_sum_partials");
    gpu.dispatch(
        &key,
        &params,
        &[parts, parts, parts, out],
        grid_1d(gpu, outs, 64)?,
    )
}

/// Bias-gradient chunks over `pos` positions: (count, positions per chunk). 1,024 positions
/// (256 loop iterations) per chunk unless that would need more than 16,384 chunks.
pub(super) fn bias_chunks(pos: usize) -> (usize, usize) {
    let kch = round4(pos.div_ceil(16384).max(1024));
    (pos.div_ceil(kch), kch)
}

/// conv_bias_partials: per channel sums of dy [n, channels, plane] over chunks of positions,
/// into `out` [chunks, channels] (or straight into db when there is one chunk).
pub(super) fn bias_partials_dispatch(
    gpu: &Gpu,
    (n, channels, plane): (usize, usize, usize),
    dy: &Buf,
    out: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let pos = n * plane;
    let (chunks, kch) = bias_chunks(pos);
    let params = Params {
        n_inv: u(chunks * channels)?,
        cout: u(channels)?,
        plane: u(plane)?,
        total: u(pos)?,
        kch: u(kch)?,
        chunks: u(chunks)?,
        beta: flag(accumulate) as f32,
        ..Params::default()
    };
    let key = helper_key("conv_bias_partials");
    let groups = grid_1d(gpu, chunks * channels, 64)?;
    gpu.dispatch(&key, &params, &[dy, dy, dy, out], groups)
}

/// conv_pad_planes: `planes` planes of `plane` floats from `src` into planes of `plane_out`
/// (a multiple of 4) in `out`, zero-filled past `plane`.
pub(super) fn pad_dispatch(
    gpu: &Gpu,
    (planes, plane, plane_out): (usize, usize, usize),
    src: &Buf,
    out: &Buf,
) -> Result<Dispatch> {
    let n4 = planes * plane_out / 4;
    let params = Params {
        n_inv: u(n4)?,
        plane: u(plane)?,
        plane_out: u(plane_out)?,
        ..Params::default()
    };
    let key = helper_key("conv_pad_planes");
    gpu.dispatch(&key, &params, &[src, src, src, out], grid_1d(gpu, n4, 64)?)
}

/// conv_col2im for conv `c`: out [N, Cin, H, W] from the taps Z in `taps`, with the epilogue.
pub(super) fn col2im_dispatch(
    gpu: &Gpu,
    c: &Conv2dSpec,
    epi: Epi,
    taps: &Buf,
    bias: Option<&Buf>,
    out: &Buf,
) -> Result<Dispatch> {
    let n = c.x_len();
    let (act, alpha) = epi.act.code();
    let params = Params {
        n_inv: u(n)?,
        cin: u(c.cin)?,
        kh: u(c.kh)?,
        kw: u(c.kw)?,
        stride: u(c.stride)?,
        pad: u(c.pad)?,
        zh: u(c.oh())?,
        zw: u(c.ow())?,
        out_h: u(c.h)?,
        out_w: u(c.w)?,
        has_bias: bias.is_some() as u32,
        act,
        alpha,
        beta: flag(epi.accumulate) as f32,
        ..Params::default()
    };
    let key = helper_key("conv_col2im");
    let b = bias.unwrap_or(taps);
    gpu.dispatch(&key, &params, &[taps, taps, b, out], grid_1d(gpu, n, 64)?)
}
