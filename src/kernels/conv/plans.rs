//! conv2d's passes as implicit GEMMs (see the shader header for the index maps): the forward,
//! the input gradient (one GEMM per stride phase over the packed weight, or for few input
//! channels per-tap products then col2im) and the weight gradient (chunked, or over padded dy).

use super::gemm::{round4, strips, Gemm, RB_COLS};
use super::spec::{Conv2dSpec, K_MAX};
use crate::{Error, Result};

/// Input gradients of at most this many input channels go through Z and col2im (see
/// `input_grad_taps_gemm`) instead of one GEMM per stride phase.
pub const COL2IM_MAX_ROWS: usize = 4;
/// Most reduction positions per weight-gradient chunk (4,096 loop iterations).
const CHUNK_MAX: usize = 16384;
/// Independent tiles the weight gradient aims for (16 SIMD groups: work for every core).
const TILES_WANTED: usize = 128;

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
        // conv_col2im loops over a pixel's taps.
        let taps_per_pixel = self.kh.div_ceil(self.stride) * self.kw.div_ceil(self.stride);
        if taps_per_pixel > K_MAX / 4 {
            return Err(too_long("input gradient (taps per pixel)", taps_per_pixel));
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
