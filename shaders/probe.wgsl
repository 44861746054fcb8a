// Probe family: kernels that measure the adapter's ceilings once, so benchmark tables can say
// what share of the achievable memory bandwidth or arithmetic rate a kernel reaches.
// - copy_vec4: dst = src, one vec4 load and store per invocation (memory bandwidth);
// - fma_peak: each invocation runs CHAINS independent vec4 FMA chains for `iters` iterations
//   entirely in registers and writes one float (arithmetic rate). CHAINS is an override so the
//   bench can pick the count that fills the adapter's pipelines without spilling registers
//   (lavapipe maps a vec4 component of 8 invocations onto one 256-bit register; x86 has 16).
//
// Shapes: src, dst: [n4] vec4 (a flat f32 buffer of 4 n4 floats, padded); out: [n].
// Bindings: 0 params, 1 src, 2 dst, 3 out.

override WG: u32 = 64u;
override CHAINS: u32 = 8u; // 1..8 independent vec4 accumulators per invocation

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

@compute @workgroup_size(WG)
fn copy_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    dst[i] = src[i];
}

// Chain k, component j starts at (i mod 1024) / 1024 + (4 k + j) / 32 and iterates
// acc = fma(acc, a, b); the result is the sum of all 4 * CHAINS lanes. The `k < CHAINS` tests
// are on an override constant, so they fold away when the pipeline is specialised.
@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    let base = f32(i & 1023u) / 1024.0;
    let lane = vec4<f32>(0.0, 1.0, 2.0, 3.0) / 32.0;
    var a0 = base + lane;
    var a1 = base + lane + 4.0 / 32.0;
    var a2 = base + lane + 8.0 / 32.0;
    var a3 = base + lane + 12.0 / 32.0;
    var a4 = base + lane + 16.0 / 32.0;
    var a5 = base + lane + 20.0 / 32.0;
    var a6 = base + lane + 24.0 / 32.0;
    var a7 = base + lane + 28.0 / 32.0;
    let va = vec4<f32>(prm.a);
    let vb = vec4<f32>(prm.b);
    for (var it = 0u; it < prm.iters; it++) {
        a0 = fma(a0, va, vb);
        if CHAINS > 1u { a1 = fma(a1, va, vb); }
        if CHAINS > 2u { a2 = fma(a2, va, vb); }
        if CHAINS > 3u { a3 = fma(a3, va, vb); }
        if CHAINS > 4u { a4 = fma(a4, va, vb); }
        if CHAINS > 5u { a5 = fma(a5, va, vb); }
        if CHAINS > 6u { a6 = fma(a6, va, vb); }
        if CHAINS > 7u { a7 = fma(a7, va, vb); }
    }
    var s = a0;
    if CHAINS > 1u { s += a1; }
    if CHAINS > 2u { s += a2; }
    if CHAINS > 3u { s += a3; }
    if CHAINS > 4u { s += a4; }
    if CHAINS > 5u { s += a5; }
    if CHAINS > 6u { s += a6; }
    if CHAINS > 7u { s += a7; }
    out[i] = s.x + s.y + s.z + s.w;
}
