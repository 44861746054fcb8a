// Convolution family: conv2d and conv_transpose2d on NCHW tensors (PyTorch semantics), forward
// and backward, all as one implicit GEMM (no im2col buffer: the gather happens in the loads)
// plus five small helpers.
//
// Shapes: x [N, Cin, H, W], conv2d weight [Cout, Cin, KH, KW], bias [Cout], y [N, Cout, OH, OW]
// with OH = (H + 2P - KH) / S + 1 (S stride, P zero padding). conv_transpose2d is conv2d's
// input gradient (its weight [Cin_T, Cout_T, KH, KW] is the conv2d weight with Cout = Cin_T).
//
// The GEMM (entry points conv_gemm_rb, conv_gemm_tiled) computes, for chunk `ch` of the
// reduction,
//     D[r, c] = sum_{k in chunk ch} A(r, k) B(k, c)
//     out[ch*o_chunk + r*o_rs + O(c)] = (beta * old) + D[r, c] (+ bias[r]) (then activation)
// where k and c are split in mixed radix: k = (i0*kr1 + i1)*kr2 + i2, c = (j0*cr1 + j1)*cr2 + j2,
//     A(r, k)  = a[r*a_rs + a_off + i0*ac0 + i1*ac1 + i2]
//     B(k, c)  = src[j0*cc0 + j1*cc1 + j2*cc2 + i0*kc0 + i1*kc1 + i2*kc2 + kc3]
//                if 0 <= j1*ca1 + i1*ka1 + ka0 < lim_a and 0 <= j2*cb1 + i2*kb1 + kb0 < lim_b,
//                else 0 (zero padding, taps outside the map)
//     O(c)     = j0*oc0 + j1*oc1 + j2*oc2 + oc3.
// The Rust twin (src/kernels/conv/plans.rs) fills these for the uses:
//   forward   r = co, c = (n, oh, ow), k = (ci, kh, kw); A = weight, B = x, out = y
//   input grad, one dispatch per stride phase: r = ci, c = (n, ih', iw') of the phase,
//             k = (co, th, tw) over the phase's taps; A = the packed weight, B = dy
//   input grad, at most 4 input channels: r = (ci, kh, kw), c = (n, oh, ow), k = co;
//             A = weight, B = dy, out = per-tap products for conv_col2im
//   weight grad r = co, c = (ci, kh, kw), k = (n, oh, ow) split in chunks; A = dy (or dy in
//             padded planes), B = x, out = dw or per-chunk partials that conv_sum_partials
//             adds up in order.
//
// Two GEMM kernels (the twin picks one per adapter, like the matmul family):
// - conv_gemm_rb (CPU adapters such as lavapipe): no workgroup memory, no barriers. lavapipe runs
//   an invocation as one lane of an 8-wide SIMD group and does every storage load per lane and
//   per component, bounds-checked (its broadcast path for uniform addresses only applies to
//   constant addresses, so lanes sharing A rows still load them each), so the cost is loads
//   per FMA. Each invocation owns a register tile of 4*STRIPS rows x 16 columns (mat4x4
//   accumulators); per 4 k-steps it loads STRIPS A blocks (vec4 along k on the EXACT path) and
//   64 gathered B values for 256*STRIPS FMAs. Invocations are independent tiles (adjacent
//   lanes: adjacent column blocks, so the gathers of a SIMD group touch neighbouring memory).
//   The reduction index is advanced incrementally (no integer division inside the loop: AVX2
//   has none, lavapipe would scalarise it). Measured on lavapipe, [128, 64, 14, 14] -> 128
//   channels 4x4 stride 2 (a loaded machine, matmul of the same size at 16.9 GFLOP/s): the
//   kernel without its loads ran at 71 GFLOP/s, with them 64x16 tiles 13.9, 32x16 11.5,
//   32x24 13.1; gathers without bounds masks gained nothing.
// - conv_gemm_tiled (GPUs): 64x64 workgroup tile, 16x16 threads with 4x4 outputs each, k-tiles
//   of 16 staged through workgroup memory; indices decomposed per element.
// lavapipe stops any loop after 65,535 iterations per invocation: the twin keeps k-loops (4
// steps per iteration) and the helpers' loops to at most 16,384 iterations.
//
// Helpers (one invocation per element, WG lanes):
// - conv_pack_dx: weight [Cout, Cin, KH, KW] -> per stride phase (ph_h, ph_w), phases in
//   row-major order, [Cin][Cout][T_h][T_w] with kh = ph_h + S*th, kw = ph_w + S*tw and
//   T_h = ceil((KH - ph_h) / S) taps: the input-gradient GEMM's A, contiguous along k.
// - conv_bias_partials: sum of dy [N, Cout, plane] over (n, q) in chunk ch, for each channel:
//   out[ch*Cout + co] (beta-accumulated: with one chunk the twin binds db itself).
// - conv_sum_partials: out[o] = beta*old + sum_ch src[ch*n_inv + o], chunks in order.
// - conv_pad_planes: planes of `plane` floats copied into planes of `plane_out` (a multiple of 4)
//   with a zero tail, so that the weight gradient's A (dy) rows are vec4-aligned.
// - conv_col2im: the input gradient for few input channels (see plans.rs): the GEMM first
//   writes Z[n, ci, kh, kw, oh, ow] = sum_co weight[co, ci, kh, kw] dy[n, co, oh, ow]; each
//   output pixel then sums the taps that reach it (a gather, in a fixed order), plus the
//   epilogue.
//
// Bindings: 0 params, 1 a (GEMM A), 2 src (GEMM B, the helpers' input), 3 bias, 4 out.
// Accumulate convention: new = select(0, beta * old, beta != 0) + fresh, so a garbage (even NaN)
// old value is never read when writing.

