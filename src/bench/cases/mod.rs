//! The benchmark case registry: every kernel family adds its cases here, one file per family.
//!
//! A case names a kernel at one shape, says how much work one call does, and builds its
//! dispatches plus the buffers they use (kept alive while the case is timed, so the pool
//! cannot hand them to another case meanwhile). Shapes are the ones the models use (MNIST
//! batches of 128: 784-400-20 MLPs, 64-channel conv maps) plus one large size per op.
//!
//! Counting convention (what the rate and share columns divide by):
//! - Bytes: every element of every input read once and every output written once, at its
//!   storage size (f16 = 2 bytes), as a perfect cache would; small per-feature vectors (bias,
//!   mean, gamma) count once, not once per row. Scratch traffic between the passes of a
//!   multi-pass op and the params uniform are not counted: the roofline is the operation's
//!   minimum traffic, so a two-pass implementation shows up as a lower share.
//! - FLOPs: the floating-point arithmetic of the op as our shader writes it on the common path,
//!   counted from the source and rounded: add, sub, mul, div, min/max, compare-select, sqrt
//!   and each built-in transcendental (exp, log, sin, cos) count 1, an FMA counts 2;
//!   our own polynomial log/log1p count their operations. Sign flips, abs, integer and index
//!   arithmetic, and the integer work of the RNG (Philox rounds) and of permutations (key
//!   comparisons) are not FLOPs: those cases are bound by integer work the roofline cannot
//!   see, so their shares look low for a reason other than memory.
//! - One call is everything the case's dispatches do, in order (e.g. all reduction levels).
//!
//! Inputs are uniform random values from a fixed seed (in ranges the models see), not zeros:
//! branches such as "Taylor series near 0" must take their usual mix of paths.

mod batchnorm;
mod conv;
mod elementwise;
mod layout;
mod loss;
mod matmul;
mod optimizer;
mod pairwise;
mod pool;
mod probe;
mod random;
mod reduce;
mod shuffle;

pub use probe::probes;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
    /// Floating-point operations per call (an FMA counts 2; see the convention above).
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

/// Kernel cases, grouped by family.
pub fn kernels() -> Vec<Case> {
    [
        matmul::cases(),
        elementwise::cases(),
        reduce::cases(),
        batchnorm::cases(),
        random::cases(),
        shuffle::cases(),
        loss::cases(),
        pairwise::cases(),
        layout::cases(),
        optimizer::cases(),
        pool::cases(),
        conv::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Bytes of `n` f32 (or u32) elements, as the f64 the counts use.
fn f32s(n: usize) -> f64 {
    4.0 * n as f64
}

/// Deterministic inputs for a case: the same values every run.
struct Data(StdRng);

impl Data {
    fn new() -> Data {
        Data(StdRng::seed_from_u64(0x5eed))
    }

    fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(lo..hi)).collect()
    }

    /// `n` f32 uniform in [lo, hi).
    fn f32(&mut self, gpu: &Gpu, n: usize, lo: f32, hi: f32) -> Result<Buf> {
        gpu.upload(&self.values(n, lo, hi))
    }

    /// `n` f16 uniform in [lo, hi).
    fn f16(&mut self, gpu: &Gpu, n: usize, lo: f32, hi: f32) -> Result<Buf> {
        let v: Vec<half::f16> = self
            .values(n, lo, hi)
            .into_iter()
            .map(half::f16::from_f32)
            .collect();
        gpu.upload(&v)
    }

    /// `n` u32 labels below `k`.
    fn labels(&mut self, gpu: &Gpu, n: usize, k: u32) -> Result<Buf> {
        let v: Vec<u32> = (0..n).map(|_| self.0.random_range(0..k)).collect();
        gpu.upload(&v)
    }
}

/// An output buffer (zeroed; its old contents never matter to the timed kernels).
fn out(gpu: &Gpu, n: usize) -> Result<Buf> {
    gpu.zeros(n, DType::F32)
}
