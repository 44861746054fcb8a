// Pooling family (issue 4: Deep InfoMax's conv encoder and feature maps), NCHW.
// - max_pool: k x k windows at stride s, PyTorch MaxPool2d semantics (no padding, floor mode:
//   OH = floor((H - k) / s) + 1), writing y and the argmax; max_pool_backward gathers dy back
//   through the argmax, per input element, with no atomics. max_pool_2x2 and
//   max_pool_backward_2x2 are the same for k = s = 2 (the models' case), in straight-line code.
// - global pooling over each plane: average (OP_AVG) or max with argmax (OP_MAX), one pass when
//   a plane fits one invocation's chunk, else partials per chunk then a pass over the partials;
//   global_pool_backward is the backward of both.
//
// Shapes (P = N*C planes, HW = H*W):
//   max_pool(_2x2):                 x [N, C, H, W] -> y, arg [N, C, OH, OW]
//   max_pool_backward(_2x2):        arg, dy [N, C, OH, OW] -> dx [N, C, H, W]
//   global_pool(_partial, _final):  x [N, C, H, W] -> y [N, C] (and arg [N, C] for max)
//   global_pool_backward:           dy [N, C] (and arg) -> dx [N, C, H, W]
// arg holds the argmax's position inside its input plane (ih * W + iw), as u32.
//
// Max semantics (PyTorch's): the first maximum in scan order wins (row-major within a window or
// plane), and NaN counts as larger than every number (the first NaN wins), so it propagates.
// Deterministic: every sum runs in a fixed order; no float atomics.
//
// Work per invocation: on lavapipe an invocation is one lane of an 8-wide SIMD group and each
// storage access is paid per lane and instruction, so invocations take several outputs (a
// segment of `seg` items of a row or plane) and use vec2/vec4 accesses where the layout allows.
// Integer division is avoided per element (lavapipe divides lane by lane): one or two per
// invocation, then counters.
// Loop trip counts stay far below 65,535 per invocation: llvmpipe silently ends a shader's
// loops after 65,535 iterations in total per invocation (see reduce.wgsl); the Rust twin
// sizes seg and chunk for that (max_pool: seg * k * k <= 4096; global: chunk <= 4096).
//
// Bindings (one role per number; each entry point binds only the ones it uses):
//   1 x    read        input, f32
//   2 x2   read        the same input as vec2 (max_pool_2x2, VEC = 2)
//   3 x4   read        the same input as vec4 (global pooling)
//   4 y    read_write  forward output
//   5 arg  read_write  forward argmax
//   6 s    read_write  global pooling scratch: partial values [P, nchunks], then positions
//   7 dy   read        upstream gradient
//   8 argr read        argmax saved by the forward (backward)
//   9 dx   read_write  input gradient, f32
//  10 dx4  read_write  the same gradient as vec4 (global pooling backward)
//  11 dx2  read_write  the same gradient as vec2 (VEC = 2)
// An entry point binds every binding its code names, even under an OP branch it never takes
// (the average names arg); the twin fills such slots with a buffer it already binds.
// Backward outputs follow the accumulate convention (beta = 0: write, 1: add to the old value):
// the old value is read only when beta != 0, so garbage (even NaN) is ignored when writing.

override WG: u32 = 64u;
// Global pooling op: 0 = average, 1 = max.
override OP: u32 = 0u;
// 2 x 2 max pooling: 2 when W is even (window rows are aligned vec2), else 1.
override VEC: u32 = 1u;

const OP_AVG: u32 = 0u;
const OP_MAX: u32 = 1u;

// Loads summed serially before the running block sum joins the chunk total (keeps the rounding
// error growing with chunk / BLOCK + BLOCK, not with chunk).
const BLOCK: u32 = 32u;

