//! The benchmark case registry: every kernel family adds its cases here, in one place.
//!
//! A case names a kernel at one shape, says how much work one call does (FLOPs and bytes
//! moved to or from memory, counted once per element as a perfect cache would), and builds
//! its dispatches plus the buffers they use (kept alive while the case is timed, so the pool
//! cannot hand them to another case meanwhile).

use crate::kernels::elementwise::{self, Unary};
use crate::kernels::optimizer::{Adam, Sgd};
use crate::kernels::probe;
use crate::{Buf, DType, Dispatch, Gpu, Result};

pub type Build = Box<dyn Fn(&Gpu) -> Result<(Vec<Dispatch>, Vec<Buf>)>>;

/// How a call of the case is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The built dispatches, in order, in one compute pass.
    Dispatch,
    /// The driver's `copy_buffer_to_buffer` from the first built buffer into the second.
    DriverCopy,
}

pub struct Case {
    pub name: String,
    pub shape: String,
    /// Floating-point operations per call (an FMA counts 2).
    pub flops: f64,
    /// Bytes read plus bytes written per call.
    pub bytes: f64,
    pub kind: Kind,
    pub build: Build,
}

impl Case {
    pub fn new(
        name: &str,
        shape: String,
        flops: f64,
        bytes: f64,
        build: impl Fn(&Gpu) -> Result<(Vec<Dispatch>, Vec<Buf>)> + 'static,
    ) -> Case {
        Case {
            name: name.into(),
            shape,
            flops,
            bytes,
            kind: Kind::Dispatch,
            build: Box::new(build),
        }
    }
}

const MIB: usize = 1 << 20;
/// Probe sizes: 64 MiB per buffer is far beyond any CPU cache, so copies run from memory.
const COPY_FLOATS: usize = 64 * MIB / 4;
const FMA_INVOCATIONS: usize = 16_384;
const FMA_ITERS: u32 = 2048;

/// The ceiling probes. Their best GB/s (copies) and best GFLOP/s (FMA chains) are the
/// ceilings the other cases are measured against.
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
    for chains in [2u32, 4, 8] {
        cases.push(Case::new(
            &format!("probe fma_peak x{chains}"),
            format!("{FMA_INVOCATIONS} inv x {chains} vec4 x {FMA_ITERS} steps"),
            probe::fma_flops(FMA_INVOCATIONS, chains, FMA_ITERS),
            (FMA_INVOCATIONS * 4) as f64,
            move |gpu| {
                let out = gpu.zeros(FMA_INVOCATIONS, DType::F32)?;
                Ok((
                    vec![probe::fma_peak(gpu, chains, FMA_ITERS, &out)?],
                    vec![out],
                ))
            },
        ));
    }
    cases
}

const ELEMENTS: usize = 4 * MIB;
const PARAMS: usize = MIB;

/// Kernel cases, grouped by family. Add new families' cases here.
pub fn kernels() -> Vec<Case> {
    vec![
        // elementwise: read x, write y.
        Case::new(
            "elementwise relu",
            format!("[{ELEMENTS}]"),
            ELEMENTS as f64,
            (ELEMENTS * 8) as f64,
            |gpu| {
                let x = gpu.zeros(ELEMENTS, DType::F32)?;
                let y = gpu.zeros(ELEMENTS, DType::F32)?;
                let d = elementwise::unary(gpu, Unary::Relu, &x, &y)?;
                Ok((vec![d], vec![x, y]))
            },
        ),
        // optimizer: Adam reads p, g, m, v and writes p, m, v (28 B); about 16 FLOPs counting
        // the sqrt and the two divisions as one each.
        Case::new(
            "optimizer adam",
            format!("{PARAMS} params"),
            16.0 * PARAMS as f64,
            28.0 * PARAMS as f64,
            |gpu| {
                let bufs = (0..4)
                    .map(|_| gpu.zeros(PARAMS, DType::F32))
                    .collect::<Result<Vec<_>>>()?;
                let d = Adam::adamw(PARAMS, 1e-3, 0.01)
                    .dispatch(gpu, &bufs[0], &bufs[1], &bufs[2], &bufs[3])?;
                Ok((vec![d], bufs))
            },
        ),
        // SGD with momentum reads p, g, buf and writes p, buf (20 B); 5 FLOPs.
        Case::new(
            "optimizer sgd momentum",
            format!("{PARAMS} params"),
            5.0 * PARAMS as f64,
            20.0 * PARAMS as f64,
            |gpu| {
                let bufs = (0..3)
                    .map(|_| gpu.zeros(PARAMS, DType::F32))
                    .collect::<Result<Vec<_>>>()?;
                let d = Sgd::new(PARAMS, 1e-2, 0.9).dispatch(
                    gpu,
                    &bufs[0],
                    &bufs[1],
                    Some(&bufs[2]),
                )?;
                Ok((vec![d], bufs))
            },
        ),
    ]
}