override WG: u32 = 8u;
override STRIPS: u32 = 8u; // 1, 4, 8 or 16 strips of 4 rows per register tile
override EXACT: bool = false; // A rows contiguous and 16-byte aligned along k, no k tails
// Four consecutive columns (c % 4 == 0) are one aligned vec4 of out, all live (cols % 4 == 0).
// A constant rather than a param: the JIT then compiles one store path, not two (the store
// phase's code size is what small-K GEMMs spend most of their time on).
override SVEC: bool = false;

const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY: u32 = 2u;
// Replaces a bounded coordinate to force it out of range (dead k-steps of a tail).
const DEAD: i32 = 0x3fffffff;

struct Params {
    rows: u32,
    cols: u32,
    k: u32,       // reduction length
    kch: u32,     // reduction length per chunk (a multiple of 4)
    rblocks: u32, // tiles along rows
    cblocks: u32, // tiles along columns
    chunks: u32,
    a_rs: u32,
    a_off: u32,
    ac0: u32,
    ac1: u32,
    kr1: u32,
    kr2: u32,
    kc0: i32,
    kc1: i32,
    kc2: i32,
    kc3: i32,
    ka1: i32,
    ka0: i32,
    kb1: i32,
    kb0: i32,
    cr1: u32,
    cr2: u32,
    cc0: i32,
    cc1: i32,
    cc2: i32,
    ca1: i32,
    cb1: i32,
    lim_a: u32,
    lim_b: u32,
    o_rs: u32,
    oc0: u32,
    oc1: u32,
    oc2: u32,
    oc3: u32,
    o_chunk: u32,
    beta: f32,
    act: u32,     // ACT_*
    alpha: f32,   // leaky ReLU slope
    has_bias: u32,
    // helpers
    n_inv: u32,   // invocations (elements) of a helper dispatch
    cin: u32,
    cout: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    plane: u32,     // OH*OW of dy (conv_bias_partials, conv_pad_planes)
    total: u32,     // N*plane
    plane_out: u32, // padded plane (conv_pad_planes)
    pad: u32,       // conv_col2im: the conv's padding,
    zh: u32,        // the tap planes' rows and columns (the conv's OH, OW)
    zw: u32,
    out_h: u32,     // and the output's (the conv's H, W)
    out_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

fn group_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + nwg.x * (wg.y + nwg.y * wg.z);
}

// ---- reduction positions ------------------------------------------------------------------

// Position k of the reduction, carried as the parts of the index formulas that depend on it.
struct KPos {
    k: u32,
    i1: u32,
    i2: u32,
    base: i32,  // i0*kc0 + i1*kc1 + i2*kc2 + kc3
    ca: i32,    // i1*ka1 + ka0 (DEAD past the chunk)
    cb: i32,    // i2*kb1 + kb0
    abase: u32, // a_off + i0*ac0 + i1*ac1 + i2
    live: bool,
}

