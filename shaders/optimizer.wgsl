// Optimizer family: one dispatch updates every parameter of a model. The graph keeps all
// parameters in one flat buffer, their gradients in another of the same length, and the
// optimizer state (Adam's moments, SGD's momentum buffer) in further parallel flat buffers.
// Arithmetic follows PyTorch's single-tensor (non-foreach, non-amsgrad) torch.optim code; the
// per-step scalars (bias corrections, decay factor) are computed on the host in f64 and
// uploaded as f32, as PyTorch passes Python floats into f32 kernels.
//
// Shapes: p (parameters), g (gradients), m, v (Adam's first and second moments; SGD keeps its
// momentum buffer in m): all [n]. ema_update: shadow (bound as p), parameters (bound as g).
// Bindings: 0 params, 1 p, 2 g, 3 m, 4 v.

override WG: u32 = 64u;

struct Params {
    n: u32,
    lr: f32,        // SGD/Adam learning rate; ema_update: 1 - decay
    beta1: f32,
    one_minus_beta1: f32, // 1 - beta1 rounded once from f64 (PyTorch's lerp weight)
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    l2: f32,        // weight decay folded into the gradient (Adam, SGD): g += l2 * p
    decay: f32,     // decoupled weight decay (AdamW): p *= decay = 1 - lr * wd; 1 otherwise
    step_size: f32, // Adam: lr / (1 - beta1^t)
    bc2_sqrt: f32,  // Adam: sqrt(1 - beta2^t)
    momentum: f32,  // SGD
    nesterov: u32,  // SGD: 1 = Nesterov momentum
    first: u32,     // SGD: 1 on the first step, when PyTorch sets the momentum buffer to d_p
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

// Linear element index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Adam (l2 = wd, decay = 1) and AdamW (l2 = 0, decay = 1 - lr * wd):
//   g' = g + l2 p;  p *= decay
//   m = lerp(m, g', 1 - b1);  v = b2 v + (1 - b2) g'^2
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
@compute @workgroup_size(WG)
fn adam_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    let p0 = p[i];
    let gi = g[i] + prm.l2 * p0;
    let pd = p0 * prm.decay;
    // PyTorch: exp_avg.lerp_(grad, 1 - beta1), i.e. m + w (g - m) for a weight below 0.5.
    let mi = m[i] + prm.one_minus_beta1 * (gi - m[i]);
    // PyTorch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2).
    let vi = v[i] * prm.beta2 + prm.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let denom = sqrt(vi) / prm.bc2_sqrt + prm.eps;
    p[i] = pd - prm.step_size * (mi / denom);
}

// SGD without momentum: p -= lr (g + l2 p).
@compute @workgroup_size(WG)
fn sgd_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    let p0 = p[i];
    p[i] = p0 - prm.lr * (g[i] + prm.l2 * p0);
}

// SGD with momentum (dampening 0), PyTorch semantics:
//   d = g + l2 p;  buf = d on the first step, else momentum buf + d
//   d = d + momentum buf (Nesterov) or d = buf;  p -= lr d
// The first step ignores the old buffer, so it need not be zeroed (garbage or NaN is fine).
@compute @workgroup_size(WG)
fn sgd_momentum_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    let p0 = p[i];
    let d = g[i] + prm.l2 * p0;
    var b = d;
    if prm.first == 0u { b = prm.momentum * m[i] + d; }
    m[i] = b;
    let step = select(b, d + prm.momentum * b, prm.nesterov != 0u);
    p[i] = p0 - prm.lr * step;
}

// Exponential moving average of the parameters (Polyak averaging), in the form of
// tf.train.ExponentialMovingAverage without num_updates: shadow -= (1 - decay) (shadow - p).
// The shadow starts as a copy of the initial parameters; this runs after the optimizer step.
// Bindings here: the shadow is bound at 1 (`p`, the writable slot) and the parameters at 2
// (`g`, read-only), so the parameters cannot be written by mistake.
@compute @workgroup_size(WG)
fn ema_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= prm.n { return; }
    p[i] = p[i] - prm.lr * (p[i] - g[i]);
}
