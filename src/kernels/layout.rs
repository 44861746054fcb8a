//! Twin of shaders/layout.wgsl: concatenation along features and its backward (split),
//! broadcasting a vector over spatial positions and its backward (sum over H*W), and
//! concatenating a feature map with a broadcast vector along channels (Deep InfoMax's local
//! discriminator input) and its backward.
//!
//! Shapes (row-major, NCHW, HW = H*W; the kernels only need H*W, so they take `hw`):
//! - `Features { rows: B, fa, fb }`: a [B, Fa], b [B, Fb] <-> y [B, Fa+Fb]
//! - `Spatial { n: N, d: D, hw }`: z [N, D] <-> y [N, D, H, W]
//! - `MapVec { n: N, c: C, d: D, hw }`: m [N, C, H, W], v [N, D] <-> y [N, C+D, H, W]

use bytemuck::{Pod, Zeroable};

use crate::kernels::elementwise::args::{beta, bind, count, read, write, Arg};
use crate::kernels::{grid_1d, Family};
use crate::{Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

/// Threads per workgroup (a multiple of lavapipe's 8-wide SIMD).
const WG: usize = 64;

// Binding numbers of shaders/layout.wgsl (see the file header).
const A: u32 = 1;
const B: u32 = 2;
const Y: u32 = 3;
const Y2: u32 = 4;

/// Mirrors the WGSL `Params` (binding 0).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Params {
    /// Threads doing work.
    pub n: u32,
    pub rows: u32,
    pub fa: u32,
    pub fb: u32,
    pub hw: u32,
    /// 0 or 1: accumulate into the first output.
    pub beta: f32,
    /// 0 or 1: accumulate into the second output.
    pub beta2: f32,
}

/// a [rows, fa] and b [rows, fb] side by side: y [rows, fa + fb].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub rows: usize,
    pub fa: usize,
    pub fb: usize,
}

/// z [n, d] repeated over hw = H*W positions: y [n, d, H, W].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spatial {
    pub n: usize,
    pub d: usize,
    pub hw: usize,
}

/// m [n, c, H, W] with v [n, d] broadcast over hw = H*W appended as channels: y [n, c+d, H, W].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapVec {
    pub n: usize,
    pub c: usize,
    pub d: usize,
    pub hw: usize,
}

/// Sizes as the shader's u32: the thread count, then rows, fa, fb, hw.
fn dims(what: &str, threads: usize, v: [usize; 4]) -> Result<[u32; 5]> {
    let [rows, fa, fb, hw] = v.map(|x| count(what, x));
    Ok([count(what, threads)?, rows?, fa?, fb?, hw?])
}

/// Product of sizes, or a named error instead of a wrapped overflow.
fn mul(what: &str, v: &[usize]) -> Result<usize> {
    v.iter()
        .try_fold(1usize, |p, &x| p.checked_mul(x))
        .ok_or_else(|| Error::Limit(format!("{what}: the tensor sizes {v:?} overflow")))
}

fn launch(
    gpu: &Gpu,
    entry: &'static str,
    [n, rows, fa, fb, hw]: [u32; 5],
    accumulate: [bool; 2],
    args: &[Arg],
) -> Result<Dispatch> {
    let bufs = bind(entry, DType::F32, args)?;
    let key = KernelKey::new(Family::Layout, entry).with("WG", WG as f64);
    let params = Params {
        n,
        rows,
        fa,
        fb,
        hw,
        beta: beta(accumulate[0]),
        beta2: beta(accumulate[1]),
    };
    gpu.dispatch(&key, &params, &bufs, grid_1d(gpu, n as usize, WG)?)
}

impl Features {
    /// ([a, b, y] lengths, dims); one thread per y element.
    fn dims(self, what: &str) -> Result<([usize; 3], [u32; 5])> {
        let Self { rows, fa, fb } = self;
        let y = mul(what, &[rows, fa.saturating_add(fb)])?;
        let d = dims(what, y, [rows, fa, fb, 1])?;
        Ok(([mul(what, &[rows, fa])?, mul(what, &[rows, fb])?, y], d))
    }
}

impl Spatial {
    /// ([z, y] lengths, dims); one thread per y element (forward) or per z element (backward).
    fn dims(self, what: &str, backward: bool) -> Result<([usize; 2], [u32; 5])> {
        let Self { n, d, hw } = self;
        let (z, y) = (mul(what, &[n, d])?, mul(what, &[n, d, hw])?);
        let dd = dims(what, if backward { z } else { y }, [n, d, 0, hw])?;
        Ok(([z, y], dd))
    }
}

impl MapVec {
    /// ([map, vec, y] lengths, dims); one thread per y element (forward), or per map element
    /// plus one per vec element (backward).
    fn dims(self, what: &str, backward: bool) -> Result<([usize; 3], [u32; 5])> {
        let Self { n, c, d, hw } = self;
        let (m, v) = (mul(what, &[n, c, hw])?, mul(what, &[n, d])?);
        let y = mul(what, &[n, c.saturating_add(d), hw])?;
        let threads = if backward { m.saturating_add(v) } else { y };
        Ok(([m, v, y], dims(what, threads, [n, c, d, hw])?))
    }
}

/// y [B, Fa+Fb] = [a | b].
pub fn concat_features(gpu: &Gpu, s: Features, a: &Buf, b: &Buf, y: &Buf) -> Result<Dispatch> {
    let what = "concat_features";
    let ([na, nb, ny], d) = s.dims(what)?;
    let args = [
        read("a", A, a, na),
        read("b", B, b, nb),
        write("y", Y, y, ny),
    ];
    launch(gpu, what, d, [false; 2], &args)
}

