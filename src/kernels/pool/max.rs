//! k x k max pooling at stride s (PyTorch MaxPool2d: no padding, floor mode) and its backward.
//!
//! Forward: one invocation per segment of up to `seg` outputs of an output row. Backward: a
//! gather, one invocation per segment of an input row: each input sums dy over the windows
//! that contain it and chose it (one window at most when s >= k), so no atomics are needed.

use super::{arg, beta, fits_u32, key, launch, out, Params, ARG, ARGR, DX, DX2, DY, X, X2, Y};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

/// Largest window side: seg * k * k window reads per invocation stay within `TRIPS`.
pub const MAX_K: usize = 64;
/// Most outputs (forward) or inputs (backward) per invocation.
const SEG: usize = 8;
/// Loop iterations one invocation may spend on its windows: far below llvmpipe's silent
/// 65,535-iteration cap per invocation.
const TRIPS: usize = 4096;

/// A max-pooling layer on x [N, C, H, W]: square k x k windows at stride s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPoolSpec {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
}

impl MaxPoolSpec {
    pub fn new(n: usize, c: usize, h: usize, w: usize, k: usize, s: usize) -> Self {
        MaxPoolSpec { n, c, h, w, k, s }
    }

    /// The usual 2 x 2 pooling at stride 2.
    pub fn k2(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self::new(n, c, h, w, 2, 2)
    }

    /// (OH, OW) = (floor((H - k) / s) + 1, floor((W - k) / s) + 1); (0, 0) for a bad spec.
    pub fn out_hw(&self) -> (usize, usize) {
        if self.check().is_err() {
            return (0, 0);
        }
        (
            (self.h - self.k) / self.s + 1,
            (self.w - self.k) / self.s + 1,
        )
    }

    /// P = N*C planes.
    pub fn planes(&self) -> usize {
        self.n * self.c
    }

    /// Elements of x and dx.
    pub fn in_len(&self) -> usize {
        self.planes() * self.h * self.w
    }

    /// Elements of y, arg and dy.
    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.planes() * oh * ow
    }

    pub fn check(&self) -> Result<()> {
        let MaxPoolSpec { n, c, h, w, k, s } = *self;
        if n == 0 || c == 0 || k == 0 || s == 0 {
            return shape_err!(
                "max pool: N = {n}, C = {c}, kernel {k}, stride {s}: all must be at least 1"
            );
        }
        if h < k || w < k {
            return shape_err!(
                "max pool: a {k} x {k} window does not fit the {h} x {w} input (no padding); \
                 use a smaller kernel or a larger map"
            );
        }
        if k > MAX_K {
            return shape_err!(
                "max pool: kernel {k} is above the supported {MAX_K}; use global pooling for \
                 windows that cover the map"
            );
        }
        let len = n
            .checked_mul(c)
            .and_then(|p| p.checked_mul(h)?.checked_mul(w));
        if len.is_none_or(|l| l > u32::MAX as usize) {
            return shape_err!(
                "max pool: x [{n}, {c}, {h}, {w}] has more than the 2^32 elements a kernel \
                 can index"
            );
        }
        Ok(())
    }

    /// 2 x 2 at stride 2: the straight-line entry points, with vec2 rows when W is even.
    fn is_2x2(&self) -> bool {
        self.k == 2 && self.s == 2
    }

    fn vec(&self) -> f64 {
        if self.w.is_multiple_of(2) {
            2.0
        } else {
            1.0
        }
    }

    fn params(&self) -> Result<Params> {
        self.check()?;
        let (oh, ow) = self.out_hw();
        Ok(Params {
            planes: fits_u32("max pool", self.planes())?,
            h: self.h as u32,
            w: self.w as u32,
            oh: oh as u32,
            ow: ow as u32,
            k: self.k as u32,
            s: self.s as u32,
            hw: (self.h * self.w) as u32,
            ..Default::default()
        })
    }
}

/// Items per invocation when each costs `trips` loop iterations.
fn seg_for(trips: usize, len: usize) -> usize {
    (TRIPS / trips.max(1)).clamp(1, SEG).min(len)
}

/// y = the max of each window, arg = its position in the input plane (ih * W + iw).
pub fn max_pool(gpu: &Gpu, spec: &MaxPoolSpec, x: &Buf, y: &Buf, argmax: &Buf) -> Result<Dispatch> {
    let mut p = spec.params()?;
    let (oh, ow) = spec.out_hw();
    let seg = seg_for(spec.k * spec.k, ow);
    let nseg = ow.div_ceil(seg);
    p.seg = seg as u32;
    p.nseg = nseg as u32;
    p.n = fits_u32("max pool", spec.planes() * oh * nseg)?;
    let (i, o) = (spec.in_len(), spec.out_len());
    let args = [
        (arg("x", x, i, DType::F32), &[X, X2][..]),
        (out("y", y, o, DType::F32), &[Y][..]),
        (out("arg", argmax, o, DType::U32), &[ARG][..]),
    ];
    let key = match spec.is_2x2() {
        true => key("max_pool_2x2").with("VEC", spec.vec()),
        false => key("max_pool"),
    };
    launch(gpu, "max pool", key, &p, &args)
}

/// dx[j] = sum of dy over the windows whose argmax is j (0 when none); with `accumulate`,
/// dx += it. `argmax` is the forward's.
pub fn max_pool_backward(
    gpu: &Gpu,
    spec: &MaxPoolSpec,
    argmax: &Buf,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let mut p = spec.params()?;
    let (oh, ow) = spec.out_hw();
    let (i, o) = (spec.in_len(), spec.out_len());
    let args = [
        (arg("arg", argmax, o, DType::U32), &[ARGR][..]),
        (arg("dy", dy, o, DType::F32), &[DY][..]),
        (out("dx", dx, i, DType::F32), &[DX, DX2][..]),
    ];
    p.beta = beta(accumulate);
    if spec.is_2x2() {
        // One invocation per segment of a window row (both input rows).
        let seg = SEG.min(ow);
        let nseg = ow.div_ceil(seg);
        p.seg = seg as u32;
        p.nseg = nseg as u32;
        p.n = fits_u32("max pool backward", spec.planes() * oh * nseg)?;
        let key = key("max_pool_backward_2x2").with("VEC", spec.vec());
        return launch(gpu, "max pool backward", key, &p, &args);
    }
    // Windows per input: ceil(k / s) along each side.
    let wk = spec.k.div_ceil(spec.s);
    let seg = seg_for(wk * wk, spec.w);
    let nseg = spec.w.div_ceil(seg);
    p.seg = seg as u32;
    p.nseg = nseg as u32;
    p.n = fits_u32("max pool backward", spec.planes() * spec.h * nseg)?;
    launch(
        gpu,
        "max pool backward",
        key("max_pool_backward"),
        &p,
        &args,
    )
}