struct Params {
    n: u32,       // invocations doing work
    planes: u32,  // P = N*C
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    k: u32,       // window side
    s: u32,       // stride
    seg: u32,     // items (outputs, inputs, vec4s) per invocation
    nseg: u32,    // segments per row (max pooling) or plane (global backward)
    hw: u32,      // H*W
    chunk: u32,   // global pooling: elements per partial (a multiple of 4)
    nchunks: u32, // partials per plane
    scale: f32,   // 1 / HW
    beta: f32,    // 0 or 1: accumulate into dx
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> arg: array<u32>;
@group(0) @binding(6) var<storage, read_write> s: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read> argr: array<u32>;
@group(0) @binding(9) var<storage, read_write> dx: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> dx2: array<vec2<f32>>;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Stores into dx under the accumulate convention. Only accumulating reads the old value: in
// write mode a garbage (even NaN) old value is never loaded, and the write costs no read.
fn put_dx(i: u32, fresh: f32) {
    var v = fresh;
    if p.beta != 0.0 {
        v += p.beta * dx[i];
    }
    dx[i] = v;
}

fn put_dx2(i: u32, fresh: vec2<f32>) {
    var v = fresh;
    if p.beta != 0.0 {
        v += p.beta * dx2[i];
    }
    dx2[i] = v;
}

fn put_dx4(i: u32, fresh: vec4<f32>) {
    var v = fresh;
    if p.beta != 0.0 {
        v += p.beta * dx4[i];
    }
    dx4[i] = v;
}

// NaN tests on the bits: naga emits `v != v` as SPIR-V FOrdNotEqual, false for NaN (and WGSL
// lets implementations assume no NaN), so only the bit pattern is reliable.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_nan4(v: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(v) & vec4(0x7fffffffu)) > vec4(0x7f800000u);
}

// Does candidate (v at position a) beat the best so far (m at b)? Larger wins, NaN beats
// every number, and among equals (or NaNs) the earlier position wins. Scans visit positions
// in increasing order, so there the position test only matters when merging lanes or chunks.
fn beats(v: f32, a: u32, m: f32, b: u32) -> bool {
    let vn = is_nan(v);
    let mn = is_nan(m);
    if vn || mn {
        return vn && (!mn || a < b);
    }
    return v > m || (v == m && a < b);
}

// ---- k x k max pooling -------------------------------------------------------------------

// Invocation t takes outputs [ow0, ow0 + seg) of output row t / nseg (= plane * OH + oh).
@compute @workgroup_size(WG)
fn max_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let row = t / p.nseg;
    let ow0 = (t - row * p.nseg) * p.seg;
    let ow1 = min(ow0 + p.seg, p.ow);
    let plane = row / p.oh;
    let ih0 = (row - plane * p.oh) * p.s;
    let base = plane * p.hw;
    for (var ow = ow0; ow < ow1; ow++) {
        let iw0 = ow * p.s;
        var b = ih0 * p.w + iw0;
        var m = x[base + b];
        for (var dh = 0u; dh < p.k; dh++) {
            let r = (ih0 + dh) * p.w + iw0;
            for (var dw = 0u; dw < p.k; dw++) {
                let v = x[base + r + dw];
                if beats(v, r + dw, m, b) {
                    m = v;
                    b = r + dw;
                }
            }
        }
        y[row * p.ow + ow] = m;
        arg[row * p.ow + ow] = b;
    }
}