/// Backward of `concat_features`: da = dy[:, :Fa], db = dy[:, Fa:]; `accumulate[0]` for da,
/// `[1]` for db.
pub fn split_features(
    gpu: &Gpu,
    s: Features,
    dy: &Buf,
    da: &Buf,
    db: &Buf,
    accumulate: [bool; 2],
) -> Result<Dispatch> {
    let what = "split_features";
    let ([na, nb, ny], d) = s.dims(what)?;
    let args = [
        read("dy", A, dy, ny),
        write("da", Y, da, na),
        write("db", Y2, db, nb),
    ];
    launch(gpu, what, d, accumulate, &args)
}

/// y [N, D, H, W] = z [N, D] at every position.
pub fn broadcast_spatial(gpu: &Gpu, s: Spatial, z: &Buf, y: &Buf) -> Result<Dispatch> {
    let what = "broadcast_spatial";
    let ([nz, ny], d) = s.dims(what, false)?;
    launch(
        gpu,
        what,
        d,
        [false; 2],
        &[read("z", A, z, nz), write("y", Y, y, ny)],
    )
}

/// Backward of `broadcast_spatial`: dz[n, d] = sum over H*W of dy[n, d, :, :].
pub fn broadcast_spatial_backward(
    gpu: &Gpu,
    s: Spatial,
    dy: &Buf,
    dz: &Buf,
    accumulate: bool,
) -> Result<Dispatch> {
    let what = "broadcast_spatial_backward";
    let ([nz, ny], d) = s.dims(what, true)?;
    let args = [read("dy", A, dy, ny), write("dz", Y, dz, nz)];
    launch(gpu, what, d, [accumulate, false], &args)
}

/// y [N, C+D, H, W]: the map's C channels, then v's D values each broadcast over H*W.
pub fn concat_map_vec(gpu: &Gpu, s: MapVec, m: &Buf, v: &Buf, y: &Buf) -> Result<Dispatch> {
    let what = "concat_map_vec";
    let ([nm, nv, ny], d) = s.dims(what, false)?;
    let args = [
        read("map", A, m, nm),
        read("vec", B, v, nv),
        write("y", Y, y, ny),
    ];
    launch(gpu, what, d, [false; 2], &args)
}

/// Backward of `concat_map_vec`: dm = dy[:, :C], dv[n, d] = sum over H*W of dy[n, C + d];
/// `accumulate[0]` for dm, `[1]` for dv.
pub fn concat_map_vec_backward(
    gpu: &Gpu,
    s: MapVec,
    dy: &Buf,
    dm: &Buf,
    dv: &Buf,
    accumulate: [bool; 2],
) -> Result<Dispatch> {
    let what = "concat_map_vec_backward";
    let ([nm, nv, ny], d) = s.dims(what, true)?;
    let args = [
        read("dy", A, dy, ny),
        write("dmap", Y, dm, nm),
        write("dvec", Y2, dv, nv),
    ];
    launch(gpu, what, d, accumulate, &args)
}

/// f64 reference of every entry point. Backward references return the fresh gradients
/// (accumulate = true adds them to the old contents).
pub mod cpu {
    use super::{Features, MapVec, Spatial};

    pub fn concat_features(s: Features, a: &[f64], b: &[f64]) -> Vec<f64> {
        (0..s.rows)
            .flat_map(|r| {
                a[r * s.fa..(r + 1) * s.fa]
                    .iter()
                    .chain(&b[r * s.fb..(r + 1) * s.fb])
            })
            .copied()
            .collect()
    }

    /// (da, db): d/da of concat is the identity onto the first Fa columns, and so on.
    pub fn split_features(s: Features, dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let f = s.fa + s.fb;
        let (mut da, mut db) = (Vec::new(), Vec::new());
        for row in dy.chunks(f.max(1)).take(s.rows) {
            da.extend_from_slice(&row[..s.fa]);
            db.extend_from_slice(&row[s.fa..]);
        }
        (da, db)
    }

    pub fn broadcast_spatial(s: Spatial, z: &[f64]) -> Vec<f64> {
        z.iter()
            .flat_map(|&v| std::iter::repeat_n(v, s.hw))
            .collect()
    }

    /// dz[n, d] = sum_hw dy[n, d, hw] (each z feeds hw outputs).
    pub fn broadcast_spatial_backward(s: Spatial, dy: &[f64]) -> Vec<f64> {
        (0..s.n * s.d)
            .map(|j| dy[j * s.hw..(j + 1) * s.hw].iter().sum())
            .collect()
    }

    pub fn concat_map_vec(s: MapVec, m: &[f64], v: &[f64]) -> Vec<f64> {
        let mut y = Vec::with_capacity(s.n * (s.c + s.d) * s.hw);
        for n in 0..s.n {
            y.extend_from_slice(&m[n * s.c * s.hw..(n + 1) * s.c * s.hw]);
            for &x in &v[n * s.d..(n + 1) * s.d] {
                y.extend(std::iter::repeat_n(x, s.hw));
            }
        }
        y
    }

    /// (dm, dv): dm is the first C channels of dy; dv[n, d] = sum_hw dy[n, C + d, hw].
    pub fn concat_map_vec_backward(s: MapVec, dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let per = (s.c + s.d) * s.hw;
        let (mut dm, mut dv) = (Vec::new(), Vec::new());
        for n in 0..s.n {
            let img = &dy[n * per..(n + 1) * per];
            dm.extend_from_slice(&img[..s.c * s.hw]);
            for d in 0..s.d {
                let at = (s.c + d) * s.hw;
                dv.push(img[at..at + s.hw].iter().sum());
            }
        }
        (dm, dv)
    }
}