// By division: once per invocation (or per element in the tiled kernel).
fn k_at(k: u32) -> KPos {
    let i2 = k % p.kr2;
    let t = k / p.kr2;
    let i1 = t % p.kr1;
    let i0 = t / p.kr1;
    return KPos(k, i1, i2, i32(i0) * p.kc0 + i32(i1) * p.kc1 + i32(i2) * p.kc2 + p.kc3,
                i32(i1) * p.ka1 + p.ka0, i32(i2) * p.kb1 + p.kb0,
                p.a_off + i0 * p.ac0 + i1 * p.ac1 + i2, true);
}

// k + 1 by carrying through the radices (selects only; u32 sums wrap as intended).
fn k_next(q: KPos) -> KPos {
    var r = q;
    r.k += 1u;
    r.i2 += 1u;
    r.base += p.kc2;
    r.cb += p.kb1;
    r.abase += 1u;
    let w2 = r.i2 == p.kr2;
    r.i2 = select(r.i2, 0u, w2);
    r.i1 = select(r.i1, r.i1 + 1u, w2);
    r.base = select(r.base, r.base + p.kc1 - i32(p.kr2) * p.kc2, w2);
    r.cb = select(r.cb, p.kb0, w2);
    r.ca = select(r.ca, r.ca + p.ka1, w2);
    r.abase = select(r.abase, r.abase + p.ac1 - p.kr2, w2);
    let w1 = r.i1 == p.kr1;
    r.i1 = select(r.i1, 0u, w1);
    r.base = select(r.base, r.base + p.kc0 - i32(p.kr1) * p.kc1, w1);
    r.ca = select(r.ca, p.ka0, w1);
    r.abase = select(r.abase, r.abase + p.ac0 - p.kr1 * p.ac1, w1);
    return r;
}

// A k-step past the chunk's end contributes nothing: its B values read as 0 (the bounded
// coordinate is pushed out of range) and the general A path zeroes it too.
fn k_masked(q: KPos, kend: u32) -> KPos {
    var r = q;
    r.live = q.k < kend;
    r.ca = select(DEAD, q.ca, r.live);
    return r;
}

// ---- columns -------------------------------------------------------------------------------

struct CPos {
    j1: u32,
    j2: u32,
    base: i32, // j0*cc0 + j1*cc1 + j2*cc2
    ca: i32,   // j1*ca1
    cb: i32,   // j2*cb1
    o: u32,    // O(c)
}

fn col_at(c: u32) -> CPos {
    let j2 = c % p.cr2;
    let t = c / p.cr2;
    let j1 = t % p.cr1;
    let j0 = t / p.cr1;
    return CPos(j1, j2, i32(j0) * p.cc0 + i32(j1) * p.cc1 + i32(j2) * p.cc2, i32(j1) * p.ca1,
                i32(j2) * p.cb1, j0 * p.oc0 + j1 * p.oc1 + j2 * p.oc2 + p.oc3);
}

fn col_next(q: CPos) -> CPos {
    var r = q;
    r.j2 += 1u;
    r.base += p.cc2;
    r.cb += p.cb1;
    r.o += p.oc2;
    let w2 = r.j2 == p.cr2;
    r.j2 = select(r.j2, 0u, w2);
    r.j1 = select(r.j1, r.j1 + 1u, w2);
    r.base = select(r.base, r.base + p.cc1 - i32(p.cr2) * p.cc2, w2);
    r.cb = select(r.cb, 0, w2);
    r.ca = select(r.ca, r.ca + p.ca1, w2);
    r.o = select(r.o, r.o + p.oc1 - p.cr2 * p.oc2, w2);
    let w1 = r.j1 == p.cr1;
    r.j1 = select(r.j1, 0u, w1);
    r.base = select(r.base, r.base + p.cc0 - i32(p.cr1) * p.cc1, w1);
    r.ca = select(r.ca, 0, w1);
    r.o = select(r.o, r.o + p.oc0 - p.cr1 * p.oc1, w1);
    return r;
}

// Four consecutive columns from c: what their gathers and stores need.
struct Cols {
    c: u32,
    base: vec4<i32>,
    ca: vec4<i32>,
    cb: vec4<i32>,
    o: vec4<u32>,
}

