//! Twin of shaders/reduce.wgsl: sum and mean of a matrix over rows, over columns or in full,
//! and their backward (broadcast).
//!
//! Shapes: x [R, C] row-major; y [C] (`Axis::Rows`), [R] (`Axis::Cols`) or [1] (`Axis::All`);
//! dy like y, dx like x. Large reductions run as several levels (see the shader's header) whose
//! partials live in a caller-owned scratch buffer of `reduce_scratch_len` floats.

use bytemuck::{Pod, Zeroable};

use crate::kernels::{grid_1d, Family};
use crate::{shape_err, Buf, Dispatch, Gpu, KernelKey, Result};

const WG: usize = 64;

/// Most elements one invocation sums per level. 1024 in blocks of 32 keeps the serial rounding
/// chain per level at ~64 additions while a [128, 400] bias gradient stays one dispatch, and
/// keeps each invocation far below llvmpipe's silent cap of 65,535 loop iterations per
/// invocation (see the shader's header).
pub(crate) const CHUNK_MAX: usize = 1024;

/// Mirrors the shader's `Params` field by field (meanings documented there).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
pub struct Params {
    pub outs: u32,
    pub len: u32,
    pub chunk: u32,
    pub nchunks: u32,
    pub so: u32,
    pub sk: u32,
    pub in_off: u32,
    pub out_off: u32,
    pub scale: f32,
    pub beta: f32,
    pub n: u32,
    pub div: u32,
    pub modulo: u32,
}

/// Which axis disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Over the rows: [R, C] -> [C] (per column; a Linear layer's bias gradient).
    Rows,
    /// Over the columns: [R, C] -> [R] (per row).
    Cols,
    /// Everything: [R, C] -> [1].
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Sum,
    Mean,
}

/// A reduction of x [rows, cols] along `axis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReduceSpec {
    pub rows: usize,
    pub cols: usize,
    pub axis: Axis,
    pub op: Op,
}

impl ReduceSpec {
    pub fn new(rows: usize, cols: usize, axis: Axis, op: Op) -> Self {
        ReduceSpec {
            rows,
            cols,
            axis,
            op,
        }
    }

    /// Length of y (and dy).
    pub fn out_len(&self) -> usize {
        match self.axis {
            Axis::Rows => self.cols,
            Axis::Cols => self.rows,
            Axis::All => 1,
        }
    }

    /// Elements reduced into each output (K).
    pub fn count(&self) -> usize {
        self.rows * self.cols / self.out_len().max(1)
    }

    fn scale(&self) -> f32 {
        match self.op {
            Op::Sum => 1.0,
            Op::Mean => (1.0 / self.count() as f64) as f32,
        }
    }

    /// (so, sk): input strides between outputs and between the elements of one output.
    fn strides(&self) -> (usize, usize) {
        match self.axis {
            Axis::Rows => (1, self.cols),
            Axis::Cols => (self.cols, 1),
            Axis::All => (0, 1),
        }
    }

    fn check(&self) -> Result<()> {
        let n = self.rows.checked_mul(self.cols);
        if self.rows == 0 || self.cols == 0 || n.is_none_or(|n| n > u32::MAX as usize) {
            return shape_err!(
                "reduce: x is [{}, {}]; both sides must be at least 1 and R*C below 2^32",
                self.rows,
                self.cols
            );
        }
        Ok(())
    }
}

/// One level of a chunked reduction: `len` elements per output split into `nchunks` chunks of
/// at most `chunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Level {
    pub len: usize,
    pub chunk: usize,
    pub nchunks: usize,
}

/// The levels that reduce `len` elements per output to one; chunks are balanced (a level of
/// 1025 elements is 2 chunks of 513, not 1024 + 1). Shared with the batchnorm twin.
pub(crate) fn levels(len: usize) -> Vec<Level> {
    let mut out = Vec::new();
    let mut len = len.max(1);
    loop {
        let nchunks = len.div_ceil(CHUNK_MAX);
        let chunk = len.div_ceil(nchunks);
        out.push(Level {
            len,
            chunk,
            nchunks,
        });
        if nchunks == 1 {
            return out;
        }
        len = nchunks;
    }
}

/// Floats of scratch `reduce` needs for `spec`: the partials of every level but the last
/// (0 when one level suffices, i.e. K <= 1024).
pub fn reduce_scratch_len(spec: &ReduceSpec) -> usize {
    let lv = levels(spec.count());
    lv[..lv.len() - 1]
        .iter()
        .map(|l| l.nchunks * spec.out_len())
        .sum()
}

fn acc(accumulate: bool) -> f32 {
    if accumulate {
        1.0
    } else {
        0.0
    }
}

