// Layout family: moves values between tensors for the models' plumbing. Concatenation along
// features and its backward (split); broadcasting a vector over spatial positions and its
// backward (a sum over H*W); concatenating a feature map with a broadcast vector along channels
// (Deep InfoMax's local discriminator input) and its backward. One thread per output element,
// except the spatial sums: one thread per summed value, in a fixed order (deterministic).
//
// Shapes (row-major, 4-D tensors NCHW, HW = H*W):
//   concat_features:           a [B, Fa], b [B, Fb]        -> y [B, Fa+Fb]
//   split_features:            dy [B, Fa+Fb]               -> da [B, Fa], db [B, Fb]
//   broadcast_spatial:         z [N, D]                    -> y [N, D, H, W]
//   broadcast_spatial_backward dy [N, D, H, W]             -> dz [N, D]
//   concat_map_vec:            m [N, C, H, W], v [N, D]    -> y [N, C+D, H, W]
//   concat_map_vec_backward:   dy [N, C+D, H, W]           -> dm [N, C, H, W], dv [N, D]
// Params: rows = B or N; fa = Fa, D (broadcast) or C; fb = Fb or D; hw = H*W.
// Bindings (one role per number; each entry point binds only the ones it uses):
//   1 a   read        first input (a, z, m) or the upstream gradient dy
//   2 b   read        second input (b, v)
//   3 y   read_write  output, or the first gradient (da, dz, dm)
//   4 y2  read_write  the second gradient (db, dv)
// Backward outputs follow the accumulate convention: out = select(0, beta*old, beta != 0) + new,
// so a garbage (even NaN) old value is ignored when beta = 0.

override WG: u32 = 64u;

struct Params {
    n: u32,      // threads doing work (elements, or elements + sums)
    rows: u32,
    fa: u32,
    fb: u32,
    hw: u32,
    beta: f32,   // 0 or 1: accumulate into y
    beta2: f32,  // 0 or 1: accumulate into y2
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> y2: array<f32>;

// Linear thread index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

fn acc(beta: f32, old: f32, fresh: f32) -> f32 {
    return select(0.0, beta * old, beta != 0.0) + fresh;
}

// Sum of `count` contiguous values of a starting at `base`, in index order.
fn sum_run(base: u32, count: u32) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < count; k++) {
        s += a[base + k];
    }
    return s;
}

// y[r, c] = a[r, c] for c < Fa, b[r, c - Fa] after.
@compute @workgroup_size(WG)
fn concat_features(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let f = p.fa + p.fb;
    let r = i / f;
    let c = i - r * f;
    if c < p.fa {
        y[i] = a[r * p.fa + c];
    } else {
        y[i] = b[r * p.fb + c - p.fa];
    }
}

// da = dy[:, :Fa], db = dy[:, Fa:] (a = dy here).
@compute @workgroup_size(WG)
fn split_features(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let f = p.fa + p.fb;
    let r = i / f;
    let c = i - r * f;
    if c < p.fa {
        let j = r * p.fa + c;
        y[j] = acc(p.beta, y[j], a[i]);
    } else {
        let j = r * p.fb + c - p.fa;
        y2[j] = acc(p.beta2, y2[j], a[i]);
    }
}

// y[n, d, h, w] = z[n, d] (a = z): each z value repeated over HW contiguous positions.
@compute @workgroup_size(WG)
fn broadcast_spatial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = a[i / p.hw];
}

// dz[n, d] = sum over h, w of dy[n, d, h, w] (a = dy): one thread per (n, d).
@compute @workgroup_size(WG)
fn broadcast_spatial_backward(@builtin(workgroup_id) wg: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
    let j = linear_index(wg, nwg, lid);
    if j >= p.n { return; }
    y[j] = acc(p.beta, y[j], sum_run(j * p.hw, p.hw));
}

// y[n, ch, h, w] = m[n, ch, h, w] for ch < C, v[n, ch - C] after (a = m, b = v).
@compute @workgroup_size(WG)
fn concat_map_vec(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let q = i / p.hw;            // n * (C + D) + ch
    let k = i - q * p.hw;        // h * W + w
    let cd = p.fa + p.fb;
    let nn = q / cd;
    let ch = q - nn * cd;
    if ch < p.fa {
        y[i] = a[(nn * p.fa + ch) * p.hw + k];
    } else {
        y[i] = b[nn * p.fb + ch - p.fa];
    }
}

// a = dy. Threads [0, N*C*HW) copy dm[n, ch, h, w] = dy[n, ch, h, w]; the N*D threads after
// them sum dv[n, d] = sum over h, w of dy[n, C + d, h, w]. One dispatch for both gradients.
@compute @workgroup_size(WG)
fn concat_map_vec_backward(@builtin(workgroup_id) wg: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let cd = p.fa + p.fb;
    let n_map = p.rows * p.fa * p.hw;
    if i < n_map {
        let q = i / p.hw;        // n * C + ch
        let k = i - q * p.hw;
        let nn = q / p.fa;
        let ch = q - nn * p.fa;
        y[i] = acc(p.beta, y[i], a[(nn * cd + ch) * p.hw + k]);
    } else {
        let j = i - n_map;       // n * D + d
        let nn = j / p.fb;
        let d = j - nn * p.fb;
        y2[j] = acc(p.beta2, y2[j], sum_run((nn * cd + p.fa + d) * p.hw, p.hw));
    }
}
