// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel Random Numbers: As Easy as 1, 2, 3",
// SC11), the counter-based generator every random kernel draws from. A prelude of functions
// only: Family::source() prepends it to random.wgsl and shuffle.wgsl, so it declares no
// bindings, entry points or module-scope names other than the philox_* / u64_* functions.
//
// A draw is a pure function of (counter: 4 x u32, key: 2 x u32), so a sample depends only on
// what the caller puts in the counter (element index, step, stream) and never on which
// invocation computes it: results are independent of workgroup size and grid shape.
// The Rust twin is kernels::random::cpu::philox4x32_10 (bitwise equal; tested against the
// Random123 known-answer vectors).
//
// 64-bit integers are vec2<u32>(lo, hi): WGSL has no u64.

// Full 64-bit product of two u32 as vec2(hi, lo). WGSL has no 32x32->64 multiply, so the high
// word is assembled from 16-bit halves: a*b = p11*2^32 + (p01 + p10)*2^16 + p00, where every
// partial product fits in u32 and the middle sum (at most 3 * 0xffff) cannot overflow.
// The low word is the ordinary (wrapping) u32 product.
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

// One Philox S-box round: two multiplies by the Philox constants M0 = 0xD2511F53 (on word 0)
// and M1 = 0xCD9E8D57 (on word 2), then a Feistel-style swap with the round key xor-ed in.
fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = philox_mulhilo(0xD2511F53u, c.x);
    let p1 = philox_mulhilo(0xCD9E8D57u, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

// Philox4x32 with 10 rounds; the key is bumped by the Weyl constants (golden ratio
// 0x9E3779B9, sqrt(3)-1 0xBB67AE85) between rounds, wrapping mod 2^32.
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    let weyl = vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    c = philox_round(c, k);
    for (var r = 1u; r < 10u; r++) {
        k = k + weyl;
        c = philox_round(c, k);
    }
    return c;
}

// a + b for a 64-bit a = (lo, hi) and a u32 b, with the carry into the high word.
fn u64_add_u32(a: vec2<u32>, b: u32) -> vec2<u32> {
    let lo = a.x + b;
    return vec2<u32>(lo, a.y + select(0u, 1u, lo < b));
}
