// Matmul family: C[M,N] = op(A) op(B) (+ C if accumulating) (+ bias[N]) (then ReLU).
// One file for two storage types: A, B, bias and C hold `Elem`, f32 or f16 by the prelude
// (shaders/storage_f32.wgsl or storage_f16.wgsl, families Matmul / MatmulF16); every sum is in
// f32 (loads widen, stores round once; on f32 storage both conversions are identities).
//
// Shapes (row-major): NN: A [M,K], B [K,N]      (dX = dY W)
//                     NT: A [M,K], B [N,K]      (Linear forward: X W^T with W [out,in])
//                     TN: A [K,M], B [K,N]      (dW = dY^T X)
//                     C [M,N], bias [N].
// Bindings: 0 params, 1 A, 2 B, 3 bias (any buffer when unused), 4 C.
// The kernels see a product D[M,N] = op(A) op(B) with A stored [M,K] or (A_KM) [K,M] and B
// stored [K,N] or (B_NK) [N,K]; D is C, or (TRANS) C^T so that lanes run along C's rows:
// C^T = op(B)^T op(A)^T, i.e. the twin swaps A and B, flips A_KM/B_NK and the stores write
// C[n][m] (params m, n are D's sizes). That suits narrow outputs such as C [128, 20].
// Every buffer is viewed as vec4<Elem>s (one declaration per binding): the exact path loads whole
// vec4s, the general path loads single components `buf[e >> 2][e & 3]`.
//
// Overrides: A_KM, B_NK, TRANS as above; EXACT = the vec4-loaded dimensions and K are
// multiples of 4 (the twin decides), so no load straddles a row and no k needs masking;
// WG = lanes per workgroup. matmul_tiled uses only A_KM and B_NK.
//
// Two kernels:
// - matmul_rb (CPU adapters such as lavapipe): no workgroup memory, no barriers. On lavapipe an
//   invocation is one lane of an 8-wide SIMD group and every storage load inside a loop becomes
//   a per-lane scalar loop (~80 cycles per vec4 load for 8 lanes, even for uniform addresses),
//   so the cost is loads per FMA. Each invocation owns a 32x16 register tile (32 mat4x4
//   accumulators) and per 4 k-steps loads 8 A blocks + 4 B blocks (48 vec4) for 2048 FMAs.
//   Measured on lavapipe, 1024^3: 16x16 tiles 30 GFLOP/s, 24x16 34, 32x16 35-37, k-steps of 8
//   28; workgroup size 8..64 makes no difference; a 16x16 workgroup-memory tile 3.
// - matmul_tiled (GPUs): 64x64 workgroup tile, 16x16 threads with 4x4 outputs each, k-tiles of
//   16 staged through workgroup memory.
//
// Block convention: an A block `am` for rows r..r+3, k..k+3 has column i = row r+i (components
// along k); a B block `bm` for k..k+3, cols c..c+3 has column j = k+j (components along cols).
// Then (bm * am) column i = sum_j bm[j] * am[i][j] = C row r+i, cols c..c+3.

override WG: u32 = 16u;
override A_KM: bool = false;
override B_NK: bool = false;
override TRANS: bool = false;
override EXACT: bool = false;

const EPI_NONE: u32 = 0u;
const EPI_BIAS: u32 = 1u;
const EPI_BIAS_RELU: u32 = 2u;

