// Probe family: kernels that measure the adapter's ceilings once, so benchmark tables can say
// what share of the achievable memory bandwidth or arithmetic rate a kernel reaches.
// - copy_vec4: dst = src with vec4 loads and stores, PER per invocation (memory bandwidth);
// - fma_peak: each invocation runs CHAINS independent vec4 FMA chains for `iters` iterations
//   in registers and writes one float (arithmetic rate). CHAINS is an override so the bench
//   can compare how many independent chains the adapter needs to fill its FMA pipelines
//   (on lavapipe 8 chains beat 2 and 4 despite x86's 16 vector registers).
//
// Shapes: src, dst: [n4] vec4 (a flat f32 buffer of 4 n4 floats, padded); out: [n].
// Bindings: 0 params, 1 src, 2 dst, 3 out.

override WG: u32 = 64u;
override CHAINS: u32 = 8u; // 1..8 independent vec4 accumulators per invocation
override PER: u32 = 1u;    // copy_vec4: vec4s per invocation

struct Params {
    n: u32,     // copy_vec4: vec4 count; fma_peak: invocation count (= out length)
    iters: u32, // fma_peak: iterations of every chain
    a: f32,     // fma_peak: acc = fma(acc, a, b); |a| < 1 keeps values bounded
    b: f32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Linear invocation index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Workgroup w copies vec4s [w WG PER, (w + 1) WG PER): invocation lid takes every WG-th one,
// so each pass of the loop touches one contiguous run of WG vec4s.
@compute @workgroup_size(WG)
fn copy_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let base = (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG * PER + lid;
    for (var k = 0u; k < PER; k++) {
        let i = base + k * WG;
        if i < prm.n { dst[i] = src[i]; }
    }
}

// Chain k, component j starts at (i mod 1024) / 1024 + (4 k + j) / 32 and iterates
// acc = fma(acc, a, b); the result is the sum of all 4 * CHAINS lanes. Loops over k run to the
// override constant CHAINS, so once the pipeline is specialised they unroll completely and the
// accumulators live in registers; the iteration loop is unrolled by UNROLL to amortise its
// branch (and, on lavapipe, its execution-mask bookkeeping) over many FMAs.
const UNROLL: u32 = 4u;

fn fma_chains(acc: ptr<function, array<vec4<f32>, 8>>, va: vec4<f32>, vb: vec4<f32>) {
    for (var k = 0u; k < CHAINS; k++) {
        (*acc)[k] = fma((*acc)[k], va, vb);
    }
}

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    let base = f32(i & 1023u) / 1024.0;
    var acc: array<vec4<f32>, 8>;
    for (var k = 0u; k < CHAINS; k++) {
        acc[k] = base + (vec4<f32>(0.0, 1.0, 2.0, 3.0) + f32(4u * k)) / 32.0;
    }
    let va = vec4<f32>(prm.a);
    let vb = vec4<f32>(prm.b);
    let full = prm.iters / UNROLL;
    for (var it = 0u; it < full; it++) {
        for (var u = 0u; u < UNROLL; u++) {
            fma_chains(&acc, va, vb);
        }
    }
    for (var it = full * UNROLL; it < prm.iters; it++) {
        fma_chains(&acc, va, vb);
    }
    var s = acc[0];
    for (var k = 1u; k < CHAINS; k++) {
        s += acc[k];
    }
    out[i] = s.x + s.y + s.z + s.w;
}