// dx[plane, ih, iw] = sum of dy[plane, oh, ow] over the windows containing (ih, iw) whose
// argmax is (ih, iw), in (oh, ow) order: dmax/dx_j = [j = argmax]. Window (oh, ow) contains
// (ih, iw) when oh * s <= ih < oh * s + k and ow * s <= iw < ow * s + k. Invocation t takes
// inputs [iw0, iw0 + seg) of input row t / nseg (= plane * H + ih).
// No integer division per input (lavapipe divides lane by lane): along the row, the first
// window containing iw, ow_lo, and the end of that range, ow_hi, each grow by at most 1 per
// step, so they advance by comparison.
@compute @workgroup_size(WG)
fn max_pool_backward(@builtin(workgroup_id) wg: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let row = t / p.nseg;
    let iw0 = (t - row * p.nseg) * p.seg;
    let iw1 = min(iw0 + p.seg, p.w);
    let plane = row / p.h;
    let ih = row - plane * p.h;
    // oh in [ceil((ih + 1 - k) / s), floor(ih / s)], clipped to [0, OH).
    let oh_lo = select(0u, (ih + p.s - p.k) / p.s, ih + 1u >= p.k);
    let oh_hi = min(ih / p.s + 1u, p.oh);
    let obase = plane * p.oh;
    var ow_lo = select(0u, (iw0 + p.s - p.k) / p.s, iw0 + 1u >= p.k);
    var ow_hi = min(iw0 / p.s + 1u, p.ow);
    for (var iw = iw0; iw < iw1; iw++) {
        if ow_lo * p.s + p.k <= iw { ow_lo++; }
        if ow_hi < p.ow && ow_hi * p.s <= iw { ow_hi++; }
        let pos = ih * p.w + iw;
        var g = 0.0;
        for (var oh = oh_lo; oh < oh_hi; oh++) {
            for (var ow = ow_lo; ow < ow_hi; ow++) {
                let o = (obase + oh) * p.ow + ow;
                if argr[o] == pos {
                    g += dy[o];
                }
            }
        }
        let i = row * p.w + iw;
        put_dx(i, g);
    }
}

// ---- 2 x 2 max pooling at stride 2 (the models' case) ---------------------------------------
// Straight-line windows; with VEC = 2 (W even, so every window row is an aligned pair) the two
// rows of a window are two vec2 loads, and the backward stores them as two vec2.

// First maximum of a window's rows (t = top pair, u = bottom pair), scan order t.x, t.y, u.x,
// u.y; .a is the offset 0..3 in that order.
fn best_of_window(t: vec2<f32>, u: vec2<f32>) -> Best {
    var best = Best(t.x, 0u);
    if beats(t.y, 1u, best.v, best.a) { best = Best(t.y, 1u); }
    if beats(u.x, 2u, best.v, best.a) { best = Best(u.x, 2u); }
    if beats(u.y, 3u, best.v, best.a) { best = Best(u.y, 3u); }
    return best;
}

// Window (oh, ow)'s top row: x[base + p0], x[base + p0 + 1]; bottom row one input row lower.
fn window_row(i: u32) -> vec2<f32> {
    if VEC == 2u {
        return x2[i / 2u];
    }
    return vec2(x[i], x[i + 1u]);
}

// As max_pool: invocation t takes outputs [ow0, ow0 + seg) of output row t / nseg.
@compute @workgroup_size(WG)
fn max_pool_2x2(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let row = t / p.nseg;
    let ow0 = (t - row * p.nseg) * p.seg;
    let ow1 = min(ow0 + p.seg, p.ow);
    let plane = row / p.oh;
    let r0 = 2u * (row - plane * p.oh) * p.w;
    let base = plane * p.hw;
    for (var ow = ow0; ow < ow1; ow++) {
        let p0 = r0 + 2u * ow;
        let b = best_of_window(window_row(base + p0), window_row(base + p0 + p.w));
        y[row * p.ow + ow] = b.v;
        arg[row * p.ow + ow] = p0 + (b.a & 1u) + (b.a >> 1u) * p.w;
    }
}

fn put_window_row(i: u32, v: vec2<f32>) {
    if VEC == 2u {
        put_dx2(i / 2u, v);
    } else {
        put_dx(i, v.x);
        put_dx(i + 1u, v.y);
    }
}

