// Pairwise family: squared Euclidean distance matrices, Gaussian / inverse-multiquadric kernel
// matrices, MMD^2 between two sample sets, and the k-th nearest neighbour distance, each with
// its backward. The entropic autoencoder's Kozachenko-Leonenko entropy needs the kNN distance;
// InfoVAE's MMD needs the kernels.
//
// Shapes: n = rows of a, m = rows of b, d = features. a [n, d] (x), b [m, d] (y; the same
// buffer as a in the self case), D / K / W [n, m] row-major, eps / idx / deps [n],
// MMD row sums [n + m + n], mmd / dmmd [1]. W is a weight matrix: the upstream gradient times
// the kernel's derivative, dK_ij * dk/dD (D_ij), made by pair_forward in a MODE_WEIGHT_* mode.
//
// Distances are sums of squared differences, never ||a||^2 + ||b||^2 - 2 a.b: that form
// cancels catastrophically for near points (the very pairs kNN entropy is about), loses all
// precision for duplicates and can even go negative (then sqrt gives NaN).
//
// On lavapipe every invocation is a SIMD lane and barriers / workgroup memory are slow, so the
// O(n m d) kernels are register tiles with no workgroup memory: each invocation owns a 4 x 4
// tile of D (pair_forward), four rows (pair_rowsum, knn_forward) or four rows of one 4-wide
// feature chunk (pair_grad), loading 4-wide chunks along d (as vec4 when d % 4 == 0).
//
// Bindings (one table for every entry point; each entry point binds only what it uses):
// 0 params, 1 a, 2 b, 3 a4, 4 b4 (a and b again, viewed as vec4; read when V4 = 1),
// 5 w (read: dD, dK, W, deps, dmmd or row sums), 6 out (written: D, K, W, gradients, eps,
// row sums, mmd), 7 idx (kNN neighbour indices), 8 ex (kNN eps, read by the backward).

override WG: u32 = 64u;
// 1 when d % 4 == 0: rows start on 16-byte boundaries and load through the vec4 views.
override V4: u32 = 0u;
// The pair function k(D) of the squared distance D.
override KIND: u32 = 0u;
// What pair_forward writes: the value k(D), or a weight coef * upstream * dk/dD.
override MODE: u32 = 0u;

const KIND_SQDIST: u32 = 0u; // k(D) = D
const KIND_GAUSS: u32 = 1u; // k(D) = exp(-D / s), s = p.scale
const KIND_IMQ: u32 = 2u; // k(D) = C / (C + D), C = p.scale

const MODE_VALUE: u32 = 0u; // out_ij = k(D_ij)
const MODE_WEIGHT_MAT: u32 = 1u; // out_ij = coef * w_ij * k'(D_ij) (kernel-matrix backward)
const MODE_WEIGHT_SCALAR: u32 = 2u; // out_ij = coef * w_0 * k'(D_ij) (MMD backward)

const FLAG_SKIP_DIAG: u32 = 1u; // pair_rowsum: leave out j == i (MMD U-statistic)
const FLAG_SYM: u32 = 2u; // pair_grad: use W_rs + W_sr (self case: both arguments are a)

// kNN keeps the k best (squared distance, index) pairs of each row in a sorted private list.
const KMAX: u32 = 16u;
const KNN_ROWS: u32 = 4u;
// "No neighbour yet": larger than any finite squared distance we compare against (an inf
// literal is not valid WGSL). A row that never finds k finite distances (NaN input) keeps
// idx = NONE and eps = sqrt(BIG); the backward skips it.
const BIG: f32 = 3.0e38;
const NONE: u32 = 0xffffffffu;

