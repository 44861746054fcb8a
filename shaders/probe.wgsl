// Probe family: kernels that measure the adapter's ceilings once, so benchmark tables can say
// what share of the achievable memory bandwidth or arithmetic rate a kernel reaches.
// - copy_vec4: dst = src with vec4 loads and stores, PER per invocation (memory bandwidth);
// - fma_peak: each invocation runs CHAINS independent vec4 FMA chains for `iters` steps in
//   registers and writes one float (arithmetic rate). CHAINS is an override so the bench can
//   show how many independent chains the adapter needs to fill its arithmetic pipelines.
//
// Shapes: src, dst: [n4] vec4 (a flat f32 buffer of 4 n4 floats, padded); out: [n].
// Bindings: 0 params, 1 src, 2 dst, 3 out.

override WG: u32 = 64u;
override CHAINS: u32 = 4u; // 1..8 independent vec4 accumulators per invocation
override PER: u32 = 1u;    // copy_vec4: vec4s per invocation

struct Params {
    n: u32,     // copy_vec4: vec4 count; fma_peak: invocation count (= out length)
    iters: u32, // fma_peak: FMA steps of every chain
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
// On lavapipe this reaches only ~55% of the driver's copy: every lane's load and store is a
// scalar access per component behind a bounds check, so vec4 (4 components per lane access)
// and PER > 1 help, but no layout tried closes the gap (BENCHMARKS.md lists them).
@compute @workgroup_size(WG)
fn copy_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let base = (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG * PER + lid;
    for (var k = 0u; k < PER; k++) {
        let i = base + k * WG;
        if i < prm.n { dst[i] = src[i]; }
    }
}

// fma_peak: chain k, component j starts at (i mod 1024) / 1024 + (4 k + j) / 32 and iterates
// acc = fma(acc, a, b) `iters` times; the invocation writes the sum of its 4 * CHAINS lanes.
// How this reaches the FMA rate on lavapipe (each invocation is one lane of an 8-wide AVX2
// group, so one vec4 chain occupies 4 ymm registers), measured with the generated x86 code:
// - Accumulators are separate variables c0..c7, not an array: a function-local array indexed
//   in a loop stayed in memory and ran at half the rate (and a quarter with 6+ chains).
// - The body is straight-line `let`s (fma16): every assignment to a variable inside a loop is
//   a store under the loop's execution mask (a blend), so the chains are updated once per 16
//   FMAs rather than after each one; the loop's own mask bookkeeping is amortised likewise.
// - 4 chains (16 ymm accumulators) is the sweet spot: 2 leave the adders idle, 8 spill.
// - Out-of-range invocations compute too and only skip the store: an early return would put
//   the whole loop under a divergent mask.
// Note that lavapipe (Mesa 22.3, LLVM 15) lowers fma() to a multiply and an add, so the rate
// measured here is that of fma() as WGSL kernels get it, not the CPU's fused-FMA peak.
// Trip counts stay far below lavapipe's 65,535 loop iterations per invocation (see the twin).
const STEPS: u32 = 16u; // FMAs per chain per iteration of the main loop

fn fma4(x0: vec4<f32>, a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    let x1 = fma(x0, a, b);
    let x2 = fma(x1, a, b);
    let x3 = fma(x2, a, b);
    return fma(x3, a, b);
}

fn fma16(x: vec4<f32>, a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return fma4(fma4(fma4(fma4(x, a, b), a, b), a, b), a, b);
}

fn chain_start(base: f32, k: u32) -> vec4<f32> {
    return base + (vec4<f32>(0.0, 1.0, 2.0, 3.0) + f32(4u * k)) / 32.0;
}

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    let base = f32(i & 1023u) / 1024.0;
    let va = vec4<f32>(prm.a);
    let vb = vec4<f32>(prm.b);
    var c0 = chain_start(base, 0u);
    var c1 = chain_start(base, 1u);
    var c2 = chain_start(base, 2u);
    var c3 = chain_start(base, 3u);
    var c4 = chain_start(base, 4u);
    var c5 = chain_start(base, 5u);
    var c6 = chain_start(base, 6u);
    var c7 = chain_start(base, 7u);
    // CHAINS is a pipeline constant, so the compiler drops the chains it excludes.
    let full = prm.iters / STEPS;
    for (var it = 0u; it < full; it++) {
        c0 = fma16(c0, va, vb);
        if CHAINS > 1u { c1 = fma16(c1, va, vb); }
        if CHAINS > 2u { c2 = fma16(c2, va, vb); }
        if CHAINS > 3u { c3 = fma16(c3, va, vb); }
        if CHAINS > 4u { c4 = fma16(c4, va, vb); }
        if CHAINS > 5u { c5 = fma16(c5, va, vb); }
        if CHAINS > 6u { c6 = fma16(c6, va, vb); }
        if CHAINS > 7u { c7 = fma16(c7, va, vb); }
    }
    // The last iters mod 16 steps one at a time; chains past CHAINS are never summed, so the
    // compiler removes them here too.
    for (var it = full * STEPS; it < prm.iters; it++) {
        c0 = fma(c0, va, vb);
        c1 = fma(c1, va, vb);
        c2 = fma(c2, va, vb);
        c3 = fma(c3, va, vb);
        c4 = fma(c4, va, vb);
        c5 = fma(c5, va, vb);
        c6 = fma(c6, va, vb);
        c7 = fma(c7, va, vb);
    }
    var s = c0;
    if CHAINS > 1u { s += c1; }
    if CHAINS > 2u { s += c2; }
    if CHAINS > 3u { s += c3; }
    if CHAINS > 4u { s += c4; }
    if CHAINS > 5u { s += c5; }
    if CHAINS > 6u { s += c6; }
    if CHAINS > 7u { s += c7; }
    if i < prm.n { out[i] = s.x + s.y + s.z + s.w; }
}
