// Reduce family: sum or mean of a row-major matrix x [R, C] over its rows (-> [C], one value per
// column: a Linear layer's bias gradient), over its columns (-> [R], one per row) or in full
// (-> [1]), and the backward of each (dy broadcast back to [R, C]).
//
// Every reduction is "O outputs, each the sum of K elements": element k of output o is
// x[o * so + k * sk] (over rows: O = C, K = R, so = 1, sk = C; over columns: O = R, K = C,
// so = C, sk = 1; in full: O = 1, K = R * C, sk = 1).
// Deterministic and accurate without float atomics: a level splits each output's K elements into
// `nchunks` chunks of at most `chunk`; one invocation sums one chunk in blocks of BLOCK (serial
// inside a block, then the block sums in order) and writes a partial. The partials [nchunks, O]
// are the next level's input (so = 1, sk = O), until one chunk per output is left. The rounding
// error grows with chunk / BLOCK + BLOCK per level and the number of levels (log_1024 K), not
// with K: a serial f32 loop over millions of elements would lose the 1e-5 the tests ask for.
// Bounded chunks are also a platform workaround: llvmpipe (lavapipe) silently ends a shader's
// loops after 65,535 iterations in total per invocation (LP_MAX_TGSI_LOOP_ITERATIONS), so one
// invocation looping over 100k elements returns a partial sum. Here an invocation loops at most
// chunk + chunk / BLOCK (~1,056) times (test long_reductions_stay_under_lavapipe_loop_limit).
//
// Shapes: x [R, C]; y [O]; s scratch: the partials of every level but the last, level after
// level; dy [O]; dx [R, C].
// Bindings: 0 params, 1 x, 2 y, 3 s, 4 dy, 5 dx.

override WG: u32 = 64u;

// Elements summed serially before the running block sum joins the chunk total.
const BLOCK: u32 = 32u;

struct Params {
    outs: u32,    // O: outputs of this level
    len: u32,     // K: elements (or partials) per output at this level
    chunk: u32,   // elements one invocation sums
    nchunks: u32, // invocations per output
    so: u32,      // input stride between outputs
    sk: u32,      // input stride between the elements of one output
    in_off: u32,  // where this level's input starts in s (levels after the first)
    out_off: u32, // where this level's partials go in s (levels before the last)
    scale: f32,   // applied by the last level and the backward: 1 (sum) or 1 / K (mean)
    beta: f32,    // 0: write y / dx; 1: add to it
    // backward: dx[i] takes dy[(i / div) % modulo]
    n: u32,
    div: u32,
    modulo: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Invocation t sums elements [k0, k1) of output o; partial t = chunk * O + o, so the partials
// form [nchunks, O] and neighbouring invocations write neighbouring floats.
struct Job {
    o: u32,
    k0: u32,
    k1: u32,
}

fn job(t: u32) -> Job {
    let o = t % p.outs;
    let k0 = (t / p.outs) * p.chunk;
    return Job(o, k0, min(k0 + p.chunk, p.len));
}

// The two sums below differ only in the array they read (WGSL cannot pass a storage array).
fn sum_x(j: Job) -> f32 {
    var total = 0.0;
    var i = j.o * p.so + j.k0 * p.sk;
    var k = j.k0;
    while k < j.k1 {
        let end = min(k + BLOCK, j.k1);
        var block = 0.0;
        for (; k < end; k++) {
            block += x[i];
            i += p.sk;
        }
        total += block;
    }
    return total;
}

fn sum_s(j: Job) -> f32 {
    var total = 0.0;
    var i = p.in_off + j.o * p.so + j.k0 * p.sk;
    var k = j.k0;
    while k < j.k1 {
        let end = min(k + BLOCK, j.k1);
        var block = 0.0;
        for (; k < end; k++) {
            block += s[i];
            i += p.sk;
        }
        total += block;
    }
    return total;
}

// Last level: y = scale * sum, or y += scale * sum. `select` drops a garbage/NaN old value
// when writing.
fn put_y(o: u32, v: f32) {
    y[o] = select(0.0, p.beta * y[o], p.beta != 0.0) + p.scale * v;
}

// One level: x -> y (the only level when K <= chunk).
@compute @workgroup_size(WG)
fn reduce_x_to_y(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.outs * p.nchunks { return; }
    let j = job(t);
    put_y(j.o, sum_x(j));
}

// First of several levels: x -> partials in s.
@compute @workgroup_size(WG)
fn reduce_x_to_s(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.outs * p.nchunks { return; }
    s[p.out_off + t] = sum_x(job(t));
}

// Middle levels: partials -> fewer partials, in disjoint regions of s.
@compute @workgroup_size(WG)
fn reduce_s_to_s(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.outs * p.nchunks { return; }
    s[p.out_off + t] = sum_s(job(t));
}

// Last of several levels: partials -> y.
@compute @workgroup_size(WG)
fn reduce_s_to_y(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= p.outs * p.nchunks { return; }
    let j = job(t);
    put_y(j.o, sum_s(j));
}

// Backward of every reduction: dsum/dx = 1, dmean/dx = 1 / K, so dx[r, c] = scale * dy[o(r, c)]
// with o = c (over rows: div 1, modulo C), r (over columns: div C, modulo R) or 0 (in full).
@compute @workgroup_size(WG)
fn reduce_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = p.scale * dy[(i / p.div) % p.modulo];
    dx[i] = select(0.0, p.beta * dx[i], p.beta != 0.0) + g;
}