struct Params {
    n: u32, // rows of a
    m: u32, // rows of b (pair_grad: rows summed over)
    d: u32, // features
    k: u32, // kNN: which neighbour (1-based)
    scale: f32, // Gaussian s or IMQ C
    coef: f32, // weight multiplier (MODE_WEIGHT_*)
    beta: f32, // gradients: 0 writes, 1 accumulates into out
    flags: u32,
    w_rs: u32, // pair_grad: W(r, s) = w[w_off + r * w_rs + s * w_ss]
    w_ss: u32,
    w_off: u32,
    out_off: u32,
    c_xx: f32, // mmd_finish: mmd = c_xx sum(xx) + c_yy sum(yy) + c_xy sum(xy)
    c_yy: f32,
    c_xy: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> idx: array<u32>;
@group(0) @binding(8) var<storage, read> ex: array<f32>;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Features 4c .. 4c+3 of a row, zero past d (zeros add nothing to distances or gradients).
fn ld_a(row: u32, c: u32) -> vec4<f32> {
    if V4 != 0u {
        return a4[row * (p.d >> 2u) + c];
    }
    let base = row * p.d + 4u * c;
    let rem = p.d - 4u * c;
    var v = vec4<f32>(a[base], 0.0, 0.0, 0.0);
    if rem > 1u { v.y = a[base + 1u]; }
    if rem > 2u { v.z = a[base + 2u]; }
    if rem > 3u { v.w = a[base + 3u]; }
    return v;
}

fn ld_b(row: u32, c: u32) -> vec4<f32> {
    if V4 != 0u {
        return b4[row * (p.d >> 2u) + c];
    }
    let base = row * p.d + 4u * c;
    let rem = p.d - 4u * c;
    var v = vec4<f32>(b[base], 0.0, 0.0, 0.0);
    if rem > 1u { v.y = b[base + 1u]; }
    if rem > 2u { v.z = b[base + 2u]; }
    if rem > 3u { v.w = b[base + 3u]; }
    return v;
}

fn sq(v: vec4<f32>) -> f32 {
    return dot(v, v);
}

// k(D) for four squared distances.
fn kval(dd: vec4<f32>) -> vec4<f32> {
    switch KIND {
        case KIND_GAUSS: { return exp(-dd / p.scale); }
        case KIND_IMQ: { return p.scale / (p.scale + dd); }
        default: { return dd; }
    }
}

// dk/dD. With dD/dx_i = 2 (x_i - y_j) the chain rule gives the kernel derivatives:
//   Gaussian: dk/dD = -K / s, so dK_ij/dx_i = K_ij * (-2 (x_i - y_j) / s)
//   IMQ:      dk/dD = -C / (C + D)^2, so dK_ij/dx_i = -C * 2 (x_i - y_j) / (C + D_ij)^2
//   sqdist:   dk/dD = 1
fn kder(dd: vec4<f32>) -> vec4<f32> {
    switch KIND {
        case KIND_GAUSS: { return -exp(-dd / p.scale) / p.scale; }
        case KIND_IMQ: {
            let q = p.scale + dd;
            return -p.scale / (q * q);
        }
        default: { return vec4<f32>(1.0); }
    }
}

// Squared distances of a rows i0..i0+3 to b rows j0..j0+3: column r of the result holds row
// i0 + r. Rows past the end are clamped to the last row (computed, never written).
fn tile_sqdist(i0: u32, j0: u32) -> mat4x4<f32> {
    let ia = min(vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    let jb = min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let chunks = (p.d + 3u) / 4u;
    for (var c = 0u; c < chunks; c++) {
        let b0 = ld_b(jb.x, c);
        let b1 = ld_b(jb.y, c);
        let b2 = ld_b(jb.z, c);
        let b3 = ld_b(jb.w, c);
        let x0 = ld_a(ia.x, c);
        acc0 += vec4<f32>(sq(x0 - b0), sq(x0 - b1), sq(x0 - b2), sq(x0 - b3));
        let x1 = ld_a(ia.y, c);
        acc1 += vec4<f32>(sq(x1 - b0), sq(x1 - b1), sq(x1 - b2), sq(x1 - b3));
        let x2 = ld_a(ia.z, c);
        acc2 += vec4<f32>(sq(x2 - b0), sq(x2 - b1), sq(x2 - b2), sq(x2 - b3));
        let x3 = ld_a(ia.w, c);
        acc3 += vec4<f32>(sq(x3 - b0), sq(x3 - b1), sq(x3 - b2), sq(x3 - b3));
    }
    return mat4x4<f32>(acc0, acc1, acc2, acc3);
}

// out[i, j] = k(D_ij), or a weight for the backward (see MODE). One 4 x 4 tile per invocation.
@compute @workgroup_size(WG)
fn pair_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    let tm = (p.m + 3u) / 4u;
    if t >= ((p.n + 3u) / 4u) * tm { return; }
    let i0 = (t / tm) * 4u;
    let j0 = (t % tm) * 4u;
    let dm = tile_sqdist(i0, j0);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if i >= p.n { break; }
        var v: vec4<f32>;
        switch MODE {
            case MODE_WEIGHT_MAT, MODE_WEIGHT_SCALAR: { v = p.coef * kder(dm[r]); }
            default: { v = kval(dm[r]); }
        }
        for (var s = 0u; s < 4u; s++) {
            let j = j0 + s;
            if j >= p.m { break; }
            let o = i * p.m + j;
            switch MODE {
                case MODE_WEIGHT_MAT: { out[p.out_off + o] = v[s] * w[p.w_off + o]; }
                case MODE_WEIGHT_SCALAR: { out[p.out_off + o] = v[s] * w[p.w_off]; }
                default: { out[p.out_off + o] = v[s]; }
            }
        }
    }
}

