//! The graph scheduler: a model is built once as a graph of kernel-library ops (`builder`,
//! `op`, `ops/`); `lower` turns it into kernel instructions and derives the backward by
//! reverse-mode autodiff; `plan` reuses buffers by liveness; `program` builds every dispatch
//! once and records a whole training step into one encoder and one submit.

pub mod builder;
pub mod instr;
pub mod lower;
pub mod op;
pub mod ops;
pub mod plan;
pub mod program;
pub mod tensor;

pub use builder::Graph;
pub use program::Program;
pub use tensor::{Role, T};
