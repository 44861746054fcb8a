//! Graph operations by family: builder method, forward lowering and backward rule together.

pub mod conv;
pub mod conv_transpose;
pub mod dense;
pub mod layout;
pub mod losses;
pub mod norm;
pub mod pairwise;
pub mod pointwise;
pub mod pool;
pub mod reduction;
pub mod shuffle;
pub mod stochastic;