fn cols4(q: ptr<function, CPos>, c: u32) -> Cols {
    let q0 = *q;
    let q1 = col_next(q0);
    let q2 = col_next(q1);
    let q3 = col_next(q2);
    *q = col_next(q3);
    return Cols(c, vec4(q0.base, q1.base, q2.base, q3.base), vec4(q0.ca, q1.ca, q2.ca, q3.ca),
                vec4(q0.cb, q1.cb, q2.cb, q3.cb), vec4(q0.o, q1.o, q2.o, q3.o));
}

// ---- loads ---------------------------------------------------------------------------------
// Every index is clamped into its buffer: out-of-range positions only feed outputs that are
// never stored or values that are selected away, so clamping just keeps reads in bounds.

fn a_at(e: u32) -> f32 {
    let i = min(e, arrayLength(&a) * 4u - 1u);
    return a[i >> 2u][i & 3u];
}

// B at k-position q for four columns (zero outside the map).
fn gather4(q: KPos, cs: Cols) -> vec4<f32> {
    let last = arrayLength(&src) - 1u;
    let i = min(vec4<u32>(cs.base + vec4(q.base)), vec4(last));
    let ok = (vec4<u32>(cs.ca + vec4(q.ca)) < vec4(p.lim_a)) &
             (vec4<u32>(cs.cb + vec4(q.cb)) < vec4(p.lim_b));
    return select(vec4(0.0), vec4(src[i.x], src[i.y], src[i.z], src[i.w]), ok);
}

// B block for k-steps q0..q3, four columns: column j = k-step j (components along columns).
fn load_b(q0: KPos, q1: KPos, q2: KPos, q3: KPos, cs: Cols) -> mat4x4<f32> {
    return mat4x4(gather4(q0, cs), gather4(q1, cs), gather4(q2, cs), gather4(q3, cs));
}

// A block for rows r..r+3 (clamped), k-steps q0..q3: column i = row r+i (components along k).
fn load_a(r: u32, q0: KPos, q1: KPos, q2: KPos, q3: KPos) -> mat4x4<f32> {
    let rr = min(vec4(r, r + 1u, r + 2u, r + 3u), vec4(p.rows - 1u)) * p.a_rs;
    if EXACT {
        let last = arrayLength(&a) - 1u;
        let e = min((rr + vec4(q0.abase)) >> vec4(2u), vec4(last));
        return mat4x4(a[e.x], a[e.y], a[e.z], a[e.w]);
    }
    let live = vec4(q0.live, q1.live, q2.live, q3.live);
    let z = vec4(0.0);
    return mat4x4(
        select(z, vec4(a_at(rr.x + q0.abase), a_at(rr.x + q1.abase), a_at(rr.x + q2.abase),
                       a_at(rr.x + q3.abase)), live),
        select(z, vec4(a_at(rr.y + q0.abase), a_at(rr.y + q1.abase), a_at(rr.y + q2.abase),
                       a_at(rr.y + q3.abase)), live),
        select(z, vec4(a_at(rr.z + q0.abase), a_at(rr.z + q1.abase), a_at(rr.z + q2.abase),
                       a_at(rr.z + q3.abase)), live),
        select(z, vec4(a_at(rr.w + q0.abase), a_at(rr.w + q1.abase), a_at(rr.w + q2.abase),
                       a_at(rr.w + q3.abase)), live));
}

// ---- epilogue and stores -------------------------------------------------------------------

fn activate(v: vec4<f32>) -> vec4<f32> {
    var y = v;
    if p.act == ACT_RELU {
        y = max(v, vec4(0.0));
    } else if p.act == ACT_LEAKY {
        y = select(p.alpha * v, v, v >= vec4(0.0));
    }
    return y;
}

fn out_at(e: u32) -> f32 {
    let i = min(e, arrayLength(&out) * 4u - 1u);
    return out[i >> 2u][i & 3u];
}

// Row r, four columns cs (`v` before the epilogue), chunk ch; columns past `cols` are skipped.
fn store4(r: u32, cs: Cols, v: vec4<f32>, ch: u32) {
    if r >= p.rows || cs.c >= p.cols {
        return;
    }
    var b = 0.0;
    if p.has_bias != 0u {
        b = bias[r];
    }
    let e = cs.o + vec4(r * p.o_rs + ch * p.o_chunk);
    if SVEC {
        var old = vec4(0.0);
        if p.beta != 0.0 {
            old = p.beta * out[e.x >> 2u];
        }
        out[e.x >> 2u] = activate(old + v + vec4(b));
        return;
    }
    var old = vec4(0.0);
    if p.beta != 0.0 {
        old = p.beta * vec4(out_at(e.x), out_at(e.y), out_at(e.z), out_at(e.w));
    }
    let y = activate(old + v + vec4(b));
    for (var j = 0u; j < 4u; j++) {
        if cs.c + j < p.cols {
            out[e[j] >> 2u][e[j] & 3u] = y[j];
        }
    }
}

