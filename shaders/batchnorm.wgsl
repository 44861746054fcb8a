// Batch normalisation with PyTorch semantics (BatchNorm1d on x [B, F], BatchNorm2d on
// x [N, C, H, W]): per-feature batch statistics, normalisation with batch or running statistics
// (optionally affine), the running-statistics update, and the backward of both modes.
//
// Shape legend: F features (BatchNorm1d: F, BatchNorm2d: C), `count` values per feature (B, or
// N*H*W), n = count * F. Value j of feature f is x[((j / I) * F + f) * I + j % I] with I = 1
// for [B, F] and I = H*W for NCHW. mean, var, rstd, gamma, shift (PyTorch's beta/bias),
// running mean/var, dgamma, dbeta: [F]. x, y, dy, dx: [n].
//
// Per-feature sums (of x; of d = x - mean and d^2; of dy and dy * xhat) are deterministic and
// blocked like reduce.wgsl: one invocation sums one chunk of one feature (serially in blocks of
// BLOCK, then the blocks in order) and writes a pair to the scratch s; `bn_combine` levels sum
// pairs of partials [nchunks, F, 2] until one pair per feature is left (chunks of at most 1024
// also keep every invocation far below llvmpipe's silent cap of 65,535 loop iterations per
// invocation; see reduce.wgsl). The variance is
// two-pass (sum x -> mean, then sums of the centred values), which stays accurate when
// |mean| >> std, where sum(x^2) - n mean^2 would cancel.
//
// Bindings: 0 params, 1 x, 2 dy, 3 mean (batch, or running in eval mode), 4 r (rstd, or the
// running variance in eval mode), 5 gamma, 6 shift, 7 out (y or dx), 8 s (scratch), 9 var,
// 10 running mean, 11 running var, 12 dgamma, 13 dbeta.

override WG: u32 = 64u;
// Eval mode: binding 4 holds the running variance and rstd = 1 / sqrt(var + eps).
override EVAL: bool = false;

const BLOCK: u32 = 32u;

struct Params {
    feats: u32,      // F
    inner: u32,      // I
    count: u32,      // values per feature
    n: u32,          // count * F
    len: u32,        // values (level 1) or partials (later levels) per feature at this level
    chunk: u32,      // values one invocation sums
    nchunks: u32,    // invocations per feature
    in_off: u32,     // where the partials read start in s (combine levels, finishing kernels)
    out_off: u32,    // where this level's partials go in s
    eps: f32,
    momentum: f32,
    beta: f32,       // 0: write the gradient; 1: add to it
    inv_count: f32,  // 1 / count
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> r: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> shift: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> s: array<f32>;
@group(0) @binding(9) var<storage, read_write> var_: array<f32>;
@group(0) @binding(10) var<storage, read_write> run_mean: array<f32>;
@group(0) @binding(11) var<storage, read_write> run_var: array<f32>;
@group(0) @binding(12) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(13) var<storage, read_write> dbeta: array<f32>;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Feature of element i of x.
fn feature(i: u32) -> u32 {
    return (i / p.inner) % p.feats;
}

// 1 / sqrt(var + eps): saved by the forward (training) or from the running variance (eval).
fn rstd(f: u32) -> f32 {
    if EVAL {
        return 1.0 / sqrt(r[f] + p.eps);
    }
    return r[f];
}

fn keep(old: f32) -> f32 {
    // Accumulate or write; `select` drops a garbage/NaN old value when writing.
    return select(0.0, p.beta * old, p.beta != 0.0);
}

// ---- per-feature sums ---------------------------------------------------------------------

// Invocation t sums values (or partials) [j0, j1) of feature f and writes pair t of this level:
// t = chunk * F + f, so the partials form [nchunks, F, 2].
struct Job {
    f: u32,
    j0: u32,
    j1: u32,
}

fn job(t: u32) -> Job {
    let f = t % p.feats;
    let j0 = (t / p.feats) * p.chunk;
    return Job(f, j0, min(j0 + p.chunk, p.len));
}

// Walks the x indices of one feature's values without a division per value.
struct Cursor {
    j: u32,   // value index within the feature
    idx: u32, // its index in x
    rem: u32, // j % I
}

fn cursor(b: Job) -> Cursor {
    let outer = b.j0 / p.inner;
    let rem = b.j0 - outer * p.inner;
    return Cursor(b.j0, (outer * p.feats + b.f) * p.inner + rem, rem);
}

fn next(c: Cursor) -> Cursor {
    var n = Cursor(c.j + 1u, c.idx + 1u, c.rem + 1u);
    if n.rem == p.inner {
        // End of this feature's run of I values: skip the other F - 1 features' runs.
        n.rem = 0u;
        n.idx += (p.feats - 1u) * p.inner;
    }
    return n;
}

fn put_pair(t: u32, v: vec2<f32>) {
    s[p.out_off + 2u * t] = v.x;
    s[p.out_off + 2u * t + 1u] = v.y;
}

// The three level-1 kernels differ only in the summed term (WGSL has no function arguments of
// storage arrays or closures, so the blocked loop is written out in each).

// (sum x, 0): for the mean.
@compute @workgroup_size(WG)
fn bn_sum_x(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.feats * p.nchunks { return; }
    let b = job(t);
    var c = cursor(b);
    var total = 0.0;
    while c.j < b.j1 {
        let end = min(c.j + BLOCK, b.j1);
        var blk = 0.0;
        for (; c.j < end; c = next(c)) {
            blk += x[c.idx];
        }
        total += blk;
    }
    put_pair(t, vec2(total, 0.0));
}

// (sum d, sum d^2) with d = x - mean: for the variance (and a correction of the mean).
@compute @workgroup_size(WG)
fn bn_sum_centered(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.feats * p.nchunks { return; }
    let b = job(t);
    let m = mean[b.f];
    var c = cursor(b);
    var total = vec2(0.0);
    while c.j < b.j1 {
        let end = min(c.j + BLOCK, b.j1);
        var blk = vec2(0.0);
        for (; c.j < end; c = next(c)) {
            let d = x[c.idx] - m;
            blk += vec2(d, d * d);
        }
        total += blk;
    }
    put_pair(t, total);
}

// (sum dy, sum dy * xhat) with xhat = (x - mean) * rstd: for the backward (both modes).
@compute @workgroup_size(WG)
fn bn_sum_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.feats * p.nchunks { return; }
    let b = job(t);
    let m = mean[b.f];
    let rs = rstd(b.f);
    var c = cursor(b);
    var total = vec2(0.0);
    while c.j < b.j1 {
        let end = min(c.j + BLOCK, b.j1);
        var blk = vec2(0.0);
        for (; c.j < end; c = next(c)) {
            let g = dy[c.idx];
            blk += vec2(g, g * (x[c.idx] - m) * rs);
        }
        total += blk;
    }
    put_pair(t, total);
}

