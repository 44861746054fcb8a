//! Global average and max pooling, [N, C, H, W] -> [N, C], and their backward.
//!
//! A plane of HW <= `CHUNK` values is reduced by one invocation in one pass. Larger planes take
//! two: partials over chunks of at most `CHUNK` values into `scratch`, then one invocation per
//! plane merges its partials in chunk order (a fixed order: deterministic). Bounded chunks keep
//! every invocation far below llvmpipe's silent 65,535-iteration loop cap.

use super::{arg, beta, fits_u32, key, launch, out, Params, ARG, ARGR, DX, DX4, DY, S, X, X4, Y};
use crate::{shape_err, Buf, DType, Dispatch, Gpu, Result};

/// Most values one invocation reduces (a multiple of 4).
const CHUNK: usize = 4096;
/// Largest plane: positions travel through the scratch as f32, exact below 2^24, and
/// 2^24 / CHUNK partials per plane is one final invocation's loop.
const MAX_HW: usize = 1 << 24;
/// Most vec4s per invocation in the backward.
const SEG: usize = 8;

/// Global pooling of x [N, C, H, W] over each H x W plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalPoolSpec {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// Which reduction (the WGSL `OP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Avg = 0,
    Max = 1,
}

/// How a plane is split: `nchunks` chunks of `chunk` values (the last may be shorter).
struct Plan {
    chunk: usize,
    nchunks: usize,
}

impl GlobalPoolSpec {
    pub fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        GlobalPoolSpec { n, c, h, w }
    }

    /// P = N*C planes: the length of y, arg and dy.
    pub fn planes(&self) -> usize {
        self.n * self.c
    }

    pub fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Elements of x and dx.
    pub fn in_len(&self) -> usize {
        self.planes() * self.hw()
    }

    pub fn check(&self) -> Result<()> {
        let GlobalPoolSpec { n, c, h, w } = *self;
        if n == 0 || c == 0 || h == 0 || w == 0 {
            return shape_err!("global pool: x [{n}, {c}, {h}, {w}] has an empty dimension");
        }
        let len = n
            .checked_mul(c)
            .and_then(|p| p.checked_mul(h)?.checked_mul(w));
        if len.is_none_or(|l| l > u32::MAX as usize) {
            return shape_err!(
                "global pool: x [{n}, {c}, {h}, {w}] has more than the 2^32 elements a kernel \
                 can index"
            );
        }
        if h * w > MAX_HW {
            return shape_err!(
                "global pool: planes of {h} x {w} are above the supported 2^24 values; pool \
                 in stages (a max pool first)"
            );
        }
        Ok(())
    }

    fn plan(&self) -> Plan {
        let hw = self.hw();
        if hw <= CHUNK {
            return Plan {
                chunk: hw,
                nchunks: 1,
            };
        }
        // Balanced chunks (5000 is 2 x 2500, not 4096 + 904), rounded up to whole vec4s.
        let chunk = hw.div_ceil(hw.div_ceil(CHUNK)).div_ceil(4) * 4;
        Plan {
            chunk,
            nchunks: hw.div_ceil(chunk),
        }
    }

    fn params(&self) -> Result<Params> {
        self.check()?;
        Ok(Params {
            planes: fits_u32("global pool", self.planes())?,
            h: self.h as u32,
            w: self.w as u32,
            hw: self.hw() as u32,
            scale: (1.0 / self.hw() as f64) as f32,
            ..Default::default()
        })
    }
}

/// Floats of scratch `global_avg_pool` needs: one partial per chunk (0 when HW <= 4096).
pub fn global_avg_pool_scratch_len(spec: &GlobalPoolSpec) -> usize {
    scratch_len(spec, Op::Avg)
}

/// Floats of scratch `global_max_pool` needs: a value and a position per chunk (0 when
/// HW <= 4096).
pub fn global_max_pool_scratch_len(spec: &GlobalPoolSpec) -> usize {
    scratch_len(spec, Op::Max)
}

fn scratch_len(spec: &GlobalPoolSpec, op: Op) -> usize {
    let nchunks = spec.plan().nchunks;
    match (nchunks, op) {
        (1, _) => 0,
        (_, Op::Avg) => spec.planes() * nchunks,
        (_, Op::Max) => 2 * spec.planes() * nchunks,
    }
}

fn op_key(entry: &'static str, op: Op) -> crate::KernelKey {
    key(entry).with("OP", op as u32 as f64)
}

