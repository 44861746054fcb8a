//! Layout cases: Deep InfoMax's local discriminator input, a [128, 64, 7, 7] feature map with
//! the [128, 64] global code broadcast over the 7 x 7 positions and appended as channels
//! (y [128, 128, 7, 7]), and its backward (dmap = the first 64 channels of dy, dvec = the sum
//! of the rest over the positions).
//!
//! FLOPs: none forward (data movement); one add per summed element backward. Bytes: map, vec
//! and y once.

use super::{f32s, out, Case, Data};
use crate::kernels::layout::{self, MapVec};

pub(super) fn cases() -> Vec<Case> {
    let s = MapVec {
        n: 128,
        c: 64,
        d: 64,
        hw: 49,
    };
    let (nm, nv, ny) = (s.n * s.c * s.hw, s.n * s.d, s.n * (s.c + s.d) * s.hw);
    let shape = "[128, 64, 7, 7] + [128, 64]".to_string();
    vec![
        Case::new(
            "layout concat_map_vec",
            shape.clone(),
            0.0,
            f32s(nm + nv + ny),
            move |gpu| {
                let mut data = Data::new();
                let m = data.f32(gpu, nm, -1.0, 1.0)?;
                let v = data.f32(gpu, nv, -1.0, 1.0)?;
                let y = out(gpu, ny)?;
                let d = layout::concat_map_vec(gpu, s, &m, &v, &y)?;
                Ok((vec![d], vec![m, v, y]))
            },
        ),
        Case::new(
            "layout concat_map_vec backward",
            shape,
            (s.n * s.d * s.hw) as f64,
            f32s(nm + nv + ny),
            move |gpu| {
                let dy = Data::new().f32(gpu, ny, -1.0, 1.0)?;
                let (dm, dv) = (out(gpu, nm)?, out(gpu, nv)?);
                let d = layout::concat_map_vec_backward(gpu, s, &dy, &dm, &dv, [false; 2])?;
                Ok((vec![d], vec![dy, dm, dv]))
            },
        ),
    ]
}
