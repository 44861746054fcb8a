// Loss family: per-sample losses (forward) and their input gradients (backward), stable for
// large |logits|. The graph sums or averages the per-sample values with the reduce family, or
// with `batch_sum` here (one workgroup, fixed order).
//
// Shapes: B = batch rows, F = features per row (K = classes, D = code dimensions), n = B * F.
// A "row" kernel runs one invocation per sample b and loops over its F values in order (the
// sums are short and fixed-order, no workgroup memory); an "element" kernel runs one invocation
// per value i and reads the upstream dloss[i / F].
//
// Bindings (each entry point binds only what it uses):
//   0 params   1 x: logits / predictions / scores / mu / per-sample losses   [B, F]
//   2 t: targets / codes [B, F]   3 labels: u32 [B]   4 lv: logvar [B, F]
//   5 dloss: upstream gradient [B] (or [1] for batch_sum_backward)
//   6 out: loss [B] / correct [B] / probabilities [B, K] / total [1]
//   7 dx: gradient for x (or mu) [B, F]   8 dlv: gradient for logvar [B, F]
// Backward kernels (and the accumulating ones) compute select(0, beta * old, beta != 0) + new:
// beta = 1 accumulates, beta = 0 overwrites and ignores whatever (even NaN) was there.

override WG: u32 = 64u;

struct Params {
    rows: u32,  // B (for element-wise JS terms: n, with cols = 1)
    cols: u32,  // F, K or D
    beta: f32,  // 0 = write, 1 = accumulate
    scale: f32, // MSE 1 (sum) or 1/F (mean); softmax_accumulate weight; batch_sum 1 or 1/B
    sign: f32,  // JS term: -1 = softplus(-T) (positive pairs), +1 = softplus(T) (negatives)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> lv: array<f32>;
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read_write> dlv: array<f32>;

const HALF_LOG_2PI: f32 = 0.91893853320467274178;
// A label >= K poisons its row with NaN (the host should have caught it with validate_labels;
// a NaN loss then stops training loudly instead of training on a clamped, wrong class).
const NAN_BITS: u32 = 0x7fc00000u;
// Smallest normal f32: probs_nll floors p here, so a vanished probability costs 87.3, not inf.
const P_FLOOR: f32 = 1.17549435e-38;
// Row sums add BLOCK terms into a partial before folding it into the total: error grows with
// BLOCK + F / BLOCK instead of F, whatever the compiler does with the loop.
const BLOCK: u32 = 16u;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

fn accum(old: f32, fresh: f32) -> f32 {
    return select(0.0, p.beta * old, p.beta != 0.0) + fresh;
}

// log(1 + u) for u > -1. WGSL has no log1p and log(1 + u) loses u entirely below 6e-8 (the
// answer for e^-|x| with |x| > 17), so small |u| uses the Taylor series to u^7 (truncation
// |u|^8 / 8 < 1.3e-9 relative for |u| < 0.1).
fn log1p(u: f32) -> f32 {
    if abs(u) < 0.1 {
        return u * (1.0 - u * (0.5 - u * (1.0 / 3.0 - u * (0.25 - u * (0.2 - u * (1.0 / 6.0
            - u * (1.0 / 7.0)))))));
    }
    return log(1.0 + u);
}

// softplus(v) = log(1 + e^v) = max(v, 0) + log1p(e^-|v|): exp never overflows.
fn softplus(v: f32) -> f32 {
    return max(v, 0.0) + log1p(exp(-abs(v)));
}

// sigmoid(v) through e = e^-|v| (never overflows): 1 / (1 + e) for v >= 0, e / (1 + e) below.
fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    let r = 1.0 / (1.0 + e);
    return select(e * r, r, v >= 0.0);
}

// ---- BCE with logits: loss[b] = sum_f max(x,0) - x t + log1p(e^-|x|) --------------------

// max(x,0) - x t is x (1 - t) for x > 0 and -x t otherwise: no cancellation when t ~ 1.
fn bce_term(v: f32, tv: f32) -> f32 {
    let lin = select(-v * tv, v * (1.0 - tv), v > 0.0);
    return lin + log1p(exp(-abs(v)));
}

@compute @workgroup_size(WG)
fn bce_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        part += bce_term(x[base + j], t[base + j]);
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    out[b] = total + part;
}