// Windows do not overlap, so each output writes its own 2 x 2 inputs: dy at the argmax, 0 at
// the other three. Invocation t takes windows [ow0, ow0 + seg) of window row t / nseg, both
// input rows; inputs in no window (the last row when H is odd, the last column when W is odd)
// get 0 from the invocations next to them.
@compute @workgroup_size(WG)
fn max_pool_backward_2x2(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let row = t / p.nseg;
    let ow0 = (t - row * p.nseg) * p.seg;
    let ow1 = min(ow0 + p.seg, p.ow);
    let plane = row / p.oh;
    let oh = row - plane * p.oh;
    let r0 = 2u * oh * p.w;
    let base = plane * p.hw;
    for (var ow = ow0; ow < ow1; ow++) {
        let o = row * p.ow + ow;
        let a = argr[o];
        let g = dy[o];
        let p0 = r0 + 2u * ow;
        let top = select(vec2(0.0), vec2(g), vec2(a) == vec2(p0) + vec2(0u, 1u));
        let bot = select(vec2(0.0), vec2(g), vec2(a) == vec2(p0 + p.w) + vec2(0u, 1u));
        put_window_row(base + p0, top);
        put_window_row(base + p0 + p.w, bot);
    }
    // W odd: the last column of both rows.
    if ow1 == p.ow && p.w > 2u * p.ow {
        put_dx(base + r0 + p.w - 1u, 0.0);
        put_dx(base + r0 + 2u * p.w - 1u, 0.0);
    }
    // H odd: the last row, under this segment's windows (and the last column).
    if oh + 1u == p.oh && p.h > 2u * p.oh {
        let r = base + 2u * p.oh * p.w;
        let end = select(2u * ow1, p.w, ow1 == p.ow);
        for (var iw = 2u * ow0; iw < end; iw++) {
            put_dx(r + iw, 0.0);
        }
    }
}

// ---- global pooling ------------------------------------------------------------------------

// The best (value, position) of a run of a plane.
struct Best {
    v: f32,
    a: u32,
}

// A run [s0, e0) of a flat array split at 16-byte boundaries: a scalar head [s0, a), whole
// vec4s [a, b) and a scalar tail [b, e0) (head and tail under 4 values; a run inside one vec4
// is all head). Planes of any HW (7 x 7 = 49 too) then load mostly vec4s.
struct Split {
    a: u32,
    b: u32,
}

fn split(s0: u32, e0: u32) -> Split {
    let a = min((s0 + 3u) & ~3u, e0);
    return Split(a, max(e0 & ~3u, a));
}

// Sum of x[i0 .. i1) in blocks of BLOCK.
fn sum_scalar(i0: u32, i1: u32) -> f32 {
    var total = 0.0;
    var i = i0;
    while i < i1 {
        let e = min(i + BLOCK, i1);
        var blk = 0.0;
        for (; i < e; i++) {
            blk += x[i];
        }
        total += blk;
    }
    return total;
}

// The first best of x[i0 .. i1) against `best` so far (positions relative to `base`).
fn max_scalar(base: u32, i0: u32, i1: u32, start: Best) -> Best {
    var best = start;
    for (var i = i0; i < i1; i++) {
        let v = x[i];
        if beats(v, i - base, best.v, best.a) {
            best = Best(v, i - base);
        }
    }
    return best;
}

// Reduction of x[base + lo .. base + hi) (positions lo..hi inside the plane): the sum
// (OP_AVG, in .v) or the first maximum (OP_MAX), in a fixed order: head, vec4 body (each of
// the four lanes keeps its own partial sum or best), tail.
fn scan(base: u32, lo: u32, hi: u32) -> Best {
    let s0 = base + lo;
    let e0 = base + hi;
    let sp = split(s0, e0);
    if OP == OP_MAX {
        var best = max_scalar(base, s0, sp.a, Best(x[s0], lo));
        if sp.a < sp.b {
            var q = sp.a / 4u;
            var m = x4[q];
            var b = vec4(sp.a - base) + vec4(0u, 1u, 2u, 3u);
            for (q++; q < sp.b / 4u; q++) {
                let v = x4[q];
                let a = vec4(q * 4u - base) + vec4(0u, 1u, 2u, 3u);
                // Positions only increase along a lane: larger, or a first NaN, takes it.
                let take = (v > m) | (is_nan4(v) & !is_nan4(m));
                m = select(m, v, take);
                b = select(b, a, take);
            }
            // Merging by (value, position) makes the order of the merges irrelevant.
            for (var l = 0u; l < 4u; l++) {
                if beats(m[l], b[l], best.v, best.a) {
                    best = Best(m[l], b[l]);
                }
            }
        }
        return max_scalar(base, sp.b, e0, best);
    }
    var total = vec4(0.0);
    var q = sp.a / 4u;
    while q < sp.b / 4u {
        let e = min(q + BLOCK, sp.b / 4u);
        var blk = vec4(0.0);
        for (; q < e; q++) {
            blk += x4[q];
        }
        total += blk;
    }
    let body = (total.x + total.y) + (total.z + total.w);
    return Best((sum_scalar(s0, sp.a) + body) + sum_scalar(sp.b, e0), 0u);
}

