//! The ceiling probes (shaders/probe.wgsl). Their best GB/s (copies) and best GFLOP/s (FMA
//! chains) are the ceilings the other cases are measured against.

use super::{Case, Kind};
use crate::kernels::probe;
use crate::DType;

const MIB: usize = 1 << 20;
/// 64 MiB per buffer is far beyond any CPU cache, so copies run from memory.
const COPY_FLOATS: usize = 64 * MIB / 4;
/// 256 workgroups of 64: enough for every core of a CPU adapter (and a small GPU) to share.
const FMA_INVOCATIONS: usize = 16_384;
const FMA_ITERS: u32 = 2048;

pub fn probes() -> Vec<Case> {
    let copy_bytes = 2.0 * (COPY_FLOATS * 4) as f64;
    let shape = format!("[{COPY_FLOATS}] f32 (64 MiB)");
    let mut cases = vec![
        Case::new(
            &format!("probe copy_vec4 {}x{}", probe::COPY_WG, probe::COPY_PER),
            shape.clone(),
            0.0,
            copy_bytes,
            |gpu| {
                let src = gpu.zeros(COPY_FLOATS, DType::F32)?;
                let dst = gpu.zeros(COPY_FLOATS, DType::F32)?;
                let d = probe::copy_vec4(gpu, &src, &dst, probe::COPY_WG, probe::COPY_PER)?;
                Ok((vec![d], vec![src, dst]))
            },
        ),
        Case {
            kind: Kind::DriverCopy,
            ..Case::new(
                "probe copy_buffer_to_buffer",
                shape,
                0.0,
                copy_bytes,
                |gpu| {
                    let src = gpu.zeros(COPY_FLOATS, DType::F32)?;
                    let dst = gpu.zeros(COPY_FLOATS, DType::F32)?;
                    Ok((vec![], vec![src, dst]))
                },
            )
        },
    ];
    // 4 chains fill lavapipe's arithmetic pipelines; 2 and 8 show the ceiling is not an
    // artefact of that choice (fewer leave latency exposed, more spill registers).
    for chains in [2u32, 4, 8] {
        cases.push(Case::new(
            &format!("probe fma_peak x{chains}"),
            format!("{FMA_INVOCATIONS} inv x {chains} vec4 x {FMA_ITERS} steps"),
            probe::fma_flops(FMA_INVOCATIONS, chains, FMA_ITERS),
            (FMA_INVOCATIONS * 4) as f64,
            move |gpu| {
                let out = gpu.zeros(FMA_INVOCATIONS, DType::F32)?;
                let d = probe::fma_peak(gpu, chains, FMA_ITERS, &out)?;
                Ok((vec![d], vec![out]))
            },
        ));
    }
    cases
}
