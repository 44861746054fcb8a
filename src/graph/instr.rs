//! Instructions: the kernel-level steps a graph lowers to. Each names the tensors it reads
//! and writes (for the memory plan) and knows how to build its dispatches once buffers are
//! assigned. Values that change per step (RNG offsets, optimizer step) are refreshed by
//! `per_step` through `Gpu::set_params`, never by rebuilding.

use crate::graph::tensor::T;
use crate::{Buf, Dispatch, Gpu, Result};

/// Maps a tensor to its buffer while dispatches are built.
pub type Bufs<'a> = dyn Fn(T) -> &'a Buf + 'a;

type Build = Box<dyn Fn(&Gpu, &Bufs<'_>) -> Result<Vec<Dispatch>>>;
type PerStep = Box<dyn Fn(&Gpu, &[Dispatch], u64)>;

pub struct Instr {
    pub label: String,
    pub reads: Vec<T>,
    pub writes: Vec<T>,
    pub build: Build,
    pub per_step: Option<PerStep>,
}

impl std::fmt::Debug for Instr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reads {:?} writes {:?}",
            self.label, self.reads, self.writes
        )
    }
}

impl Instr {
    pub fn new(
        label: impl Into<String>,
        reads: &[T],
        writes: &[T],
        build: impl Fn(&Gpu, &Bufs<'_>) -> Result<Vec<Dispatch>> + 'static,
    ) -> Instr {
        Instr {
            label: label.into(),
            reads: reads.to_vec(),
            writes: writes.to_vec(),
            build: Box::new(build),
            per_step: None,
        }
    }

    /// Refresh this instruction's params before each step (given the global step number).
    pub fn with_per_step(mut self, f: impl Fn(&Gpu, &[Dispatch], u64) + 'static) -> Instr {
        self.per_step = Some(Box::new(f));
        self
    }
}

/// Build a single dispatch (the common case) as a one-element list.
pub fn one(d: Result<Dispatch>) -> Result<Vec<Dispatch>> {
    d.map(|d| vec![d])
}
