//! How a `MatmulSpec` runs on an adapter: which kernel, which orientation, how many lanes, and
//! the override constants and params that follow.

use super::{Epilogue, Form, MatmulSpec, Params, Variant};
use crate::kernels::Family;
use crate::{Gpu, KernelKey};

/// Rows of the computed matrix per register-blocked workgroup, and columns per invocation.
pub const RB_ROWS: usize = 32;
pub const RB_COLS: usize = 16;
/// Edge of the tiled kernel's square output tile.
pub const TILE: usize = 64;
/// Lanes of lavapipe's SIMD groups (256-bit AVX2 with f32).
const SIMD: usize = 8;

/// The kernels compute D[m, n] = op(A') op(B'), where D is C (A' = A, B' = B) or, when
/// `transposed`, C^T (A' = B, B' = A, with the storage flags flipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub variant: Variant,
    pub transposed: bool,
    /// D's rows and columns.
    pub m: usize,
    pub n: usize,
    /// A' is stored [K, m] (else [m, K]); B' is stored [n, K] (else [K, n]).
    pub a_km: bool,
    pub b_nk: bool,
    /// Lanes per workgroup (register-blocked; the tiled kernel is fixed at 16x16).
    pub wg: usize,
    pub row_blocks: usize,
    pub col_blocks: usize,
    /// The register-blocked kernel's aligned vec4 path applies (see `exact`).
    pub exact: bool,
}

/// Outputs the register-blocked kernel computes for D [m, n] including idle lanes and padded
/// rows: lanes come in SIMD groups of 8 x 16 columns, tiles in 32 rows.
fn rb_padded(m: usize, n: usize) -> f64 {
    (m.div_ceil(RB_ROWS) * RB_ROWS * n.div_ceil(SIMD * RB_COLS) * SIMD * RB_COLS) as f64
}

/// Estimated cost of the register-blocked kernel on C [m, n] (lanes along N) or on C^T:
/// padded outputs x (K + the store cost in k-steps). Transposed stores are scalar and strided
/// (a vec4 store per 4 outputs otherwise). Fitted to lavapipe timings of the VAE shapes:
/// C [128, 20] K 400 runs 1.7x faster transposed, [128, 400] K 784 1.2x, [128, 400] K 20
/// and [128, 784] K 400 break even, [20, 400] and [400, 784] lose 2x.
fn rb_cost(spec: &MatmulSpec, transposed: bool) -> f64 {
    let (m, n) = if transposed {
        (spec.n, spec.m)
    } else {
        (spec.m, spec.n)
    };
    let store = if transposed { 80.0 } else { 48.0 };
    rb_padded(m, n) * (spec.k as f64 + store)
}

impl Plan {
    /// The plan for `spec` on `gpu`: its variant if given, else the adapter's default.
    pub fn new(gpu: &Gpu, spec: &MatmulSpec) -> Plan {
        let variant = spec.variant.unwrap_or_else(|| {
            if !gpu.is_cpu() {
                Variant::Tiled
            } else if rb_cost(spec, true) < 0.95 * rb_cost(spec, false)
                && !spec.n.is_multiple_of(RB_ROWS)
            {
                // Narrow outputs: lanes along N would mostly idle. Not when C^T's rows fill
                // whole tiles: with those values lavapipe 22.3's uniform inlining halves the
                // shader, and it then recompiles and keeps a copy on every dispatch (~40 ms,
                // ~2.8 MiB; README Known issues, examples/matmul_host_memory.rs).
                Variant::RegisterBlockedTransposed
            } else {
                Variant::RegisterBlocked
            }
        });
        Plan::with_variant(spec, variant)
    }

    pub fn with_variant(spec: &MatmulSpec, variant: Variant) -> Plan {
        let transposed = variant == Variant::RegisterBlockedTransposed;
        let (a_km, b_nk) = (spec.form == Form::TN, spec.form == Form::NT);
        // C^T = op(B)^T op(A)^T: B stored [K, N] is op(B)^T stored k-major, and so on.
        let (m, n, a_km, b_nk) = if transposed {
            (spec.n, spec.m, !b_nk, !a_km)
        } else {
            (spec.m, spec.n, a_km, b_nk)
        };
        let k = spec.k;
        // The vec4 path needs every vec4-loaded dimension, K (no tail) and, for vec4 stores
        // of C and bias, C's row length to be multiples of 4.
        let exact = k.is_multiple_of(4)
            && (!a_km || m.is_multiple_of(4))
            && (b_nk || n.is_multiple_of(4))
            && (transposed || n.is_multiple_of(4));
        let (wg, row_blocks, col_blocks) = match variant {
            Variant::Tiled => (256, spec.m.div_ceil(TILE), spec.n.div_ceil(TILE)),
            _ => {
                // Two SIMD groups per workgroup measured ~2% faster at 1024^3; use them when
                // that pads no more columns and still leaves work for every core.
                let wide = n.div_ceil(2 * SIMD * RB_COLS) * 2 == n.div_ceil(SIMD * RB_COLS)
                    && m.div_ceil(RB_ROWS) * n.div_ceil(2 * SIMD * RB_COLS) >= 4;
                let wg = if wide { 2 * SIMD } else { SIMD };
                (wg, m.div_ceil(RB_ROWS), n.div_ceil(wg * RB_COLS))
            }
        };
        Plan {
            variant,
            transposed,
            m,
            n,
            a_km,
            b_nk,
            wg,
            row_blocks,
            col_blocks,
            exact,
        }
    }

    /// The pipeline: entry point and override constants.
    pub(crate) fn key(&self, family: Family) -> KernelKey {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let key = match self.variant {
            Variant::Tiled => KernelKey::new(family, "matmul_tiled"),
            _ => KernelKey::new(family, "matmul_rb")
                .with("WG", self.wg as f64)
                .with("TRANS", flag(self.transposed))
                .with("EXACT", flag(self.exact)),
        };
        key.with("A_KM", flag(self.a_km))
            .with("B_NK", flag(self.b_nk))
    }

    pub(crate) fn params(&self, spec: &MatmulSpec) -> Params {
        Params {
            m: self.m as u32,
            n: self.n as u32,
            k: spec.k as u32,
            beta: if spec.accumulate { 1.0 } else { 0.0 },
            epi: match spec.epilogue {
                Epilogue::None => 0,
                Epilogue::Bias => 1,
                Epilogue::BiasRelu => 2,
            },
            col_blocks: self.col_blocks as u32,
            row_blocks: self.row_blocks as u32,
            pad: 0,
        }
    }
}