// Rows r..r+3 of block m (column i = row r+i).
fn store_block(r: u32, cs: Cols, m: mat4x4<f32>, ch: u32) {
    store4(r, cs, m[0], ch);
    store4(r + 1u, cs, m[1], ch);
    store4(r + 2u, cs, m[2], ch);
    store4(r + 3u, cs, m[3], ch);
}

// v_s for s in 0..8, by selects (accumulators are only ever indexed with constants: a dynamic
// index would move them to memory for the whole k-loop).
fn pick4(s: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>,
         v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) -> vec4<f32> {
    let lo = select(select(v0, v1, s == 1u), select(v2, v3, s == 3u), s >= 2u);
    let hi = select(select(v4, v5, s == 5u), select(v6, v7, s == 7u), s >= 6u);
    return select(lo, hi, s >= 4u);
}

fn pick(s: u32, m0: mat4x4<f32>, m1: mat4x4<f32>, m2: mat4x4<f32>, m3: mat4x4<f32>,
        m4: mat4x4<f32>, m5: mat4x4<f32>, m6: mat4x4<f32>, m7: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4(pick4(s, m0[0], m1[0], m2[0], m3[0], m4[0], m5[0], m6[0], m7[0]),
                  pick4(s, m0[1], m1[1], m2[1], m3[1], m4[1], m5[1], m6[1], m7[1]),
                  pick4(s, m0[2], m1[2], m2[2], m3[2], m4[2], m5[2], m6[2], m7[2]),
                  pick4(s, m0[3], m1[3], m2[3], m3[3], m4[3], m5[3], m6[3], m7[3]));
}

// lo or up, by a select per column.
fn psel(hi: bool, lo: mat4x4<f32>, up: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4(select(lo[0], up[0], hi), select(lo[1], up[1], hi), select(lo[2], up[2], hi),
                  select(lo[3], up[3], hi));
}

// ---- register-blocked GEMM (CPU adapters) --------------------------------------------------

// t[j] += bm_j * am for the four column blocks of one 4-row strip.
fn mac(t: ptr<function, array<mat4x4<f32>, 4>>, am: mat4x4<f32>, bm: array<mat4x4<f32>, 4>) {
    (*t)[0] += bm[0] * am;
    (*t)[1] += bm[1] * am;
    (*t)[2] += bm[2] * am;
    (*t)[3] += bm[3] * am;
}