// out[out_off + i] = sum_j k(D_ij) over all b rows (j != i with FLAG_SKIP_DIAG), for MMD.
// Four rows per invocation; each row keeps four partial sums (one per tile column) added at
// the end: a fixed order, and shorter chains than one running sum.
@compute @workgroup_size(WG)
fn pair_rowsum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= (p.n + 3u) / 4u { return; }
    let i0 = t * 4u;
    let skip = (p.flags & FLAG_SKIP_DIAG) != 0u;
    var acc = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var j0 = 0u; j0 < p.m; j0 += 4u) {
        let dm = tile_sqdist(i0, j0);
        let jj = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
        let inside = jj < vec4<u32>(p.m);
        for (var r = 0u; r < 4u; r++) {
            let keep = inside & (vec4<bool>(!skip) | (jj != vec4<u32>(i0 + r)));
            acc[r] += select(vec4<f32>(0.0), kval(dm[r]), keep);
        }
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if i >= p.n { break; }
        let s = acc[r];
        out[p.out_off + i] = (s.x + s.y) + (s.z + s.w);
    }
}

// Sum of w[off .. off + len) in a fixed order: blocks of 64 summed, then the block sums.
fn block_sum(off: u32, len: u32) -> f32 {
    var total = 0.0;
    for (var b0 = 0u; b0 < len; b0 += 64u) {
        var part = 0.0;
        let end = min(b0 + 64u, len);
        for (var q = b0; q < end; q++) {
            part += w[off + q];
        }
        total += part;
    }
    return total;
}

// mmd = c_xx sum(rowsums_xx) + c_yy sum(rowsums_yy) + c_xy sum(rowsums_xy), rowsums packed as
// [xx (n), yy (m), xy (n)] in w. A single invocation: the sums are O(n + m), the kernel
// evaluations before it O((n + m)^2 d).
@compute @workgroup_size(WG)
fn mmd_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    if linear_index(wg, nwg, lid) != 0u { return; }
    let xx = block_sum(p.w_off, p.n);
    let yy = block_sum(p.w_off + p.n, p.m);
    let xy = block_sum(p.w_off + p.n + p.m, p.n);
    out[p.out_off] = p.c_xx * xx + p.c_yy * yy + p.c_xy * xy;
}

// W(r, s) for four rows r of a and one row s of b (plus W(s, r) with FLAG_SYM).
fn w_col(ra: vec4<u32>, s: u32) -> vec4<f32> {
    let base = p.w_off + s * p.w_ss;
    var v = vec4<f32>(w[base + ra.x * p.w_rs], w[base + ra.y * p.w_rs],
                      w[base + ra.z * p.w_rs], w[base + ra.w * p.w_rs]);
    if (p.flags & FLAG_SYM) != 0u {
        let tb = p.w_off + s * p.w_rs;
        v += vec4<f32>(w[tb + ra.x * p.w_ss], w[tb + ra.y * p.w_ss],
                       w[tb + ra.z * p.w_ss], w[tb + ra.w * p.w_ss]);
    }
    return v;
}

// out_r = [beta * out_r] + 2 sum_s W(r, s) (a_r - b_s): the gradient of sum_rs W(r,s) D_rs
// with W held fixed, since dD_rs/da_r = 2 (a_r - b_s). The differences are formed directly
// (not 2 (a_r sum_s W - W b)), which would cancel when the rows are close and large.
// Four rows of two 4-wide feature chunks per invocation: each loaded weight feeds 8 FMAs.
@compute @workgroup_size(WG)
fn pair_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    let chunks = (p.d + 3u) / 4u;
    let pairs = (chunks + 1u) / 2u;
    if t >= ((p.n + 3u) / 4u) * pairs { return; }
    let c0 = (t % pairs) * 2u;
    let c1 = min(c0 + 1u, chunks - 1u); // past the last chunk: computed, not written
    let r0 = (t / pairs) * 4u;
    let ra = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    let x0 = ld_a(ra.x, c0);
    let x1 = ld_a(ra.y, c0);
    let x2 = ld_a(ra.z, c0);
    let x3 = ld_a(ra.w, c0);
    let z0 = ld_a(ra.x, c1);
    let z1 = ld_a(ra.y, c1);
    let z2 = ld_a(ra.z, c1);
    let z3 = ld_a(ra.w, c1);
    var g = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var h = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var s = 0u; s < p.m; s++) {
        let y = ld_b(s, c0);
        let v = ld_b(s, c1);
        let wv = w_col(ra, s);
        g[0] += wv.x * (x0 - y);
        g[1] += wv.y * (x1 - y);
        g[2] += wv.z * (x2 - y);
        g[3] += wv.w * (x3 - y);
        h[0] += wv.x * (z0 - v);
        h[1] += wv.y * (z1 - v);
        h[2] += wv.z * (z2 - v);
        h[3] += wv.w * (z3 - v);
    }
    for (var r = 0u; r < 4u; r++) {
        let row = r0 + r;
        if row >= p.n { break; }
        write_grad(row, c0, 2.0 * g[r]);
        if c0 + 1u < chunks {
            write_grad(row, c1, 2.0 * h[r]);
        }
    }
}

