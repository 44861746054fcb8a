// Random family: counter-based samples (uniform, normal) and the Gaussian latent head built on
// them: reparameterisation z = mu + sigma * eps, KL(N(mu, sigma^2) || N(0, I)) per row, their
// backward passes, and a fused forward that computes z and KL in one pass (optionally drawing
// eps itself). Prepended by philox.wgsl (philox4x32_10, u64_add_u32).
//
// Shapes: B = rows (batch), D = latent dimension; mu, s, eps, z, dz, dmu, ds: [B, D];
// kl, dkl: [B]. `s` is the scale parameter: logvar (SCALE_LOGVAR, sigma = exp(s / 2)) or sigma
// itself (SCALE_SIGMA, as VIB's sigma = softplus(rho - 5)). A fill writes eps: [n].
//
// Sample addressing (what makes results independent of dispatch shape): element e of a stream
// (e = offset + flat index, 64-bit) is lane e % 4 of the Philox block with
// counter = (e / 4 as lo, hi, stream, 0) and key = (seed lo, seed hi). A fill at offset o of n
// elements therefore equals the concatenation of fills at o (k elements) and o + k (n - k).
//
// Bindings: 0 params, 1 eps, 2 mu, 3 s, 4 z, 5 kl, 6 dz, 7 dkl, 8 dmu, 9 ds, 10 bits (raw
// Philox words, u32: [n]).

override WG: u32 = 64u;
override SCALE: u32 = 0u;
// reparam_kl_forward: draw eps from (seed, offset, stream) and write it out, instead of reading.
override DRAW: bool = false;

const SCALE_LOGVAR: u32 = 0u;
const SCALE_SIGMA: u32 = 1u;

struct Params {
    n: u32,       // fills: elements; elementwise kernels: B * D; row kernels: B
    d: u32,       // D (row length)
    seed_lo: u32,
    seed_hi: u32,
    off_lo: u32,  // element offset of eps[0] in the stream (64-bit)
    off_hi: u32,
    stream: u32,  // distinguishes tensors drawn with the same seed and offset
    beta: f32,    // backward: 0 = write the gradient, 1 = add it to what is there
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> eps: array<f32>;
@group(0) @binding(2) var<storage, read> mu: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> kl: array<f32>;
@group(0) @binding(6) var<storage, read> dz: array<f32>;
@group(0) @binding(7) var<storage, read> dkl: array<f32>;
@group(0) @binding(8) var<storage, read_write> dmu: array<f32>;
@group(0) @binding(9) var<storage, read_write> ds: array<f32>;
@group(0) @binding(10) var<storage, read_write> bits: array<u32>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// ---- samples ---------------------------------------------------------------------------------

// The Philox block holding stream element g * 4 .. g * 4 + 3.
fn block(g: vec2<u32>) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(g.x, g.y, p.stream, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
}

// Block index and lane of stream element offset + i.
fn block_of(i: u32) -> vec2<u32> {
    let e = u64_add_u32(vec2<u32>(p.off_lo, p.off_hi), i);
    return vec2<u32>((e.x >> 2u) | (e.y << 30u), e.y >> 2u);
}

// Uniform in [0, 1): the top 24 bits as a float mantissa, k * 2^-24 for k < 2^24. Exact in f32
// and at most 1 - 2^-24, so never 1.0 (rounding a 32-bit value to f32 could give 1.0).
fn uniform01(w: u32) -> f32 {
    return f32(w >> 8u) * 5.9604644775390625e-8;
}

// Uniform in (0, 1]: (k + 1) * 2^-24. Box-Muller takes log of it, which must not see 0.
fn uniform01_open0(w: u32) -> f32 {
    return f32((w >> 8u) + 1u) * 5.9604644775390625e-8;
}

// (cos, sin) of 2 pi u for u = uniform01(w), with the quadrant taken from the top two bits
// exactly, so the angle passed to cos/sin is in [0, pi/2) (smaller argument, smaller error).
fn cos_sin_turn(w: u32) -> vec2<f32> {
    let q = w >> 30u;
    let phi = f32((w >> 8u) & 0x3fffffu) * 2.384185791015625e-7 * 1.5707963267948966;
    let c = cos(phi);
    let sn = sin(phi);
    switch q {
        case 0u: { return vec2<f32>(c, sn); }
        case 1u: { return vec2<f32>(-sn, c); }
        case 2u: { return vec2<f32>(-c, -sn); }
        default: { return vec2<f32>(sn, -c); }
    }
}

// Natural log of a positive normal f32 to a few ulps, relative. The built-in log may be as
// loose as 2^-21 absolute near 1 (Vulkan's bound; lavapipe is close to it), which is all of
// the signal when u ~ 1 in Box-Muller (r ~ 0) or sigma ~ 1 in the KL. Reduce
// x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then ln m = 2 atanh(s), s = (m - 1) / (m + 1),
// |s| <= 0.172, series to s^13 (next term < 1e-10 relative). m - 1 is exact (Sterbenz).
// Zero, negative, subnormal, inf and NaN inputs go to the built-in (-inf, NaN, ..., as it says).
fn ln_(x: f32) -> f32 {
    if !(x >= 1.17549435e-38 && x <= 3.40282347e38) {
        return log(x);
    }
    let bits = bitcast<u32>(x);
    var e = i32((bits >> 23u) & 0xffu) - 127;
    var m = bitcast<f32>((bits & 0x7fffffu) | 0x3f800000u);
    if m > 1.4142135 {
        m = 0.5 * m;
        e += 1;
    }
    let f = m - 1.0;
    let sv = f / (2.0 + f);
    let s2 = sv * sv;
    let poly = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))));
    return f32(e) * 0.6931471805599453 + 2.0 * sv * poly;
}