// Invocation id = (ch * rblocks + rb) * cblocks + cb owns rows [4*STRIPS*rb, +4*STRIPS) and
// columns [16 cb, 16 cb + 16) of chunk ch; t_s holds rows 4s..4s+3 as four 4x4 column blocks.
@compute @workgroup_size(WG)
fn conv_gemm_rb(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let id = group_index(wg, nwg) * WG + lane;
    if id >= p.cblocks * p.rblocks * p.chunks {
        return;
    }
    let cb = id % p.cblocks;
    let rest = id / p.cblocks;
    let r0 = (rest % p.rblocks) * 4u * STRIPS;
    let ch = rest / p.rblocks;
    let c0 = cb * 16u;
    var cq = col_at(c0);
    let cs0 = cols4(&cq, c0);
    let cs1 = cols4(&cq, c0 + 4u);
    let cs2 = cols4(&cq, c0 + 8u);
    let cs3 = cols4(&cq, c0 + 12u);
    let kbeg = ch * p.kch;
    let kend = min(p.k, kbeg + p.kch);
    var t0: array<mat4x4<f32>, 4>;
    var t1: array<mat4x4<f32>, 4>;
    var t2: array<mat4x4<f32>, 4>;
    var t3: array<mat4x4<f32>, 4>;
    var t4: array<mat4x4<f32>, 4>;
    var t5: array<mat4x4<f32>, 4>;
    var t6: array<mat4x4<f32>, 4>;
    var t7: array<mat4x4<f32>, 4>;
    var t8: array<mat4x4<f32>, 4>;
    var t9: array<mat4x4<f32>, 4>;
    var t10: array<mat4x4<f32>, 4>;
    var t11: array<mat4x4<f32>, 4>;
    var t12: array<mat4x4<f32>, 4>;
    var t13: array<mat4x4<f32>, 4>;
    var t14: array<mat4x4<f32>, 4>;
    var t15: array<mat4x4<f32>, 4>;
    var q = k_at(kbeg);
    for (var k = kbeg; k < kend; k += 4u) {
        let u1 = k_next(q);
        let u2 = k_next(u1);
        let u3 = k_next(u2);
        let q0 = k_masked(q, kend);
        let q1 = k_masked(u1, kend);
        let q2 = k_masked(u2, kend);
        let q3 = k_masked(u3, kend);
        q = k_next(u3);
        let bm = array(load_b(q0, q1, q2, q3, cs0), load_b(q0, q1, q2, q3, cs1),
                       load_b(q0, q1, q2, q3, cs2), load_b(q0, q1, q2, q3, cs3));
        mac(&t0, load_a(r0, q0, q1, q2, q3), bm);
        if STRIPS > 1u {
            mac(&t1, load_a(r0 + 4u, q0, q1, q2, q3), bm);
            mac(&t2, load_a(r0 + 8u, q0, q1, q2, q3), bm);
            mac(&t3, load_a(r0 + 12u, q0, q1, q2, q3), bm);
        }
        if STRIPS > 4u {
            mac(&t4, load_a(r0 + 16u, q0, q1, q2, q3), bm);
            mac(&t5, load_a(r0 + 20u, q0, q1, q2, q3), bm);
            mac(&t6, load_a(r0 + 24u, q0, q1, q2, q3), bm);
            mac(&t7, load_a(r0 + 28u, q0, q1, q2, q3), bm);
        }
        if STRIPS > 8u {
            mac(&t8, load_a(r0 + 32u, q0, q1, q2, q3), bm);
            mac(&t9, load_a(r0 + 36u, q0, q1, q2, q3), bm);
            mac(&t10, load_a(r0 + 40u, q0, q1, q2, q3), bm);
            mac(&t11, load_a(r0 + 44u, q0, q1, q2, q3), bm);
            mac(&t12, load_a(r0 + 48u, q0, q1, q2, q3), bm);
            mac(&t13, load_a(r0 + 52u, q0, q1, q2, q3), bm);
            mac(&t14, load_a(r0 + 56u, q0, q1, q2, q3), bm);
            mac(&t15, load_a(r0 + 60u, q0, q1, q2, q3), bm);
        }
    }
    // Strip by strip; the bound is opaque to the compiler (rows >= 1) so the JIT compiles one
    // strip's stores instead of unrolling all of them. Strip s is picked by selects: s & 7
    // among t0..t7 or among t8..t15.
    let strips = select(STRIPS, 0u, p.rows == 0u);
    for (var s = 0u; s < strips; s++) {
        let r = r0 + 4u * s;
        let h = s & 7u;
        let hi = s >= 8u;
        let m0 = psel(hi, pick(h, t0[0], t1[0], t2[0], t3[0], t4[0], t5[0], t6[0], t7[0]),
                      pick(h, t8[0], t9[0], t10[0], t11[0], t12[0], t13[0], t14[0], t15[0]));
        let m1 = psel(hi, pick(h, t0[1], t1[1], t2[1], t3[1], t4[1], t5[1], t6[1], t7[1]),
                      pick(h, t8[1], t9[1], t10[1], t11[1], t12[1], t13[1], t14[1], t15[1]));
        let m2 = psel(hi, pick(h, t0[2], t1[2], t2[2], t3[2], t4[2], t5[2], t6[2], t7[2]),
                      pick(h, t8[2], t9[2], t10[2], t11[2], t12[2], t13[2], t14[2], t15[2]));
        let m3 = psel(hi, pick(h, t0[3], t1[3], t2[3], t3[3], t4[3], t5[3], t6[3], t7[3]),
                      pick(h, t8[3], t9[3], t10[3], t11[3], t12[3], t13[3], t14[3], t15[3]));
        store_block(r, cs0, m0, ch);
        store_block(r, cs1, m1, ch);
        store_block(r, cs2, m2, ch);
        store_block(r, cs3, m3, ch);
    }
}

