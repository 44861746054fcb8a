//! What a batch-norm call describes: the layout and hyper-parameters (`BatchNormSpec`), which
//! statistics normalise (`Stats`), the affine parameters and the gradient buffers.

use crate::{shape_err, Buf, Error, Result};

/// Where the statistics are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// BatchNorm1d on x [B, F]: per column, over the B rows.
    Rows { b: usize, f: usize },
    /// BatchNorm2d on x [N, C, H, W]: per channel, over N*H*W values.
    Nchw {
        n: usize,
        c: usize,
        h: usize,
        w: usize,
    },
}

/// A batch-norm layer's shape and hyper-parameters (PyTorch's meaning). `momentum` weighs the
/// new batch in the running statistics (PyTorch's `momentum=None`, a cumulative average, is
/// not offered).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormSpec {
    pub layout: Layout,
    pub affine: bool,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNormSpec {
    /// PyTorch's defaults: affine, eps 1e-5, momentum 0.1.
    pub fn new(layout: Layout) -> Self {
        BatchNormSpec {
            layout,
            affine: true,
            eps: 1e-5,
            momentum: 0.1,
        }
    }
    pub fn rows(b: usize, f: usize) -> Self {
        Self::new(Layout::Rows { b, f })
    }
    pub fn nchw(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self::new(Layout::Nchw { n, c, h, w })
    }
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// F: features (BatchNorm1d) or channels (BatchNorm2d); the length of every statistic.
    pub fn features(&self) -> usize {
        match self.layout {
            Layout::Rows { f, .. } => f,
            Layout::Nchw { c, .. } => c,
        }
    }

    /// Values per feature: B, or N*H*W.
    pub fn count(&self) -> usize {
        match self.layout {
            Layout::Rows { b, .. } => b,
            Layout::Nchw { n, h, w, .. } => n * h * w,
        }
    }

    /// Elements of x (and y, dy, dx).
    pub fn numel(&self) -> usize {
        self.count() * self.features()
    }

    /// I: the run of contiguous values one feature has before the next feature's run.
    pub(crate) fn inner(&self) -> usize {
        match self.layout {
            Layout::Rows { .. } => 1,
            Layout::Nchw { h, w, .. } => h * w,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        let dims: Vec<usize> = match self.layout {
            Layout::Rows { b, f } => vec![b, f],
            Layout::Nchw { n, c, h, w } => vec![n, c, h, w],
        };
        let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if dims.contains(&0) || numel.is_none_or(|n| n > u32::MAX as usize) {
            return shape_err!(
                "batch norm over {:?}: every dimension must be at least 1 and the tensor below \
                 2^32 elements",
                self.layout
            );
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::Config(format!(
                "batch norm eps is {}; it must be positive and finite (it keeps rstd finite for \
                 a feature whose batch variance is 0), e.g. 1e-5",
                self.eps
            )));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::Config(format!(
                "batch norm momentum is {}; it must lie in [0, 1] (PyTorch's default is 0.1)",
                self.momentum
            )));
        }
        Ok(())
    }
}

/// The statistics that normalise x.
#[derive(Clone, Copy)]
pub enum Stats<'a> {
    /// Training: the batch mean and rstd written by `batch_stats` (x's own statistics, so the
    /// backward differentiates through them).
    Batch { mean: &'a Buf, rstd: &'a Buf },
    /// Evaluation: the running mean and running (unbiased) variance, constants for the
    /// backward.
    Running { mean: &'a Buf, var: &'a Buf },
}

impl<'a> Stats<'a> {
    pub(crate) fn eval(&self) -> bool {
        matches!(self, Stats::Running { .. })
    }
    /// (mean, rstd or running variance): bindings 3 and 4.
    pub(crate) fn bufs(&self) -> (&'a Buf, &'a Buf) {
        match *self {
            Stats::Batch { mean, rstd } => (mean, rstd),
            Stats::Running { mean, var } => (mean, var),
        }
    }
}

/// The affine parameters: y = gamma * xhat + beta.
#[derive(Clone, Copy)]
pub struct Affine<'a> {
    pub gamma: &'a Buf,
    pub beta: &'a Buf,
}

/// dgamma and dbeta, written or (with `accumulate`) added to.
#[derive(Clone, Copy)]
pub struct ParamGrads<'a> {
    pub dgamma: &'a Buf,
    pub dbeta: &'a Buf,
    pub accumulate: bool,
}

/// The backward's gradient buffers: dy in; dx (written or added to) and, for an affine layer,
/// the parameter gradients out. dx and the parameters accumulate independently, so a graph can
/// sum into dx of an input with several consumers while writing fresh parameter gradients.
#[derive(Clone, Copy)]
pub struct Grads<'a> {
    pub dy: &'a Buf,
    pub dx: &'a Buf,
    pub accumulate_dx: bool,
    /// Required for an affine spec, refused otherwise.
    pub params: Option<ParamGrads<'a>>,
}

/// Each named buffer must have `want` elements.
pub(crate) fn check_lens(what: &str, bufs: &[(&str, &Buf, usize)]) -> Result<()> {
    for (name, buf, want) in bufs {
        if buf.len() != *want {
            return shape_err!(
                "{what}: {name} has {} elements but the spec needs {want}",
                buf.len()
            );
        }
    }
    Ok(())
}

/// A dispatch must not bind one buffer twice (a writable binding cannot alias another).
pub(crate) fn check_distinct(what: &str, bufs: &[(&str, &Buf)]) -> Result<()> {
    for (i, (a, x)) in bufs.iter().enumerate() {
        for (b, y) in &bufs[i + 1..] {
            if std::ptr::eq(*x, *y) {
                return shape_err!("{what}: {a} and {b} are the same buffer; pass distinct ones");
            }
        }
    }
    Ok(())
}

/// The spec's affine flag and the buffers given must agree.
pub(crate) fn check_affine(what: &str, spec: &BatchNormSpec, given: bool) -> Result<()> {
    match (spec.affine, given) {
        (true, false) => shape_err!("{what}: the spec is affine but no gamma/beta were given"),
        (false, true) => shape_err!("{what}: the spec is not affine but gamma/beta were given"),
        _ => Ok(()),
    }
}