fn put(plane: u32, r: Best) {
    if OP == OP_MAX {
        y[plane] = r.v;
        arg[plane] = r.a;
    } else {
        y[plane] = p.scale * r.v;
    }
}

// One pass: one invocation per plane (HW <= chunk).
@compute @workgroup_size(WG)
fn global_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    put(t, scan(t * p.hw, 0u, p.hw));
}

// First of two passes: invocation t = plane * nchunks + j reduces chunk j of its plane into
// s[t] (sum or max) and, for max, s[P * nchunks + t] = its position as f32 (exact: the twin
// keeps HW <= 2^24).
@compute @workgroup_size(WG)
fn global_pool_partial(@builtin(workgroup_id) wg: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let plane = t / p.nchunks;
    let lo = (t - plane * p.nchunks) * p.chunk;
    let r = scan(plane * p.hw, lo, min(lo + p.chunk, p.hw));
    s[t] = r.v;
    if OP == OP_MAX {
        s[p.n + t] = f32(r.a);
    }
}

// Second pass: invocation per plane merges its partials in chunk order (sum in blocks, or the
// first best: chunks hold increasing positions, so merging in order keeps the first maximum).
@compute @workgroup_size(WG)
fn global_pool_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let plane = linear_index(wg, nwg, lid);
    if plane >= p.n { return; }
    let total_partials = p.planes * p.nchunks;
    var i = plane * p.nchunks;
    let end = i + p.nchunks;
    if OP == OP_MAX {
        var best = Best(s[i], u32(s[total_partials + i]));
        for (i++; i < end; i++) {
            let v = s[i];
            if beats(v, 1u, best.v, 0u) { // a later chunk wins only if strictly better
                best = Best(v, u32(s[total_partials + i]));
            }
        }
        put(plane, best);
        return;
    }
    var total = 0.0;
    while i < end {
        let e = min(i + BLOCK, end);
        var blk = 0.0;
        for (; i < e; i++) {
            blk += s[i];
        }
        total += blk;
    }
    put(plane, Best(total, 0u));
}

// Backward of both global pools, over each plane split as in `scan`: invocation t takes the
// vec4s [lo, lo + seg) of plane t / nseg's body; its first segment also writes the head, its
// last the tail. Average: dx = dy[plane] / HW (d mean / dx_j = 1 / HW). Max: dx_j = dy[plane]
// [j = argmax].
fn backward_value(g: f32, a: u32, pos: u32) -> f32 {
    return select(g, select(0.0, g, a == pos), OP == OP_MAX);
}

@compute @workgroup_size(WG)
fn global_pool_backward(@builtin(workgroup_id) wg: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.n { return; }
    let plane = t / p.nseg;
    let j = t - plane * p.nseg;
    let s0 = plane * p.hw;
    let e0 = s0 + p.hw;
    let sp = split(s0, e0);
    var g = dy[plane];
    var a = 0u;
    if OP == OP_AVG {
        g *= p.scale;
    } else {
        a = argr[plane];
    }
    let lo = sp.a / 4u + j * p.seg;
    let hi = min(lo + p.seg, sp.b / 4u);
    for (var q = lo; q < hi; q++) {
        var v = vec4(g);
        if OP == OP_MAX {
            v = select(vec4(0.0), v, vec4(a) == vec4(4u * q - s0) + vec4(0u, 1u, 2u, 3u));
        }
        put_dx4(q, v);
    }
    if j == 0u {
        for (var i = s0; i < sp.a; i++) {
            put_dx(i, backward_value(g, a, i - s0));
        }
    }
    if j + 1u == p.nseg {
        for (var i = sp.b; i < e0; i++) {
            put_dx(i, backward_value(g, a, i - s0));
        }
    }
}