// ---- workgroup-tiled GEMM (GPUs) -----------------------------------------------------------

// k-tile of A as [16][64] (sa[kk * SP + row]) and of B as [16][64] (sb[kk * SP + col]); rows
// padded to 65 words so the transposing stores do not all hit one bank.
const SP: u32 = 65u;
var<workgroup> sa: array<f32, 1040>;
var<workgroup> sb: array<f32, 1040>;

fn a_elem(r: u32, k: u32, kend: u32) -> f32 {
    if r >= p.rows || k >= kend {
        return 0.0;
    }
    return a_at(r * p.a_rs + k_at(k).abase);
}

fn b_elem(k: u32, c: u32, kend: u32) -> f32 {
    if k >= kend || c >= p.cols {
        return 0.0;
    }
    let q = k_at(k);
    let cq = col_at(c);
    let i = min(u32(cq.base + q.base), arrayLength(&src) - 1u);
    let ok = u32(cq.ca + q.ca) < p.lim_a && u32(cq.cb + q.cb) < p.lim_b;
    return select(0.0, src[i], ok);
}

fn store1(r: u32, c: u32, v: f32, ch: u32) {
    if r >= p.rows || c >= p.cols {
        return;
    }
    let e = col_at(c).o + r * p.o_rs + ch * p.o_chunk;
    var old = 0.0;
    if p.beta != 0.0 {
        old = p.beta * out_at(e);
    }
    var b = 0.0;
    if p.has_bias != 0u {
        b = bias[r];
    }
    out[e >> 2u][e & 3u] = activate(vec4(old + v + b)).x;
}

// Workgroup id = (ch * rblocks + rb) * cblocks + cb covers the 64x64 tile at rows 64 rb,
// columns 64 cb of chunk ch; thread (tx, ty) owns rows ty + 16i and columns tx + 16j.
@compute @workgroup_size(16, 16)
fn conv_gemm_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let id = group_index(wg, nwg);
    if id >= p.cblocks * p.rblocks * p.chunks {
        return; // whole workgroups only, so the barriers below stay uniform
    }
    let c0 = (id % p.cblocks) * 64u;
    let rest = id / p.cblocks;
    let r0 = (rest % p.rblocks) * 64u;
    let ch = rest / p.rblocks;
    let kbeg = ch * p.kch;
    let kend = min(p.k, kbeg + p.kch);
    let t = lid.y * 16u + lid.x;
    var acc: array<vec4<f32>, 4>; // acc[i][j]: row ty + 16i, column tx + 16j
    for (var k0 = kbeg; k0 < kend; k0 += 16u) {
        // 1024 elements of each tile, 4 per thread.
        for (var q = 0u; q < 4u; q++) {
            let e = q * 256u + t;
            sa[(e % 16u) * SP + e / 16u] = a_elem(r0 + e / 16u, k0 + e % 16u, kend);
            sb[(e / 64u) * SP + e % 64u] = b_elem(k0 + e / 64u, c0 + e % 64u, kend);
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
            store1(r0 + lid.y + 16u * i, c0 + lid.x + 16u * j, acc[i][j], ch);
        }
    }
}

// ---- helpers -------------------------------------------------------------------------------

// Number of kernel rows kh < len with kh % s < ph: the taps of the phases before ph.
fn taps_before(len: u32, s: u32, ph: u32) -> u32 {
    return (len / s) * ph + min(len % s, ph);
}

// Weight element e = ((co*Cin + ci)*KH + kh)*KW + kw to its place in the packed weight (a
// permutation: every element is written exactly once).
@compute @workgroup_size(WG)
fn conv_pack_dx(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let e = group_index(wg, nwg) * WG + lane;
    if e >= p.n_inv {
        return;
    }
    let s = p.stride;
    let kw = e % p.kw;
    let t = e / p.kw;
    let kh = t % p.kh;
    let t2 = t / p.kh;
    let ci = t2 % p.cin;
    let co = t2 / p.cin;
    let ph_h = kh % s;
    let ph_w = kw % s;
    let th_n = (p.kh - ph_h + s - 1u) / s; // T_h of this phase
    let tw_n = (p.kw - ph_w + s - 1u) / s;
    let off = p.cin * p.cout * (taps_before(p.kh, s, ph_h) * p.kw
                                + th_n * taps_before(p.kw, s, ph_w));
    let d = off + (ci * p.cout + co) * th_n * tw_n + (kh / s) * tw_n + kw / s;
    out[d >> 2u][d & 3u] = src[e];
}