// dloss/dx = sigmoid(x) - t. Written as (1 - t) - e/(1+e) for x >= 0 and e/(1+e) - t below
// (e = e^-|x|), so a saturated logit with a matching target gives -e/(1+e), not 0.
@compute @workgroup_size(WG)
fn bce_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows * p.cols { return; }
    let v = x[i];
    let e = exp(-abs(v));
    let small = e / (1.0 + e);
    let g = select(small - t[i], (1.0 - t[i]) - small, v >= 0.0);
    dx[i] = accum(dx[i], dloss[i / p.cols] * g);
}

// ---- softmax cross-entropy with integer labels ------------------------------------------

// Row statistics: m = max_j x_j, am = its first index, rest = sum_{j != am} e^(x_j - m). Then
// sum_j e^(x_j - m) = 1 + rest and logsumexp = m + log1p(rest), exact also when one logit
// dominates (rest << 1).
struct RowStats {
    m: f32,
    am: u32,
    rest: f32,
}

fn row_stats(base: u32, k: u32) -> RowStats {
    var m = x[base];
    var am = 0u;
    for (var j = 1u; j < k; j++) {
        let v = x[base + j];
        if v > m { m = v; am = j; }
    }
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < k; j++) {
        if j != am { part += exp(x[base + j] - m); }
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    return RowStats(m, am, total + part);
}

// loss[b] = logsumexp(x_b) - x_b[label] = (m - x_label) + log1p(rest): two non-negative terms.
@compute @workgroup_size(WG)
fn softmax_xent_forward(@builtin(workgroup_id) wg: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    let s = row_stats(base, p.cols);
    let label = labels[b];
    let lab = min(label, p.cols - 1u); // clamp-safe read; the row is NaN if label was bad
    let loss = (s.m - x[base + lab]) + log1p(s.rest);
    out[b] = select(bitcast<f32>(NAN_BITS), loss, label < p.cols);
}

// dloss/dx_j = softmax_j - [j == label]. For j == label == argmax this is -(1 - p_am)
// = -rest / (1 + rest), computed directly instead of p_am - 1 (which cancels to 0).
@compute @workgroup_size(WG)
fn softmax_xent_backward(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    let s = row_stats(base, p.cols);
    let inv = 1.0 / (1.0 + s.rest);
    let label = labels[b];
    let scale = select(bitcast<f32>(NAN_BITS), dloss[b], label < p.cols);
    for (var j = 0u; j < p.cols; j++) {
        var g = exp(x[base + j] - s.m) * inv;
        if j == label {
            g = select(g - 1.0, -s.rest * inv, j == s.am);
        }
        dx[base + j] = accum(dx[base + j], scale * g);
    }
}

// ---- evaluation helpers (no gradient): accuracy and 12-sample probability averaging -----

// correct[b] = 1 if argmax_j scores[b, j] (first on ties) == label else 0. Works on logits or
// on averaged probabilities alike (softmax keeps the argmax). A bad label counts as wrong.
@compute @workgroup_size(WG)
fn correct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var m = x[base];
    var am = 0u;
    for (var j = 1u; j < p.cols; j++) {
        let v = x[base + j];
        if v > m { m = v; am = j; }
    }
    out[b] = select(0.0, 1.0, am == labels[b]);
}

// probs[b, j] = (beta * old) + scale * softmax(x_b)_j: with scale = 1/S and beta = 0 for the
// first of S samples and 1 after, probs ends as the average of S softmaxes (VIB's test rule).
@compute @workgroup_size(WG)
fn softmax_accumulate(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    let s = row_stats(base, p.cols);
    let w = p.scale / (1.0 + s.rest);
    for (var j = 0u; j < p.cols; j++) {
        out[base + j] = accum(out[base + j], w * exp(x[base + j] - s.m));
    }
}

// loss[b] = -log(max(probs[b, label], P_FLOOR)), the cross-entropy of averaged probabilities.
// Above p = 0.5 it is computed as -log1p(p - 1) (p - 1 is exact there): a confident p ~ 1
// keeps its small loss to f32 precision, where log(p) is only good to ~2^-21 absolute.
@compute @workgroup_size(WG)
fn probs_nll(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let label = labels[b];
    let lab = min(label, p.cols - 1u);
    let q = max(x[b * p.cols + lab], P_FLOOR);
    let loss = -select(log(q), log1p(q - 1.0), q > 0.5);
    out[b] = select(bitcast<f32>(NAN_BITS), loss, label < p.cols);
}

// ---- MSE: loss[b] = scale * sum_f (x - t)^2, scale 1 (sum) or 1/F (mean) -----------------

