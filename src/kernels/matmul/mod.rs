//! Twin of shaders/matmul.wgsl on f32 storage (family Matmul) and on f16 storage with f32 sums
//! (family MatmulF16: the same file after the f16 storage prelude):
//! C = op(A) op(B), optionally + C (gradient accumulation), + bias[N], then ReLU.
//!
//! Shapes (row-major): NN: A [M,K], B [K,N]; NT: A [M,K], B [N,K] (Linear forward with
//! W [out,in]); TN: A [K,M], B [K,N] (weight gradient dW = dY^T X). C [M,N], bias [N].
//! A Linear layer's backward needs no transposes: dX = dY W is NN, dW = dY^T X is TN.
//!
//! Two kernels in the file: `matmul_rb` (register-blocked, no workgroup memory: CPU adapters such
//! as lavapipe; run on C or, for narrow outputs, on C^T) and `matmul_tiled` (workgroup-memory
//! tiles: GPUs). `plan` picks one per adapter and shape; `MatmulSpec::variant` overrides it.

pub mod cpu;
mod plan;

pub use plan::{Plan, RB_COLS, RB_ROWS, TILE};

use bytemuck::{Pod, Zeroable};

use crate::kernels::elementwise::on_f32_and_f16;
use crate::kernels::Family;
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, Result};

/// Which operand is transposed (see the module docs for the shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    NN,
    NT,
    TN,
}

/// What happens to A·B before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Epilogue {
    None,
    /// + bias[N], broadcast over rows.
    Bias,
    /// max(0, . + bias[N]).
    BiasRelu,
}

/// Kernel strategy. `None` in a spec means: on CPU adapters the register-blocked orientation
/// that wastes fewer SIMD lanes on the shape's edges, elsewhere Tiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Each invocation a 32x16 register tile of C (lanes along N), no workgroup memory.
    RegisterBlocked,
    /// The same kernel computing C^T = op(B)^T op(A)^T, so lanes run along M: for narrow
    /// outputs (C [128, 20]) where lanes along N would mostly idle.
    RegisterBlockedTransposed,
    /// 64x64 workgroup tiles staged through workgroup memory, 4x4 per thread.
    Tiled,
}

/// One matmul: sizes, form, epilogue, whether to add into C, and optionally a forced variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulSpec {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub form: Form,
    pub epilogue: Epilogue,
    /// C = C + result (then the epilogue, if any, applies to the sum).
    pub accumulate: bool,
    pub variant: Option<Variant>,
}

impl MatmulSpec {
    /// C[m,n] = op(A) op(B): no epilogue, overwrite, adapter's default variant.
    pub fn new(m: usize, n: usize, k: usize, form: Form) -> Self {
        MatmulSpec {
            m,
            n,
            k,
            form,
            epilogue: Epilogue::None,
            accumulate: false,
            variant: None,
        }
    }
    pub fn epilogue(mut self, e: Epilogue) -> Self {
        self.epilogue = e;
        self
    }
    pub fn accumulate(mut self, acc: bool) -> Self {
        self.accumulate = acc;
        self
    }
    pub fn variant(mut self, v: Variant) -> Self {
        self.variant = Some(v);
        self
    }
    /// Elements of A, B and C (A is [M,K] or [K,M], B [K,N] or [N,K]).
    pub fn a_len(&self) -> usize {
        self.m * self.k
    }
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }
    /// 2 M N K.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// Binding 0 (mirrors the WGSL `Params`). m, n are the sizes of the matrix the kernel computes
/// (C, or C^T for the transposed plan).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Params {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// 1 = accumulate into C, 0 = overwrite.
    pub beta: f32,
    /// 0 none, 1 bias, 2 bias + ReLU.
    pub epi: u32,
    pub col_blocks: u32,
    pub row_blocks: u32,
    pub pad: u32,
}

on_f32_and_f16! {
    /// C = op(A) op(B) (+ C) (+ bias) (ReLU), all buffers f32 (`matmul_f16`: all f16, products
    /// summed in f32). `bias` must be given (length N) exactly when the epilogue uses it.
    matmul, matmul_f16 => build(
        spec: &MatmulSpec, a: &Buf, b: &Buf, bias: Option<&Buf>, c: &Buf);
}