// Invocation id = ch * Cout + co sums dy[n, co, :] over positions n*plane + q in chunk ch.
@compute @workgroup_size(WG)
fn conv_bias_partials(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lane: u32) {
    let id = group_index(wg, nwg) * WG + lane;
    if id >= p.n_inv {
        return;
    }
    let co = id % p.cout;
    let ch = id / p.cout;
    let beg = ch * p.kch;
    let end = min(p.total, beg + p.kch);
    let last = arrayLength(&src) - 1u;
    var n = beg / p.plane;
    var q = beg % p.plane;
    var acc = vec4(0.0);
    // Four positions per iteration (one per component), carried (n, q) without division.
    for (var i = beg; i < end; i += 4u) {
        var v = vec4(0.0);
        for (var j = 0u; j < 4u; j++) {
            let e = min((n * p.cout + co) * p.plane + q, last);
            v[j] = select(0.0, src[e], i + j < end);
            q += 1u;
            let wrap = q == p.plane;
            q = select(q, 0u, wrap);
            n = select(n, n + 1u, wrap);
        }
        acc += v;
    }
    let sum = (acc.x + acc.y) + (acc.z + acc.w);
    var old = 0.0;
    if p.beta != 0.0 {
        old = p.beta * out_at(id);
    }
    out[id >> 2u][id & 3u] = old + sum;
}

// out[o] = beta*old + sum over chunks ch (in order) of src[ch * n_inv + o].
@compute @workgroup_size(WG)
fn conv_sum_partials(@builtin(workgroup_id) wg: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lane: u32) {
    let o = group_index(wg, nwg) * WG + lane;
    if o >= p.n_inv {
        return;
    }
    var sum = 0.0;
    for (var ch = 0u; ch < p.chunks; ch++) {
        sum += src[ch * p.n_inv + o];
    }
    var old = 0.0;
    if p.beta != 0.0 {
        old = p.beta * out_at(o);
    }
    out[o >> 2u][o & 3u] = old + sum;
}

// Four output floats per invocation: out[i * plane_out + q] = src[i * plane + q] (0 for
// q >= plane); plane_out % 4 == 0, so the four share i.
@compute @workgroup_size(WG)
fn conv_pad_planes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let e4 = group_index(wg, nwg) * WG + lane;
    if e4 >= p.n_inv {
        return;
    }
    let i = (e4 * 4u) / p.plane_out;
    let q = (e4 * 4u) % p.plane_out;
    let last = arrayLength(&src) - 1u;
    var v = vec4(0.0);
    for (var j = 0u; j < 4u; j++) {
        v[j] = select(0.0, src[min(i * p.plane + q + j, last)], q + j < p.plane);
    }
    out[e4] = v;
}

// Invocation e = ((n*cin + c)*out_h + y)*out_w + x: the taps kh = ph + S t with
// iy = (y + P - kh) / S inside the tap plane (u32 wrap-around makes negative rows fail the test).
@compute @workgroup_size(WG)
fn conv_col2im(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let e = group_index(wg, nwg) * WG + lane;
    if e >= p.n_inv {
        return;
    }
    let x = e % p.out_w;
    let t = e / p.out_w;
    let y = t % p.out_h;
    let nc = t / p.out_h;
    let s = p.stride;
    let ph_h = (y + p.pad) % s;
    let ph_w = (x + p.pad) % s;
    let y0 = (y + p.pad) / s;
    let x0 = (x + p.pad) / s;
    let zplane = p.zh * p.zw;
    var sum = 0.0;
    for (var kh = ph_h; kh < p.kh; kh += s) {
        let iy = y0 - (kh - ph_h) / s;
        for (var kw = ph_w; kw < p.kw; kw += s) {
            let ix = x0 - (kw - ph_w) / s;
            if iy < p.zh && ix < p.zw {
                sum += src[((nc * p.kh + kh) * p.kw + kw) * zplane + iy * p.zw + ix];
            }
        }
    }
    var b = 0.0;
    if p.has_bias != 0u {
        b = bias[nc % p.cin];
    }
    var old = 0.0;
    if p.beta != 0.0 {
        old = p.beta * out_at(e);
    }
    out[e >> 2u][e & 3u] = activate(vec4(old + sum + b)).x;
}