@compute @workgroup_size(WG)
fn mse_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        let r = x[base + j] - t[base + j];
        part += r * r;
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    out[b] = p.scale * (total + part);
}

// dloss/dx = 2 scale (x - t)
@compute @workgroup_size(WG)
fn mse_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows * p.cols { return; }
    dx[i] = accum(dx[i], dloss[i / p.cols] * (2.0 * p.scale) * (x[i] - t[i]));
}

// ---- Jensen-Shannon MI bound terms (Deep InfoMax), softplus form -------------------------
// out[b] = sum_f softplus(sign * T[b, f]); with cols = 1 this is element-wise over n scores.
// Positive pairs use sign = -1 (softplus(-T)), negative pairs sign = +1 (softplus(T)).

@compute @workgroup_size(WG)
fn js_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        part += softplus(p.sign * x[base + j]);
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    out[b] = total + part;
}

// d softplus(s T)/dT = s sigmoid(s T): -sigmoid(-T) for positives, sigmoid(T) for negatives.
@compute @workgroup_size(WG)
fn js_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows * p.cols { return; }
    let g = p.sign * sigmoid(p.sign * x[i]);
    dx[i] = accum(dx[i], dloss[i / p.cols] * g);
}

// ---- Gaussian NLL (InfoGAN continuous codes) ---------------------------------------------
// nll[b] = sum_d 0.5 log(2 pi) + 0.5 lv + 0.5 (c - mu)^2 e^-lv, mu = x, c = t, lv = logvar.
// The *_unit entry points fix lv = 0 (unit variance) and bind no logvar buffers.

fn gnll_term(mu: f32, c: f32, logvar: f32) -> f32 {
    let r = c - mu;
    return HALF_LOG_2PI + 0.5 * logvar + 0.5 * r * r * exp(-logvar);
}

@compute @workgroup_size(WG)
fn gnll_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        part += gnll_term(x[base + j], t[base + j], lv[base + j]);
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    out[b] = total + part;
}

@compute @workgroup_size(WG)
fn gnll_unit_forward(@builtin(workgroup_id) wg: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.rows { return; }
    let base = b * p.cols;
    var total = 0.0;
    var part = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        part += gnll_term(x[base + j], t[base + j], 0.0);
        if j % BLOCK == BLOCK - 1u { total += part; part = 0.0; }
    }
    out[b] = total + part;
}

// dnll/dmu = (mu - c) e^-lv;  dnll/dlv = 0.5 - 0.5 (c - mu)^2 e^-lv
@compute @workgroup_size(WG)
fn gnll_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows * p.cols { return; }
    let g = dloss[i / p.cols];
    let r = x[i] - t[i];
    let iv = exp(-lv[i]);
    dx[i] = accum(dx[i], g * r * iv);
    dlv[i] = accum(dlv[i], g * (0.5 - 0.5 * r * r * iv));
}

// dnll/dmu = mu - c (lv = 0)
@compute @workgroup_size(WG)
fn gnll_unit_backward(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows * p.cols { return; }
    dx[i] = accum(dx[i], dloss[i / p.cols] * (x[i] - t[i]));
}

// ---- batch total: total = (beta * old) + scale * sum_b loss[b] ---------------------------
// One workgroup: lane l sums loss[l], loss[l + SUM_WG], ... in blocks, then a fixed tree.
// Deterministic for a given B; with beta = 1 it accumulates losses over steps on the GPU.

const SUM_WG: u32 = 64u;
var<workgroup> lanes: array<f32, SUM_WG>;

@compute @workgroup_size(SUM_WG)
fn batch_sum(@builtin(local_invocation_index) lid: u32) {
    var total = 0.0;
    var part = 0.0;
    var k = 0u;
    for (var i = lid; i < p.rows; i += SUM_WG) {
        part += x[i];
        k++;
        if k % 64u == 0u { total += part; part = 0.0; }
    }
    lanes[lid] = total + part;
    workgroupBarrier();
    for (var stride = SUM_WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride { lanes[lid] += lanes[lid + stride]; }
        workgroupBarrier();
    }
    if lid == 0u { out[0] = accum(out[0], p.scale * lanes[0]); }
}

// dtotal/dloss[b] = scale
@compute @workgroup_size(WG)
fn batch_sum_backward(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.rows { return; }
    dx[i] = accum(dx[i], p.scale * dloss[0]);
}