/// The forward passes; `argmax` only for max.
fn forward(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    op: Op,
    x: &Buf,
    y: &Buf,
    argmax: Option<&Buf>,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    let what = match op {
        Op::Avg => "global avg pool",
        Op::Max => "global max pool",
    };
    let base = spec.params()?;
    let plan = spec.plan();
    let (i, o) = (spec.in_len(), spec.planes());
    let xa = (arg("x", x, i, DType::F32), &[X, X4][..]);
    let ya = (out("y", y, o, DType::F32), &[Y][..]);
    // The average never touches arg, but the entry point names it (under `OP == OP_MAX`), so
    // y fills that slot too.
    let outs = match argmax {
        Some(a) => vec![ya, (out("arg", a, o, DType::U32), &[ARG][..])],
        None => vec![(ya.0, &[Y, ARG][..])],
    };
    if plan.nchunks == 1 {
        let p = Params {
            n: base.planes,
            ..base
        };
        let mut args = vec![xa];
        args.extend(outs);
        return Ok(vec![launch(
            gpu,
            what,
            op_key("global_pool", op),
            &p,
            &args,
        )?]);
    }
    let need = scratch_len(spec, op);
    if scratch.len() < need || scratch.dtype() != DType::F32 {
        return shape_err!(
            "{what}: scratch is {} {:?} values but needs {need} f32 ({what}_scratch_len)",
            scratch.len(),
            scratch.dtype()
        );
    }
    let sa = |written| {
        let a = arg("scratch", scratch, scratch.len(), DType::F32);
        (super::Arg { written, ..a }, &[S][..])
    };
    let partials = spec.planes() * plan.nchunks;
    let p1 = Params {
        n: fits_u32(what, partials)?,
        chunk: plan.chunk as u32,
        nchunks: plan.nchunks as u32,
        ..base
    };
    let first = launch(
        gpu,
        what,
        op_key("global_pool_partial", op),
        &p1,
        &[xa, sa(true)],
    )?;
    let p2 = Params {
        n: base.planes,
        ..p1
    };
    let mut args = vec![sa(false)];
    args.extend(outs);
    let second = launch(gpu, what, op_key("global_pool_final", op), &p2, &args)?;
    Ok(vec![first, second])
}

/// y[n, c] = mean of x[n, c, :, :]. `scratch` must hold `global_avg_pool_scratch_len(spec)`
/// floats in a buffer of its own; when that is 0 it is not bound (any buffer will do).
pub fn global_avg_pool(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    x: &Buf,
    y: &Buf,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    forward(gpu, spec, Op::Avg, x, y, None, scratch)
}

/// y[n, c] = max of x[n, c, :, :], arg[n, c] = its position ih * W + iw (first maximum
/// wins). `scratch` as for `global_avg_pool`, sized by `global_max_pool_scratch_len`.
pub fn global_max_pool(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    x: &Buf,
    y: &Buf,
    argmax: &Buf,
    scratch: &Buf,
) -> Result<Vec<Dispatch>> {
    forward(gpu, spec, Op::Max, x, y, Some(argmax), scratch)
}

fn backward(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    op: Op,
    argmax: Option<&Buf>,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let what = match op {
        Op::Avg => "global avg pool backward",
        Op::Max => "global max pool backward",
    };
    // Balanced segments of at most SEG vec4s per plane (a 14 x 14 plane's 49: 7 x 7, not
    // 6 x 8 + 1). A plane's body has at most ceil(HW / 4) vec4s.
    let items = spec.hw().div_ceil(4);
    let nseg = items.div_ceil(SEG);
    let p = Params {
        n: fits_u32(what, spec.planes() * nseg)?,
        seg: items.div_ceil(nseg) as u32,
        nseg: nseg as u32,
        beta: beta(accumulate),
        ..spec.params()?
    };
    let (i, o) = (spec.in_len(), spec.planes());
    let dxa = (out("dx", dx, i, DType::F32), &[DX, DX4][..]);
    // As in the forward: the average never reads arg, dy fills its slot.
    let args = match argmax {
        Some(a) => vec![
            (arg("dy", dy, o, DType::F32), &[DY][..]),
            dxa,
            (arg("arg", a, o, DType::U32), &[ARGR][..]),
        ],
        None => vec![(arg("dy", dy, o, DType::F32), &[DY, ARGR][..]), dxa],
    };
    launch(gpu, what, op_key("global_pool_backward", op), &p, &args)
}

/// dx[n, c, h, w] = dy[n, c] / (H*W) (d mean / dx = 1 / HW); with `accumulate`, dx += it.
pub fn global_avg_pool_backward(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    backward(gpu, spec, Op::Avg, None, dy, dx, accumulate)
}

/// dx[n, c, j] = dy[n, c] at j = arg[n, c], 0 elsewhere (left unchanged when accumulating).
pub fn global_max_pool_backward(
    gpu: &Gpu,
    spec: &GlobalPoolSpec,
    argmax: &Buf,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    backward(gpu, spec, Op::Max, Some(argmax), dy, dx, accumulate)
}
