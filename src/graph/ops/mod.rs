//! Graph operations by family: builder method, forward lowering and backward rule together.

pub mod dense;
pub mod losses;
pub mod norm;
pub mod pairwise;
pub mod pointwise;
pub mod reduction;
pub mod stochastic;