/// Check a spec against its buffers: sizes, lengths, element types, bias presence.
pub fn check(
    spec: &MatmulSpec,
    dtype: DType,
    a: &Buf,
    b: &Buf,
    bias: Option<&Buf>,
    c: &Buf,
) -> Result<()> {
    let MatmulSpec { m, n, k, form, .. } = *spec;
    if m == 0 || n == 0 || k == 0 {
        return shape_err!("matmul {form:?} {m}x{n}x{k}: M, N and K must all be at least 1");
    }
    // The shaders index in u32; buffer limits keep real tensors far below this.
    let biggest = spec.a_len().max(spec.b_len()).max(spec.c_len());
    if biggest
        .checked_add(64)
        .is_none_or(|v| v > u32::MAX as usize)
    {
        return Err(Error::Limit(format!(
            "matmul {m}x{n}x{k}: an operand has {biggest} elements, more than 32-bit indexing \
             allows; split the batch"
        )));
    }
    let (a_shape, b_shape) = match form {
        Form::NN => ([m, k], [k, n]),
        Form::NT => ([m, k], [n, k]),
        Form::TN => ([k, m], [k, n]),
    };
    let named = [
        ("A", a, a_shape[0] * a_shape[1], format!("{a_shape:?}")),
        ("B", b, b_shape[0] * b_shape[1], format!("{b_shape:?}")),
        ("C", c, m * n, format!("[{m}, {n}]")),
    ];
    for (name, buf, want, shape) in &named {
        if buf.len() != *want {
            return shape_err!(
                "matmul {form:?} {m}x{n}x{k}: {name} should be {shape} = {want} elements but \
                 the buffer has {}",
                buf.len()
            );
        }
        if buf.dtype() != dtype {
            return shape_err!(
                "matmul {form:?}: {name} is {:?} but this kernel takes {dtype:?}",
                buf.dtype()
            );
        }
    }
    match (spec.epilogue, bias) {
        (Epilogue::None, Some(_)) => {
            return shape_err!(
                "matmul: a bias buffer was given but the epilogue is None; use Epilogue::Bias"
            )
        }
        (Epilogue::Bias | Epilogue::BiasRelu, None) => {
            return shape_err!(
                "matmul: epilogue {:?} needs a bias buffer of N = {n}",
                spec.epilogue
            )
        }
        (_, Some(bb)) if bb.len() != n || bb.dtype() != dtype => {
            return shape_err!(
                "matmul: bias should be {n} {dtype:?} elements (one per output column) but \
                 has {} {:?}",
                bb.len(),
                bb.dtype()
            )
        }
        _ => {}
    }
    // Other tiles still read A and B (and bias) while C is written.
    let inputs = [Some(a), Some(b), bias];
    if inputs.iter().flatten().any(|x| x.raw() == c.raw()) {
        return shape_err!(
            "matmul: C must be a different buffer from A, B and bias (in-place matmul is not \
             supported); write to a scratch buffer"
        );
    }
    Ok(())
}

/// The dispatch on `dtype` storage (F32 or F16: the family, i.e. the storage prelude, follows).
fn build(
    gpu: &Gpu,
    dtype: DType,
    spec: &MatmulSpec,
    a: &Buf,
    b: &Buf,
    bias: Option<&Buf>,
    c: &Buf,
) -> Result<Dispatch> {
    check(spec, dtype, a, b, bias, c)?;
    let family = match dtype {
        DType::F16 => Family::MatmulF16,
        _ => Family::Matmul,
    };
    let plan = Plan::new(gpu, spec);
    let groups = gpu.grid((plan.row_blocks * plan.col_blocks) as u64)?;
    // Without an epilogue the shader never reads binding 3, but it is statically used, so
    // bind A there (read-only, like bias).
    let bias = bias.unwrap_or(a);
    // The transposed plan computes C^T = op(B)^T op(A)^T: B is its left operand.
    let (a, b) = if plan.transposed { (b, a) } else { (a, b) };
    gpu.dispatch(
        &plan.key(family),
        &plan.params(spec),
        &[a, b, bias, c],
        groups,
    )
}