// Box-Muller: words (a, b) -> two independent N(0, 1): r = sqrt(-2 ln u), u in (0, 1] from a
// (never 0: no log(0)); angle 2 pi v, v in [0, 1) from b.
fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * ln_(uniform01_open0(a)));
    return r * cos_sin_turn(b);
}

fn uniform4(w: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(uniform01(w.x), uniform01(w.y), uniform01(w.z), uniform01(w.w));
}

fn normal4(w: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w));
}

// One invocation per Philox block: invocation t covers fill positions 4t - head .. 4t - head + 3
// where head = offset % 4, and writes those inside [0, n).
fn fill_block(t: u32, v: vec4<f32>) {
    let head = p.off_lo & 3u;
    for (var j = 0u; j < 4u; j++) {
        let k = t * 4u + j;
        if k >= head && k - head < p.n {
            eps[k - head] = v[j];
        }
    }
}

fn fill_blocks() -> u32 {
    return (p.n + (p.off_lo & 3u) + 3u) / 4u;
}

// The raw Philox words of stream elements offset .. offset + n (what the samples are made of;
// also how the tests see the shader's Philox bit for bit).
@compute @workgroup_size(WG)
fn fill_bits(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= fill_blocks() { return; }
    let w = block(u64_add_u32(block_of(0u), t));
    let head = p.off_lo & 3u;
    for (var j = 0u; j < 4u; j++) {
        let k = t * 4u + j;
        if k >= head && k - head < p.n {
            bits[k - head] = w[j];
        }
    }
}

@compute @workgroup_size(WG)
fn fill_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= fill_blocks() { return; }
    let g = u64_add_u32(block_of(0u), t);
    fill_block(t, uniform4(block(g)));
}

@compute @workgroup_size(WG)
fn fill_normal(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_index(wg, nwg, lid);
    if t >= fill_blocks() { return; }
    let g = u64_add_u32(block_of(0u), t);
    fill_block(t, normal4(block(g)));
}

// ---- Gaussian head ---------------------------------------------------------------------------

// e^x - 1, accurate near 0 where exp(x) - 1 cancels (Taylor to x^8 below |x| = 1/4, where the
// next term is < 1e-11 relative).
fn expm1_(x: f32) -> f32 {
    if abs(x) < 0.25 {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
            + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
    }
    return exp(x) - 1.0;
}

// e^x - 1 - x (>= 0), the per-dimension KL term in t = log sigma^2. Near the prior (x ~ 0, the
// collapsed dimensions of a VAE) exp(x) - 1 - x loses every digit, so Taylor from x^2 there.
fn expm1mx(x: f32) -> f32 {
    if abs(x) < 0.25 {
        return x * x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
            + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0
            + x * (1.0 / 362880.0))))))));
    }
    return exp(x) - 1.0 - x;
}

// sigma from the scale parameter.
fn sigma_of(sv: f32) -> f32 {
    if SCALE == SCALE_LOGVAR { return exp(0.5 * sv); }
    return sv;
}

// 2 * KL term of one dimension: mu^2 + sigma^2 - 1 - log sigma^2 = mu^2 + expm1mx(log sigma^2).
// SCALE_SIGMA needs sigma > 0 (softplus output); sigma = 0 gives +inf, caught by the NaN/Inf
// loss check rather than silently clamped.
fn kl_term2(m: f32, sv: f32) -> f32 {
    var t = sv;
    if SCALE == SCALE_SIGMA { t = 2.0 * ln_(sv); }
    return m * m + expm1mx(t);
}

