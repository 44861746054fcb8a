// Elementwise family: unary ops y = f(x) and their backward dx = dy * f'(.), binary ops
// y = a op b and their backward, a broadcast row bias, axpy and fill.
// The op is a pipeline-override constant OP, so each op is its own specialised pipeline
// (selected by the Rust twin's `Unary` / `Binary` enums) with no text substitution.
// One file for two storage types: the buffers hold `Elem`, f32 or f16 by the prelude
// (shaders/storage_f32.wgsl or storage_f16.wgsl, families Elementwise / ElementwiseF16). The
// math is always f32: loads widen with f32(.), stores round once with Elem(.) (identities on
// f32 storage).
//
// Shapes: every buffer is [n] (any tensor, flattened), except add_row_bias: x, y [B, F] with
// n = B*F and bias [F] (cols = F).
// Bindings (one role per number; each entry point binds only the ones it uses):
//   1 x   read        unary input; a backward's saved tensor (x or y, see Unary::saved); binary a
//   2 b   read        binary b; the row bias
//   3 dy  read        upstream gradient
//   4 y   read_write  forward output; dx or da of a backward; axpy / fill target
//   5 db  read_write  binary backward db
// Backward outputs follow the accumulate convention: out = select(0, beta*old, beta != 0) + new,
// so a garbage (even NaN) old value is ignored when beta = 0.

override WG: u32 = 64u;
override OP: u32 = 0u;

// Unary ops (Rust: Unary::code).
const OP_RELU: u32 = 0u;
const OP_LEAKY_RELU: u32 = 1u;
const OP_SIGMOID: u32 = 2u;
const OP_TANH: u32 = 3u;
const OP_SOFTPLUS: u32 = 4u;
const OP_EXP: u32 = 5u;
const OP_LOG: u32 = 6u;
const OP_SQUARE: u32 = 7u;
const OP_SCALE: u32 = 8u;
const OP_ADD_SCALAR: u32 = 9u;
const OP_SQRT: u32 = 10u;
// Binary ops (Rust: Binary::code).
const OP_ADD: u32 = 0u;
const OP_SUB: u32 = 1u;
const OP_MUL: u32 = 2u;

struct Params {
    n: u32,
    cols: u32,   // add_row_bias: F
    alpha: f32,  // op argument: leaky slope, scale factor, axpy factor, fill value
    beta: f32,   // 0 or 1: accumulate into y (dx / da)
    beta2: f32,  // 0 or 1: accumulate into db
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read> b: array<Elem>;
@group(0) @binding(3) var<storage, read> dy: array<Elem>;
@group(0) @binding(4) var<storage, read_write> y: array<Elem>;
@group(0) @binding(5) var<storage, read_write> db: array<Elem>;

// Linear element index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// The accumulate convention (see the header).
fn acc(beta: f32, old: f32, fresh: f32) -> f32 {
    return select(0.0, beta * old, beta != 0.0) + fresh;
}

// 1 / (1 + exp(-v)) without overflow: exp only ever sees -|v| <= 0.
fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    let r = 1.0 / (1.0 + e);
    return select(e * r, r, v >= 0.0);
}

// log(1 + u) for u in [-1/2, 1], accurate to a few ulps also for tiny |u| (WGSL has no log1p):
// log1p(u) = 2 atanh(s), s = u / (2 + u) in [-1/3, 1/3], and 2 atanh(s) = 2 s (1 + t/3 + t^2/5
// + ...), t = s^2 <= 1/9; the terms after t^8/17 are below f32 resolution.
fn log1p_small(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let t = s * s;
    let q = 1.0 + t * (1.0 / 3.0 + t * (1.0 / 5.0 + t * (1.0 / 7.0 + t * (1.0 / 9.0
        + t * (1.0 / 11.0 + t * (1.0 / 13.0 + t * (1.0 / 15.0 + t * (1.0 / 17.0))))))));
    return 2.0 * s * q;
}

