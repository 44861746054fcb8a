//! Twin of shaders/matmul.wgsl (f32) and shaders/matmul_f16.wgsl (f16 storage, f32 sums):
//! C = op(A) op(B), optionally + C (gradient accumulation), + bias[N], then ReLU.
//!
//! Shapes (row-major): NN: A [M,K], B [K,N]; NT: A [M,K], B [N,K] (Linear forward with
//! W [out,in]); TN: A [K,M], B [K,N] (weight gradient dW = dY^T X). C [M,N], bias [N].
//! A Linear layer's backward needs no transposes: dX = dY W is NN, dW = dY^T X is TN.
//!
//! Two kernels per file: `matmul_rb` (register-blocked, no workgroup memory: CPU adapters such
//! as lavapipe) and `matmul_tiled` (workgroup-memory tiles: GPUs). `MatmulSpec::variant`
//! overrides the adapter-based choice.

pub mod cpu;

use bytemuck::{Pod, Zeroable};

use crate::kernels::Family;
use crate::{shape_err, Buf, DType, Dispatch, Error, Gpu, KernelKey, Result};

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

/// Kernel strategy. `None` in a spec means: RegisterBlocked on CPU adapters, Tiled elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Each invocation a 32x16 register tile, no workgroup memory or barriers.
    RegisterBlocked,
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
    /// True when every vec4 the register-blocked kernel loads or stores is aligned and K needs
    /// no tail masking: the dimensions that are contiguous in memory and K are multiples of 4.
    pub fn exact(&self) -> bool {
        let m_ok = self.form != Form::TN || self.m % 4 == 0; // TN reads A along M
        m_ok && self.n % 4 == 0 && self.k % 4 == 0
    }
}

/// Binding 0 of both files (mirrors the WGSL `Params`).
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

/// Rows of C per register-blocked workgroup, and columns per invocation.
pub const RB_ROWS: usize = 32;
pub const RB_COLS: usize = 16;
/// Edge of the tiled kernel's square output tile.
pub const TILE: usize = 64;

/// How a spec will run on an adapter: the variant, lanes per workgroup, workgroup blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub variant: Variant,
    /// Lanes per workgroup (register-blocked; the tiled kernel is fixed at 16x16).
    pub wg: usize,
    pub row_blocks: usize,
    pub col_blocks: usize,
    pub exact: bool,
}

impl Plan {
    pub fn new(gpu: &Gpu, spec: &MatmulSpec) -> Plan {
        let variant = spec.variant.unwrap_or(if gpu.is_cpu() {
            Variant::RegisterBlocked
        } else {
            Variant::Tiled
        });
        match variant {
            Variant::RegisterBlocked => {
                // 16 lanes measured best on lavapipe; narrow outputs would leave most of them
                // idle, so use one 8-lane SIMD group there.
                let wg = if spec.n <= 8 * RB_COLS { 8 } else { 16 };
                Plan {
                    variant,
                    wg,
                    row_blocks: spec.m.div_ceil(RB_ROWS),
                    col_blocks: spec.n.div_ceil(wg * RB_COLS),
                    exact: spec.exact(),
                }
            }
            Variant::Tiled => Plan {
                variant,
                wg: 256,
                row_blocks: spec.m.div_ceil(TILE),
                col_blocks: spec.n.div_ceil(TILE),
                exact: spec.exact(),
            },
        }
    }
}

/// C = op(A) op(B) (+ C) (+ bias) (ReLU), all buffers f32.
/// `bias` must be given (length N) exactly when the epilogue uses it.
pub fn matmul(
    gpu: &Gpu,
    spec: &MatmulSpec,
    a: &Buf,
    b: &Buf,
    bias: Option<&Buf>,
    c: &Buf,
) -> Result<Dispatch> {
    build(gpu, Family::Matmul, DType::F32, spec, a, b, bias, c)
}

/// The same with f16 buffers (A, B, bias, C); products are summed in f32.
/// Needs SHADER_F16 (`Gpu::has_f16`).
pub fn matmul_f16(
    gpu: &Gpu,
    spec: &MatmulSpec,
    a: &Buf,
    b: &Buf,
    bias: Option<&Buf>,
    c: &Buf,
) -> Result<Dispatch> {
    build(gpu, Family::MatmulF16, DType::F16, spec, a, b, bias, c)
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
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build(
    gpu: &Gpu,
    family: Family,
    dtype: DType,
    spec: &MatmulSpec,
    a: &Buf,
    b: &Buf,
    bias: Option<&Buf>,
    c: &Buf,
) -> Result<Dispatch> {
    check(spec, dtype, a, b, bias, c)?;
    let plan = Plan::new(gpu, spec);
    let form = match spec.form {
        Form::NN => 0.0,
        Form::NT => 1.0,
        Form::TN => 2.0,
    };
    let exact = if plan.exact { 1.0 } else { 0.0 };
    let key = match plan.variant {
        Variant::RegisterBlocked => KernelKey::new(family, "matmul_rb").with("WG", plan.wg as f64),
        Variant::Tiled => KernelKey::new(family, "matmul_tiled"),
    }
    .with("FORM", form)
    .with("EXACT", exact);
    let params = Params {
        m: spec.m as u32,
        n: spec.n as u32,
        k: spec.k as u32,
        beta: if spec.accumulate { 1.0 } else { 0.0 },
        epi: match spec.epilogue {
            Epilogue::None => 0,
            Epilogue::Bias => 1,
            Epilogue::BiasRelu => 2,
        },
        col_blocks: plan.col_blocks as u32,
        row_blocks: plan.row_blocks as u32,
        pad: 0,
    };
    let groups = gpu.grid((plan.row_blocks * plan.col_blocks) as u64)?;
    // Without an epilogue the shader never reads binding 3, but it is statically used, so
    // bind A there (read-only, like bias).
    let bias = bias.unwrap_or(a);
    gpu.dispatch(&key, &params, &[a, b, bias, c], groups)
}