// d(KL term)/d(scale parameter), for KL = 0.5 * sum_d kl_term2:
//   logvar: dKL/dlogvar = (exp(logvar) - 1) / 2
//   sigma:  dKL/dsigma  = sigma - 1 / sigma = (sigma - 1)(sigma + 1) / sigma
// (the factored forms keep their digits near the prior, where they go to 0).
fn kl_dscale(sv: f32) -> f32 {
    if SCALE == SCALE_LOGVAR { return 0.5 * expm1_(sv); }
    return (sv - 1.0) * (sv + 1.0) / sv;
}

// d z / d(scale parameter) for z = mu + sigma * eps:
//   logvar: dz/dlogvar = eps * exp(logvar / 2) / 2   (d/dx exp(x/2) = exp(x/2) / 2)
//   sigma:  dz/dsigma  = eps
fn z_dscale(e: f32, sv: f32) -> f32 {
    if SCALE == SCALE_LOGVAR { return 0.5 * e * exp(0.5 * sv); }
    return e;
}

// Write or accumulate a gradient; a garbage/NaN old value is ignored when writing (beta = 0).
fn acc(old: f32, grad: f32) -> f32 {
    return select(0.0, p.beta * old, p.beta != 0.0) + grad;
}

// z = mu + sigma * eps, elementwise over B * D.
@compute @workgroup_size(WG)
fn reparam_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    z[i] = mu[i] + sigma_of(s[i]) * eps[i];
}

// dmu = dz (dz/dmu = 1); ds = dz * dz/ds (see z_dscale).
@compute @workgroup_size(WG)
fn reparam_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = dz[i];
    dmu[i] = acc(dmu[i], g);
    ds[i] = acc(ds[i], g * z_dscale(eps[i], s[i]));
}

// kl[b] = 0.5 * sum_d (mu^2 + sigma^2 - 1 - log sigma^2), one invocation per row, summed in
// order of d (deterministic).
@compute @workgroup_size(WG)
fn kl_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.n { return; }
    let base = b * p.d;
    var sum = 0.0;
    for (var d = 0u; d < p.d; d++) {
        sum += kl_term2(mu[base + d], s[base + d]);
    }
    kl[b] = 0.5 * sum;
}

// dKL/dmu = mu; dKL/ds = kl_dscale(s); both scaled by dkl[b]. Elementwise over B * D.
@compute @workgroup_size(WG)
fn kl_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = dkl[i / p.d];
    dmu[i] = acc(dmu[i], g * mu[i]);
    ds[i] = acc(ds[i], g * kl_dscale(s[i]));
}

// Fused head: z and kl[b] in one pass over the row (one invocation per row). With DRAW, eps is
// drawn here (the same values fill_normal gives at this offset) and written for the backward.
@compute @workgroup_size(WG)
fn reparam_kl_forward(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let b = linear_index(wg, nwg, lid);
    if b >= p.n { return; }
    let base = b * p.d;
    var g = vec2<u32>(0u, 0u);
    var lane = 0u;
    var blk = vec4<f32>(0.0);
    if DRAW {
        g = block_of(base);
        lane = (p.off_lo + base) & 3u;
        blk = normal4(block(g));
    }
    var sum = 0.0;
    for (var d = 0u; d < p.d; d++) {
        let i = base + d;
        var e: f32;
        if DRAW {
            if lane == 4u {
                g = u64_add_u32(g, 1u);
                blk = normal4(block(g));
                lane = 0u;
            }
            e = blk[lane];
            lane += 1u;
            eps[i] = e;
        } else {
            e = eps[i];
        }
        let m = mu[i];
        let sv = s[i];
        z[i] = m + sigma_of(sv) * e;
        sum += kl_term2(m, sv);
    }
    kl[b] = 0.5 * sum;
}

// Backward of the fused head, loss L(z, kl): dmu = dz + dkl[b] * mu,
// ds = dz * dz/ds + dkl[b] * dKL/ds. Elementwise over B * D.
@compute @workgroup_size(WG)
fn reparam_kl_backward(@builtin(workgroup_id) wg: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = dz[i];
    let gk = dkl[i / p.d];
    let sv = s[i];
    dmu[i] = acc(dmu[i], g + gk * mu[i]);
    ds[i] = acc(ds[i], g * z_dscale(eps[i], sv) + gk * kl_dscale(sv));
}