// tanh to f32 accuracy. The builtin is not enough: lavapipe's tanh is off by ~2e-4 relative
// near 0 (it cancels in (e^2x - 1) / (e^2x + 1)). Below |v| = 0.55 the Taylor series
// v - v^3/3 + 2v^5/15 - ... through v^17 (next term < 1e-8 relative); above, 1 - e with
// e = exp(-2|v|) <= 1/3 cancels at most one bit, and e -> 0 saturates cleanly at +-1.
fn tanh_accurate(v: f32) -> f32 {
    let a = abs(v);
    if a < 0.55 {
        let t = v * v;
        return v * (1.0 + t * (-1.0 / 3.0 + t * (2.0 / 15.0 + t * (-17.0 / 315.0
            + t * (62.0 / 2835.0 + t * (-1382.0 / 155925.0 + t * (21844.0 / 6081075.0
            + t * (-929569.0 / 638512875.0 + t * (6404582.0 / 10854718875.0)))))))));
    }
    let e = exp(-2.0 * a);
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// Natural log with relative accuracy also near v = 1. lavapipe's log is good to ~1e-7
// absolute, which is a large relative error where log(v) -> 0; on [1/2, 2] v - 1 is exact
// (Sterbenz) and log1p_small keeps full relative precision.
fn log_accurate(v: f32) -> f32 {
    if v >= 0.5 && v <= 2.0 {
        return log1p_small(v - 1.0);
    }
    return log(v);
}

fn forward_op(v: f32) -> f32 {
    switch OP {
        case OP_RELU: { return max(v, 0.0); }
        case OP_LEAKY_RELU: { return select(p.alpha * v, v, v > 0.0); }
        case OP_SIGMOID: { return sigmoid(v); }
        case OP_TANH: { return tanh_accurate(v); }
        // softplus(v) = max(v, 0) + log1p(exp(-|v|)): no overflow for large v, no underflow to
        // log(1) = 0 for very negative v.
        case OP_SOFTPLUS: { return max(v, 0.0) + log1p_small(exp(-abs(v))); }
        case OP_EXP: { return exp(v); }
        case OP_LOG: { return log_accurate(v); }
        case OP_SQUARE: { return v * v; }
        case OP_SCALE: { return p.alpha * v; }
        case OP_ADD_SCALAR: { return v + p.alpha; }
        case OP_SQRT: { return sqrt(v); }
        default: { return v; }
    }
}

// f'(.) from the saved tensor s (x or y, whichever Unary::saved names). tanh' is factored as
// (1 - y)(1 + y): exact differences near |y| = 1, where 1 - y*y would cancel.
fn derivative(s: f32) -> f32 {
    switch OP {
        case OP_RELU: { return select(0.0, 1.0, s > 0.0); }           // s = x: d/dx = [x > 0]
        case OP_LEAKY_RELU: { return select(p.alpha, 1.0, s > 0.0); } // s = x: 1 or alpha
        case OP_SIGMOID: { return s * (1.0 - s); }                    // s = y: y (1 - y)
        case OP_TANH: { return (1.0 - s) * (1.0 + s); }               // s = y: 1 - y^2
        case OP_SOFTPLUS: { return sigmoid(s); }                      // s = x: sigmoid(x)
        case OP_EXP: { return s; }                                    // s = y: exp(x) = y
        case OP_LOG: { return 1.0 / s; }                              // s = x: 1 / x
        case OP_SQUARE: { return 2.0 * s; }                           // s = x: 2 x
        case OP_SCALE: { return p.alpha; }                            // alpha (s unused)
        case OP_ADD_SCALAR: { return 1.0; }                           // (x + c)' = 1
        case OP_SQRT: { return 0.5 / s; }                             // s = y: 1 / (2 sqrt(x))
        default: { return 1.0; }
    }
}

fn binary_op(u: f32, v: f32) -> f32 {
    switch OP {
        case OP_ADD: { return u + v; }
        case OP_SUB: { return u - v; }
        case OP_MUL: { return u * v; }
        default: { return u; }
    }
}

@compute @workgroup_size(WG)
fn unary_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(forward_op(f32(x[i])));
}

// x = saved tensor, y = dx.
@compute @workgroup_size(WG)
fn unary_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(acc(p.beta, f32(y[i]), f32(dy[i]) * derivative(f32(x[i]))));
}

@compute @workgroup_size(WG)
fn binary_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(binary_op(f32(x[i]), f32(b[i])));
}

// add: da = dy, db = dy; sub: da = dy, db = -dy. Reads neither a nor b.
@compute @workgroup_size(WG)
fn binary_backward_linear(@builtin(workgroup_id) wg: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = f32(dy[i]);
    y[i] = Elem(acc(p.beta, f32(y[i]), g));
    db[i] = Elem(acc(p.beta2, f32(db[i]), select(g, -g, OP == OP_SUB)));
}

// mul: da = dy * b, db = dy * a.
@compute @workgroup_size(WG)
fn binary_backward_mul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    let g = f32(dy[i]);
    y[i] = Elem(acc(p.beta, f32(y[i]), g * f32(b[i])));
    db[i] = Elem(acc(p.beta2, f32(db[i]), g * f32(x[i])));
}

// y[r, c] = x[r, c] + bias[c]. Its backward dbias (a column sum) lives in the reduce family;
// dx = dy needs no kernel.
@compute @workgroup_size(WG)
fn add_row_bias(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(f32(x[i]) + f32(b[i % p.cols]));
}

// y = y + alpha * x (gradient accumulation, SGD-style updates).
@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(fma(p.alpha, f32(x[i]), f32(y[i])));
}

// y = alpha.
@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = Elem(p.alpha);
}