// out[row, 4c .. 4c+3] = [beta * old] + v, features past d left alone. A write (beta = 0)
// ignores the old value, even a NaN in a fresh buffer.
fn write_grad(row: u32, c: u32, v: vec4<f32>) {
    let base = row * p.d + 4u * c;
    let cnt = min(4u, p.d - 4u * c);
    for (var q = 0u; q < cnt; q++) {
        let old = out[base + q];
        out[base + q] = select(0.0, p.beta * old, p.beta != 0.0) + v[q];
    }
}

// Insert (dist, j) into the sorted list of row slot r (entries r*KMAX .. r*KMAX + k-1),
// known to beat its last entry. Strict comparisons keep an earlier (lower) index ahead of
// a later one at the same distance: ties break by lower index.
fn knn_insert(bd: ptr<function, array<f32, 64>>, bi: ptr<function, array<u32, 64>>,
              r: u32, dist: f32, j: u32) {
    let base = r * KMAX;
    var q = p.k - 1u;
    while q > 0u && dist < (*bd)[base + q - 1u] {
        (*bd)[base + q] = (*bd)[base + q - 1u];
        (*bi)[base + q] = (*bi)[base + q - 1u];
        q -= 1u;
    }
    (*bd)[base + q] = dist;
    (*bi)[base + q] = j;
}

// eps_i = distance from a row i to its k-th nearest other row (self excluded by index, so a
// duplicate point elsewhere is a neighbour at distance 0), idx_i = that row. Four rows per
// invocation share each loaded row j.
@compute @workgroup_size(WG)
fn knn_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= (p.n + 3u) / 4u { return; }
    let i0 = t * KNN_ROWS;
    let ia = min(vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    var bd: array<f32, 64>; // KNN_ROWS * KMAX
    var bi: array<u32, 64>;
    for (var q = 0u; q < KNN_ROWS * KMAX; q++) {
        bd[q] = BIG;
        bi[q] = NONE;
    }
    let last = p.k - 1u;
    let chunks = (p.d + 3u) / 4u;
    for (var j = 0u; j < p.n; j++) {
        var dist = vec4<f32>(0.0);
        for (var c = 0u; c < chunks; c++) {
            let y = ld_a(j, c);
            dist += vec4<f32>(sq(ld_a(ia.x, c) - y), sq(ld_a(ia.y, c) - y),
                              sq(ld_a(ia.z, c) - y), sq(ld_a(ia.w, c) - y));
        }
        for (var r = 0u; r < KNN_ROWS; r++) {
            if j != ia[r] && dist[r] < bd[r * KMAX + last] {
                knn_insert(&bd, &bi, r, dist[r], j);
            }
        }
    }
    for (var r = 0u; r < KNN_ROWS; r++) {
        let i = i0 + r;
        if i >= p.n { break; }
        out[i] = sqrt(bd[r * KMAX + last]);
        idx[i] = bi[r * KMAX + last];
    }
}

// dx for eps_i = ||x_i - x_j||, j = idx_i:
//   d eps_i / d x_i = (x_i - x_j) / eps_i,   d eps_i / d x_j = -(x_i - x_j) / eps_i.
// Row r collects its own term and, gathering (no atomics, fixed order i = 0..n-1), the terms
// of every row i whose neighbour is r. At eps_i = 0 (a duplicate point) the distance is not
// differentiable; we take the subgradient 0 for that pair (0 lies in the subdifferential,
// the unit ball). One row and 4-wide feature chunk per invocation.
@compute @workgroup_size(WG)
fn knn_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    let chunks = (p.d + 3u) / 4u;
    if t >= p.n * chunks { return; }
    let c = t % chunks;
    let r = t / chunks;
    let xr = ld_a(r, c);
    var g = vec4<f32>(0.0);
    let j = idx[r];
    if j < p.n && ex[r] > 0.0 {
        g += (w[r] / ex[r]) * (xr - ld_a(j, c));
    }
    for (var i = 0u; i < p.n; i++) {
        if idx[i] == r && ex[i] > 0.0 {
            g -= (w[i] / ex[i]) * (ld_a(i, c) - xr);
        }
    }
    write_grad(r, c, g);
}
