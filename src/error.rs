//! One error type for the crate. Every variant carries a sentence a user can act on:
//! what is wrong and what to do about it. Nothing in the library panics on user input.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No usable GPU adapter (or none matching the user's --backend / --adapter choice).
    NoAdapter(String),
    /// A request exceeds what the adapter supports (buffer size, workgroup count, feature).
    Limit(String),
    /// Tensor shapes or lengths do not fit together.
    Shape(String),
    /// The GPU driver or wgpu reported an error (validation, out of memory, device lost).
    Gpu(String),
    /// A data or checkpoint file is missing, corrupt or of the wrong kind.
    Data(String),
    /// An invalid argument or configuration value.
    Config(String),
    /// A run stopped because its numbers went bad (NaN/Inf loss).
    Numeric(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            Error::NoAdapter(m) => ("no GPU adapter", m),
            Error::Limit(m) => ("adapter limit", m),
            Error::Shape(m) => ("shape mismatch", m),
            Error::Gpu(m) => ("GPU error", m),
            Error::Data(m) => ("bad data", m),
            Error::Config(m) => ("bad configuration", m),
            Error::Numeric(m) => ("numeric failure", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

impl std::error::Error for Error {}

/// Shorthand for returning a shape error: `shape_err!("a has {} rows", n)`.
#[macro_export]
macro_rules! shape_err {
    ($($arg:tt)*) => { Err($crate::Error::Shape(format!($($arg)*))) };
}
