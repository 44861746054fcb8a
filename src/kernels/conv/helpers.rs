//! Dispatches of the conv family's helper kernels (conv_pack_dx, conv_sum_partials,
//! conv_bias_partials, conv_pad_planes, conv_col2im): one invocation per element, 64 lanes.

use super::gemm::{flag, round4, u, Epi, Params};
use super::spec::Conv2dSpec;
use crate::kernels::{grid_1d, Family};
use crate::{Buf, Dispatch, Gpu, KernelKey, Result};

/// Pipeline key of a helper kernel (64 lanes per workgroup; the Params fields each one reads
/// are named in the shader).
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
