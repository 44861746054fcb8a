//! The GPU runtime: adapter/device selection (`context`), buffers and their pool (`buffer`),
//! pipelines cached by typed key (`pipeline`), and command recording (`dispatch`).

pub mod buffer;
pub mod context;
pub mod dispatch;
pub mod pipeline;

pub use buffer::{Buf, DType, Element};
pub use context::{list_adapters, Gpu, GpuOptions};
pub use dispatch::Dispatch;
pub use pipeline::{validate_wgsl, Kernel, KernelKey};