/// y = sum (or mean) of x along `spec.axis`; with `accumulate`, y += it. `scratch` must hold
/// `reduce_scratch_len(spec)` floats and be distinct from x and y; when that is 0 any buffer
/// will do (it is not bound).
pub fn reduce(
    gpu: &Gpu,
    spec: &ReduceSpec,
    x: &Buf,
    y: &Buf,
    scratch: &Buf,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    spec.check()?;
    let (rows, cols, outs) = (spec.rows, spec.cols, spec.out_len());
    if x.len() != rows * cols || y.len() != outs {
        return shape_err!(
            "reduce {:?} over {:?} of x [{rows}, {cols}]: x has {} elements (want {}), y {} \
             (want {outs})",
            spec.op,
            spec.axis,
            x.len(),
            rows * cols,
            y.len()
        );
    }
    let need = reduce_scratch_len(spec);
    if need > 0 && (scratch.len() < need || std::ptr::eq(scratch, x) || std::ptr::eq(scratch, y)) {
        return shape_err!(
            "reduce of x [{rows}, {cols}]: scratch has {} floats but needs {need} \
             (reduce_scratch_len), in a buffer other than x and y",
            scratch.len()
        );
    }
    let lv = levels(spec.count());
    let last = lv.len() - 1;
    let (so, sk) = spec.strides();
    let mut in_off = 0;
    let mut out_off = 0;
    let mut out = Vec::with_capacity(lv.len());
    for (i, l) in lv.iter().enumerate() {
        let (entry, bufs): (&'static str, [&Buf; 3]) = match (i == 0, i == last) {
            (true, true) => ("reduce_x_to_y", [x, y, scratch]),
            (true, false) => ("reduce_x_to_s", [x, y, scratch]),
            (false, false) => ("reduce_s_to_s", [x, y, scratch]),
            (false, true) => ("reduce_s_to_y", [x, y, scratch]),
        };
        // Levels after the first read the previous level's partials [nchunks, O].
        let (so, sk) = if i == 0 { (so, sk) } else { (1, outs) };
        let params = Params {
            outs: outs as u32,
            len: l.len as u32,
            chunk: l.chunk as u32,
            nchunks: l.nchunks as u32,
            so: so as u32,
            sk: sk as u32,
            in_off: in_off as u32,
            out_off: out_off as u32,
            scale: spec.scale(),
            beta: acc(accumulate),
            ..Default::default()
        };
        let key = KernelKey::new(Family::Reduce, entry).with("WG", WG as f64);
        let groups = grid_1d(gpu, outs * l.nchunks, WG)?;
        out.push(gpu.dispatch(&key, &params, &bufs, groups)?);
        in_off = out_off;
        out_off += outs * l.nchunks;
    }
    Ok(out)
}

/// Backward: dx[r, c] = scale * dy[o(r, c)] (d sum/dx = 1, d mean/dx = 1/K); with
/// `accumulate`, dx += it.
pub fn reduce_backward(
    gpu: &Gpu,
    spec: &ReduceSpec,
    dy: &Buf,
    dx: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    spec.check()?;
    let (rows, cols) = (spec.rows, spec.cols);
    if dy.len() != spec.out_len() || dx.len() != rows * cols {
        return shape_err!(
            "reduce backward over {:?} of [{rows}, {cols}]: dy has {} elements (want {}), dx {} \
             (want {})",
            spec.axis,
            dy.len(),
            spec.out_len(),
            dx.len(),
            rows * cols
        );
    }
    let (div, modulo) = match spec.axis {
        Axis::Rows => (1, cols),
        Axis::Cols => (cols, rows),
        Axis::All => (1, 1),
    };
    let n = rows * cols;
    let params = Params {
        scale: spec.scale(),
        beta: acc(accumulate),
        n: n as u32,
        div: div as u32,
        modulo: modulo as u32,
        ..Default::default()
    };
    let key = KernelKey::new(Family::Reduce, "reduce_backward").with("WG", WG as f64);
    // Bindings 1..3 are unused by this entry point; dy and dx sit at 4 and 5.
    gpu.dispatch(&key, &params, &[dy, dx, dx, dy, dx], grid_1d(gpu, n, WG)?)
}

/// f64 references.
pub mod cpu {
    use super::{Axis, Op, ReduceSpec};

    /// y = sum (or mean) of x [R, C] along the axis.
    pub fn reduce(spec: &ReduceSpec, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; spec.out_len()];
        for r in 0..spec.rows {
            for c in 0..spec.cols {
                let o = match spec.axis {
                    Axis::Rows => c,
                    Axis::Cols => r,
                    Axis::All => 0,
                };
                y[o] += x[r * spec.cols + c];
            }
        }
        if spec.op == Op::Mean {
            let k = spec.count() as f64;
            y.iter_mut().for_each(|v| *v /= k);
        }
        y
    }

    /// dx = dy broadcast back to [R, C], times 1/K for the mean.
    pub fn reduce_backward(spec: &ReduceSpec, dy: &[f64]) -> Vec<f64> {
        let scale = match spec.op {
            Op::Sum => 1.0,
            Op::Mean => 1.0 / spec.count() as f64,
        };
        let mut dx = Vec::with_capacity(spec.rows * spec.cols);
        for r in 0..spec.rows {
            for c in 0..spec.cols {
                let o = match spec.axis {
                    Axis::Rows => c,
                    Axis::Cols => r,
                    Axis::All => 0,
                };
                dx.push(scale * dy[o]);
            }
        }
        dx
    }
}