struct Params {
    m: u32, // rows of D (= C, or C^T when TRANS)
    n: u32, // columns of D
    k: u32,
    beta: f32,       // 1 = accumulate into C, 0 = overwrite (old C ignored, even NaN)
    epi: u32,        // EPI_*
    col_blocks: u32, // workgroups along D's columns
    row_blocks: u32, // workgroups along D's rows
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<Elem>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<Elem>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<Elem>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<Elem>>;

// ---- loads ---------------------------------------------------------------------------------
// Indices past the end are clamped into the buffer: they only feed rows/cols that are never
// stored or k-steps that are masked to zero, so clamping just keeps every read in bounds.

fn a_at(e: u32) -> f32 {
    let i = min(e, arrayLength(&a) * 4u - 1u);
    return f32(a[i >> 2u][i & 3u]);
}
fn b_at(e: u32) -> f32 {
    let i = min(e, arrayLength(&b) * 4u - 1u);
    return f32(b[i >> 2u][i & 3u]);
}
// Four consecutive elements from element e (a multiple of 4 on the exact path).
fn a4(e: u32) -> vec4<f32> {
    if EXACT {
        return vec4<f32>(a[min(e >> 2u, arrayLength(&a) - 1u)]);
    }
    return vec4(a_at(e), a_at(e + 1u), a_at(e + 2u), a_at(e + 3u));
}
fn b4(e: u32) -> vec4<f32> {
    if EXACT {
        return vec4<f32>(b[min(e >> 2u, arrayLength(&b) - 1u)]);
    }
    return vec4(b_at(e), b_at(e + 1u), b_at(e + 2u), b_at(e + 3u));
}

// A block for rows r..r+3, k..k+3 (column i = row r+i). On the general path k-steps past K
// are zeroed here and in load_b, so garbage past the end never reaches a sum (0*NaN avoided).
fn load_a(r: u32, k: u32) -> mat4x4<f32> {
    var am: mat4x4<f32>;
    if A_KM {
        // A is [K, M]: a vec4 holds rows r..r+3 at one k.
        let kk = min(vec4(k, k + 1u, k + 2u, k + 3u), vec4(p.k - 1u));
        am = transpose(mat4x4(a4(kk.x * p.m + r), a4(kk.y * p.m + r), a4(kk.z * p.m + r),
                              a4(kk.w * p.m + r)));
    } else {
        // A is [M, K]: a vec4 holds one row at k..k+3.
        let rr = min(vec4(r, r + 1u, r + 2u, r + 3u), vec4(p.m - 1u)) * p.k + k;
        am = mat4x4(a4(rr.x), a4(rr.y), a4(rr.z), a4(rr.w));
    }
    if !EXACT {
        let live = vec4(k, k + 1u, k + 2u, k + 3u) < vec4(p.k);
        am = mat4x4(select(vec4(0.0), am[0], live), select(vec4(0.0), am[1], live),
                    select(vec4(0.0), am[2], live), select(vec4(0.0), am[3], live));
    }
    return am;
}

// B block for k..k+3, cols n..n+3 (column j = k+j).
fn load_b(k: u32, n: u32) -> mat4x4<f32> {
    var bm: mat4x4<f32>;
    if B_NK {
        // B is [N, K]: a vec4 holds one output column at k..k+3.
        let nn = min(vec4(n, n + 1u, n + 2u, n + 3u), vec4(p.n - 1u)) * p.k + k;
        bm = transpose(mat4x4(b4(nn.x), b4(nn.y), b4(nn.z), b4(nn.w)));
    } else {
        // B is [K, N]: a vec4 holds cols n..n+3 at one k.
        let kk = min(vec4(k, k + 1u, k + 2u, k + 3u), vec4(p.k - 1u));
        bm = mat4x4(b4(kk.x * p.n + n), b4(kk.y * p.n + n), b4(kk.z * p.n + n),
                    b4(kk.w * p.n + n));
    }
    if !EXACT {
        let z = vec4(0.0);
        bm = mat4x4(select(z, bm[0], k < p.k), select(z, bm[1], k + 1u < p.k),
                    select(z, bm[2], k + 2u < p.k), select(z, bm[3], k + 3u < p.k));
    }
    return bm;
}

// ---- epilogue and stores -------------------------------------------------------------------
// Mostly selects rather than branches: on lavapipe each `if` is masked SIMD code that the JIT
// compiles once per inlined store.

// bias[n..n+3] (zero without an epilogue, or when TRANS: then the bias runs along D's rows and
// store4 adds it), loaded once per column block.
fn bias4_at(n: u32) -> vec4<f32> {
    var v = vec4(0.0);
    if p.epi != EPI_NONE && !TRANS {
        if EXACT {
            v = vec4<f32>(bias[min(n, p.n - 4u) >> 2u]);
        } else {
            let j = min(vec4(n, n + 1u, n + 2u, n + 3u), vec4(p.n - 1u));
            v = vec4<f32>(vec4(bias[j.x >> 2u][j.x & 3u], bias[j.y >> 2u][j.y & 3u],
                               bias[j.z >> 2u][j.z & 3u], bias[j.w >> 2u][j.w & 3u]));
        }
    }
    return v;
}

// out = old + acc + bias (then ReLU), old = beta * C_old or 0.
fn finish(old: vec4<f32>, acc: vec4<f32>, bias4: vec4<f32>) -> vec4<f32> {
    let v = old + acc + bias4;
    return select(v, max(v, vec4(0.0)), p.epi == EPI_BIAS_RELU);
}

fn c_at(e: u32) -> f32 {
    let i = min(e, arrayLength(&c) * 4u - 1u);
    return f32(c[i >> 2u][i & 3u]);
}

// beta * C at e, e + s, e + 2s, e + 3s when accumulating, else 0: a plain write never reads C
// (so a garbage/NaN C is ignored, and the reads are skipped).
fn old4(e: u32, s: u32) -> vec4<f32> {
    var v = vec4(0.0);
    if p.beta != 0.0 {
        v = p.beta * vec4(c_at(e), c_at(e + s), c_at(e + 2u * s), c_at(e + 3u * s));
    }
    return v;
}

// Store D's row r, cols n..n+3 (`v` before the epilogue), skipping what lies outside C.
fn store4(r: u32, n: u32, v: vec4<f32>, bias4: vec4<f32>) {
    if r >= p.m || n >= p.n {
        return;
    }
    if TRANS {
        // D[r][n + j] is C[n + j][r] (C is [p.n, p.m]); the bias is per column of C.
        var bias_r = 0.0;
        if p.epi != EPI_NONE {
            bias_r = f32(bias[r >> 2u][r & 3u]);
        }
        let e = n * p.m + r;
        let out = finish(old4(e, p.m), v, vec4(bias_r));
        for (var j = 0u; j < 4u; j++) {
            if n + j < p.n {
                c[(e + j * p.m) >> 2u][(e + j * p.m) & 3u] = Elem(out[j]);
            }
        }
        return;
    }
    let e = r * p.n + n;
    if EXACT {
        // N % 4 == 0: the four columns are one aligned vec4 of C.
        var old = vec4(0.0);
        if p.beta != 0.0 {
            old = p.beta * vec4<f32>(c[e >> 2u]);
        }
        c[e >> 2u] = vec4<Elem>(finish(old, v, bias4));
        return;
    }
    let out = finish(old4(e, 1u), v, bias4);
    for (var j = 0u; j < 4u; j++) {
        if n + j < p.n {
            c[(e + j) >> 2u][(e + j) & 3u] = Elem(out[j]);
        }
    }
}

// The four rows of block `m` (rows r..r+3, cols n..n+3).
fn store_block(r: u32, n: u32, m: mat4x4<f32>, bias4: vec4<f32>) {
    store4(r, n, m[0], bias4);
    store4(r + 1u, n, m[1], bias4);
    store4(r + 2u, n, m[2], bias4);
    store4(r + 3u, n, m[3], bias4);
}

// v_s for s in 0..8, by selects (see the store loop of matmul_rb).
fn pick4(s: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>,
         v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) -> vec4<f32> {
    let lo = select(select(v0, v1, s == 1u), select(v2, v3, s == 3u), s >= 2u);
    let hi = select(select(v4, v5, s == 5u), select(v6, v7, s == 7u), s >= 6u);
    return select(lo, hi, s >= 4u);
}

// Block m_s (s in 0..8).
fn pick(s: u32, m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>,
        m4: mat4x4<f32>, m5: mat4x4<f32>, m6: mat4x4<f32>, m7: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4(pick4(s, m0[0], m1[0], m2[0], m3[0], m4[0], m5[0], m6[0], m7[0]),
                  pick4(s, m0[1], m1[1], m2[1], m3[1], m4[1], m5[1], m6[1], m7[1]),
                  pick4(s, m0[2], m1[2], m2[2], m3[2], m4[2], m5[2], m6[2], m7[2]),
                  pick4(s, m0[3], m1[3], m2[3], m3[3], m4[3], m5[3], m6[3], m7[3]));
}

// ---- register-blocked kernel (CPU adapters) ------------------------------------------------

// t[j] += bm_j * am for the four column blocks of one 4-row strip.
fn mac(t: ptr<function, array<mat4x4<f32>, 4>>, am: mat4x4<f32>, bm: array<mat4x4<f32>, 4>) {
    (*t)[0] += bm[0] * am;
    (*t)[1] += bm[1] * am;
    (*t)[2] += bm[2] * am;
    (*t)[3] += bm[3] * am;
}

// Workgroup `id` covers rows [32 rb, 32 rb + 32) and cols [16 WG cb, 16 WG (cb + 1)); each
// invocation a 32x16 tile: t_i holds rows r0 + 4i..+3 as four 4x4 column blocks. The grid may
// be folded over y/z (Gpu::grid).
@compute @workgroup_size(WG)
fn matmul_rb(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let id = wg.x + nwg.x * (wg.y + nwg.y * wg.z);
    if id >= p.row_blocks * p.col_blocks {
        return;
    }
    let r0 = (id / p.col_blocks) * 32u;
    let n0 = ((id % p.col_blocks) * WG + lane) * 16u;
    var t0: array<mat4x4<f32>, 4>;
    var t1: array<mat4x4<f32>, 4>;
    var t2: array<mat4x4<f32>, 4>;
    var t3: array<mat4x4<f32>, 4>;
    var t4: array<mat4x4<f32>, 4>;
    var t5: array<mat4x4<f32>, 4>;
    var t6: array<mat4x4<f32>, 4>;
    var t7: array<mat4x4<f32>, 4>;
    for (var k = 0u; k < p.k; k += 4u) {
        let bm = array(load_b(k, n0), load_b(k, n0 + 4u), load_b(k, n0 + 8u),
                       load_b(k, n0 + 12u));
        mac(&t0, load_a(r0, k), bm);
        mac(&t1, load_a(r0 + 4u, k), bm);
        mac(&t2, load_a(r0 + 8u, k), bm);
        mac(&t3, load_a(r0 + 12u, k), bm);
        mac(&t4, load_a(r0 + 16u, k), bm);
        mac(&t5, load_a(r0 + 20u, k), bm);
        mac(&t6, load_a(r0 + 24u, k), bm);
        mac(&t7, load_a(r0 + 28u, k), bm);
    }
    // Store strip by strip. The accumulators are only ever indexed with constants (a dynamic
    // index would move them to memory for the whole k-loop), so a strip is picked by selects;
    // the loop bound is opaque to the compiler (M >= 1) so the JIT compiles 16 stores instead
    // of unrolling 128 of them (1 s instead of 5 s per pipeline on lavapipe).
    let bias0 = bias4_at(n0);
    let bias1 = bias4_at(n0 + 4u);
    let bias2 = bias4_at(n0 + 8u);
    let bias3 = bias4_at(n0 + 12u);
    let strips = select(8u, 0u, p.m == 0u);
    for (var s = 0u; s < strips; s++) {
        let r = r0 + 4u * s;
        store_block(r, n0, pick(s, t0[0], t1[0], t2[0], t3[0], t4[0], t5[0], t6[0], t7[0]),
                    bias0);
        store_block(r, n0 + 4u,
                    pick(s, t0[1], t1[1], t2[1], t3[1], t4[1], t5[1], t6[1], t7[1]), bias1);
        store_block(r, n0 + 8u,
                    pick(s, t0[2], t1[2], t2[2], t3[2], t4[2], t5[2], t6[2], t7[2]), bias2);
        store_block(r, n0 + 12u,
                    pick(s, t0[3], t1[3], t2[3], t3[3], t4[3], t5[3], t6[3], t7[3]), bias3);
    }
}

// ---- workgroup-tiled kernel (GPUs) ---------------------------------------------------------

// k-tile of A as [16][64] (k-major: sa[kk * SP + row]) and of B as [16][64] (sb[kk * SP + col]).
// Rows padded to 65 words so the k-major transposing stores do not all hit one bank.
const SP: u32 = 65u;
var<workgroup> sa: array<f32, 1040>;
var<workgroup> sb: array<f32, 1040>;

// A(row, k) and B(k, col) for any form, zero outside the matrices.
fn a_elem(row: u32, k: u32) -> f32 {
    if row >= p.m || k >= p.k {
        return 0.0;
    }
    if A_KM {
        return a_at(k * p.m + row);
    }
    return a_at(row * p.k + k);
}
fn b_elem(k: u32, col: u32) -> f32 {
    if k >= p.k || col >= p.n {
        return 0.0;
    }
    if B_NK {
        return b_at(col * p.k + k);
    }
    return b_at(k * p.n + col);
}

// One element with the epilogue (the tiled kernel's stores are scalar).
fn store1(r: u32, n: u32, v: f32) {
    if r >= p.m || n >= p.n {
        return;
    }
    let e = r * p.n + n;
    var bn = 0.0;
    if p.epi != EPI_NONE {
        bn = f32(bias[n >> 2u][n & 3u]);
    }
    c[e >> 2u][e & 3u] = Elem(finish(old4(e, 0u), vec4(v), vec4(bn)).x);
}

// Workgroup `id` covers the 64x64 tile (rows 64 rb, cols 64 cb); thread (tx, ty) owns rows
// ty + 16i and cols tx + 16j (strided so neighbouring threads read neighbouring words).
@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = wg.x + nwg.x * (wg.y + nwg.y * wg.z);
    if id >= p.row_blocks * p.col_blocks {
        return; // whole workgroups only, so the barriers below stay uniform
    }
    let r0 = (id / p.col_blocks) * 64u;
    let n0 = (id % p.col_blocks) * 64u;
    let t = lid.y * 16u + lid.x;
    var acc: array<vec4<f32>, 4>; // acc[i][j]: row ty + 16i, col tx + 16j
    for (var k0 = 0u; k0 < p.k; k0 += 16u) {
        // 1024 elements of each tile, 4 per thread; consecutive threads walk the operand's
        // contiguous dimension so global reads coalesce.
        for (var q = 0u; q < 4u; q++) {
            let e = q * 256u + t;
            if A_KM {
                sa[(e / 64u) * SP + e % 64u] = a_elem(r0 + e % 64u, k0 + e / 64u);
            } else {
                sa[(e % 16u) * SP + e / 16u] = a_elem(r0 + e / 16u, k0 + e % 16u);
            }
            if B_NK {
                sb[(e % 16u) * SP + e / 16u] = b_elem(k0 + e % 16u, n0 + e / 16u);
            } else {
                sb[(e / 64u) * SP + e % 64u] = b_elem(k0 + e / 64u, n0 + e % 64u);
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            let av = vec4(sa[kk * SP + lid.y], sa[kk * SP + lid.y + 16u],
                          sa[kk * SP + lid.y + 32u], sa[kk * SP + lid.y + 48u]);
            let bv = vec4(sb[kk * SP + lid.x], sb[kk * SP + lid.x + 16u],
                          sb[kk * SP + lid.x + 32u], sb[kk * SP + lid.x + 48u]);
            acc[0] = fma(vec4(av.x), bv, acc[0]);
            acc[1] = fma(vec4(av.y), bv, acc[1]);
            acc[2] = fma(vec4(av.z), bv, acc[2]);
            acc[3] = fma(vec4(av.w), bv, acc[3]);
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store1(r0 + lid.y + 16u * i, n0 + lid.x + 16u * j, acc[i][j]);
        }
    }
}
