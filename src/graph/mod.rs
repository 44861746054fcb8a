//! The graph scheduler: a model is built once as a graph of kernel-library ops; reverse-mode
//! autodiff derives the backward; a memory plan assigns buffers by liveness; the scheduler
//! records a whole training step into one encoder and one submit.

pub mod plan;