// Later levels: pairs of partials [len, F, 2] at in_off -> [nchunks, F, 2] at out_off.
@compute @workgroup_size(WG)
fn bn_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.feats * p.nchunks { return; }
    let b = job(t);
    var total = vec2(0.0);
    var k = b.j0;
    while k < b.j1 {
        let end = min(k + BLOCK, b.j1);
        var blk = vec2(0.0);
        for (; k < end; k++) {
            let i = p.in_off + 2u * (k * p.feats + b.f);
            blk += vec2(s[i], s[i + 1u]);
        }
        total += blk;
    }
    put_pair(t, total);
}

// ---- per-feature finishing kernels (one invocation per feature; the pair is at in_off) -------

// mean = sum x / count.
@compute @workgroup_size(WG)
fn bn_finish_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let f = linear_index(wg, nwg, lid);
    if f >= p.feats { return; }
    mean[f] = s[p.in_off + 2u * f] * p.inv_count;
}

// With e = mean(d) (the first pass's rounding left in the mean): mean += e,
// var = mean(d^2) - e^2 (biased, as PyTorch normalises with), rstd = 1 / sqrt(var + eps).
@compute @workgroup_size(WG)
fn bn_finish_var(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let f = linear_index(wg, nwg, lid);
    if f >= p.feats { return; }
    let e = s[p.in_off + 2u * f] * p.inv_count;
    let v = max(s[p.in_off + 2u * f + 1u] * p.inv_count - e * e, 0.0);
    mean[f] += e;
    var_[f] = v;
    r[f] = 1.0 / sqrt(v + p.eps);
}

// running = (1 - m) running + m batch, with the unbiased variance var * n / (n - 1). With one
// value per feature that is undefined (PyTorch refuses to train then): the running variance is
// left unchanged and only the running mean moves.
@compute @workgroup_size(WG)
fn bn_running(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let f = linear_index(wg, nwg, lid);
    if f >= p.feats { return; }
    let m = p.momentum;
    run_mean[f] = (1.0 - m) * run_mean[f] + m * mean[f];
    if p.count > 1u {
        let unbiased = var_[f] * (f32(p.count) / f32(p.count - 1u));
        run_var[f] = (1.0 - m) * run_var[f] + m * unbiased;
    }
}

// dgamma = sum dy * xhat, dbeta = sum dy (d y / d gamma = xhat, d y / d beta = 1).
@compute @workgroup_size(WG)
fn bn_param_grads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let f = linear_index(wg, nwg, lid);
    if f >= p.feats { return; }
    dgamma[f] = keep(dgamma[f]) + s[p.in_off + 2u * f + 1u];
    dbeta[f] = keep(dbeta[f]) + s[p.in_off + 2u * f];
}

// ---- elementwise kernels (one invocation per element of x) ---------------------------------

fn xhat(i: u32, f: u32) -> f32 {
    return (x[i] - mean[f]) * rstd(f);
}

// y = xhat.
@compute @workgroup_size(WG)
fn bn_normalize(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    out[i] = xhat(i, feature(i));
}

// y = gamma * xhat + beta.
@compute @workgroup_size(WG)
fn bn_normalize_affine(@builtin(workgroup_id) wg: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let f = feature(i);
    out[i] = gamma[f] * xhat(i, f) + shift[f];
}

// dx for scale g (gamma, or 1 without affine). Training (mean and rstd depend on x):
//   dx = g rstd (dy - mean(dy) - xhat mean(dy xhat)),
// with the two means from the pair at in_off. Eval (statistics are constants):
//   dx = g rstd dy.
fn dx_value(i: u32, f: u32, g: f32) -> f32 {
    if EVAL {
        return g * rstd(f) * dy[i];
    }
    let k = p.in_off + 2u * f;
    let mdy = s[k] * p.inv_count;
    let mdyx = s[k + 1u] * p.inv_count;
    return g * rstd(f) * (dy[i] - mdy - xhat(i, f) * mdyx);
}

@compute @workgroup_size(WG)
fn bn_dx(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    out[i] = keep(out[i]) + dx_value(i, feature(i), 1.0);
}

@compute @workgroup_size(WG)
fn bn_dx_affine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let f = feature(i);
    out[i] = keep(out[i]) + dx_value(i, f, gamma[f]);
}
