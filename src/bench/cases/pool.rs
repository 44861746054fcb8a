//! Pooling cases at Deep InfoMax's encoder maps, [128, 64, 14, 14] and [128, 128, 7, 7]:
//! 2 x 2 max pooling at stride 2 and global average / max pooling, forward and backward.
//!
//! FLOPs: max pooling one compare-select per window element (k*k per output); its backward one
//! add per output; global pooling one add (average) or compare-select (max) per element; the
//! average's backward one multiply per element, the max's none (a select).
//! Bytes: x (dx) once, y and arg (dy and the saved arg) once, u32 arg at 4 bytes; the scratch
//! of two-pass global pools is not counted (these planes need one pass anyway).

use super::{f32s, out, Case, Data};
use crate::kernels::pool::{self, GlobalPoolSpec, MaxPoolSpec};
use crate::DType;

const SHAPES: [(usize, usize, usize, usize); 2] = [(128, 64, 14, 14), (128, 128, 7, 7)];

fn shape((n, c, h, w): (usize, usize, usize, usize)) -> String {
    format!("[{n}, {c}, {h}, {w}]")
}

fn max_cases(dims: (usize, usize, usize, usize)) -> Vec<Case> {
    let spec = MaxPoolSpec::k2(dims.0, dims.1, dims.2, dims.3);
    let (i, o) = (spec.in_len(), spec.out_len());
    let (oh, ow) = spec.out_hw();
    let shape = format!("{} -> {oh} x {ow}", shape(dims));
    vec![
        Case::new(
            "pool max 2x2 forward",
            shape.clone(),
            4.0 * o as f64,
            f32s(i + 2 * o),
            move |gpu| {
                let x = Data::new().f32(gpu, i, -1.0, 1.0)?;
                let (y, arg) = (out(gpu, o)?, gpu.zeros(o, DType::U32)?);
                let d = pool::max_pool(gpu, &spec, &x, &y, &arg)?;
                Ok((vec![d], vec![x, y, arg]))
            },
        ),
        Case::new(
            "pool max 2x2 backward",
            shape,
            o as f64,
            f32s(i + 2 * o),
            move |gpu| {
                let mut data = Data::new();
                let x = data.f32(gpu, i, -1.0, 1.0)?;
                let (y, arg) = (out(gpu, o)?, gpu.zeros(o, DType::U32)?);
                // A real argmax: the forward runs once while the case is built.
                gpu.run(&[&pool::max_pool(gpu, &spec, &x, &y, &arg)?])?;
                let dy = data.f32(gpu, o, -1.0, 1.0)?;
                let dx = out(gpu, i)?;
                let d = pool::max_pool_backward(gpu, &spec, &arg, &dy, &dx, false)?;
                Ok((vec![d], vec![x, y, arg, dy, dx]))
            },
        ),
    ]
}

fn global_cases(dims: (usize, usize, usize, usize)) -> Vec<Case> {
    let spec = GlobalPoolSpec::new(dims.0, dims.1, dims.2, dims.3);
    let (i, o) = (spec.in_len(), spec.planes());
    let shape = format!("{} -> [{}, {}]", shape(dims), dims.0, dims.1);
    vec![
        Case::new(
            "pool global avg forward",
            shape.clone(),
            i as f64,
            f32s(i + o),
            move |gpu| {
                let x = Data::new().f32(gpu, i, -1.0, 1.0)?;
                let y = out(gpu, o)?;
                let s = out(gpu, pool::global_avg_pool_scratch_len(&spec).max(1))?;
                let ds = pool::global_avg_pool(gpu, &spec, &x, &y, &s)?;
                Ok((ds, vec![x, y, s]))
            },
        ),
        Case::new(
            "pool global avg backward",
            shape.clone(),
            i as f64,
            f32s(i + o),
            move |gpu| {
                let dy = Data::new().f32(gpu, o, -1.0, 1.0)?;
                let dx = out(gpu, i)?;
                let d = pool::global_avg_pool_backward(gpu, &spec, &dy, &dx, false)?;
                Ok((vec![d], vec![dy, dx]))
            },
        ),
        Case::new(
            "pool global max forward",
            shape.clone(),
            i as f64,
            f32s(i + 2 * o),
            move |gpu| {
                let x = Data::new().f32(gpu, i, -1.0, 1.0)?;
                let (y, arg) = (out(gpu, o)?, gpu.zeros(o, DType::U32)?);
                let s = out(gpu, pool::global_max_pool_scratch_len(&spec).max(1))?;
                let ds = pool::global_max_pool(gpu, &spec, &x, &y, &arg, &s)?;
                Ok((ds, vec![x, y, arg, s]))
            },
        ),
        Case::new(
            "pool global max backward",
            shape,
            0.0,
            f32s(i + 2 * o),
            move |gpu| {
                let mut data = Data::new();
                let dy = data.f32(gpu, o, -1.0, 1.0)?;
                let arg = data.labels(gpu, o, (dims.2 * dims.3) as u32)?;
                let dx = out(gpu, i)?;
                let d = pool::global_max_pool_backward(gpu, &spec, &arg, &dy, &dx, false)?;
                Ok((vec![d], vec![dy, arg, dx]))
            },
        ),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    SHAPES
        .into_iter()
        .flat_map(|d| max_cases(d).into_iter().chain(global_cases(d)))
        .collect()
}
