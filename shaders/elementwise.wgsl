// Elementwise family: y = f(x) over n elements, and its backward dx = dy * f'(x).
// The op is a pipeline-override constant OP, so each op is its own specialised pipeline
// (selected by the Rust twin's `Unary` enum) while this file stays valid, plain WGSL.
//
// Shapes: x, y, dy, dx: [n] (any tensor, flattened).
// Bindings: 0 params, 1 x, 2 y (forward output / backward: forward output, for ops whose
// derivative is cheaper from y), 3 dy, 4 dx.

override WG: u32 = 64u;
override OP: u32 = 0u;

const OP_RELU: u32 = 0u;

struct Params {
    n: u32,
    alpha: f32, // op argument: leaky slope, scale factor, ...
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Linear element index from a grid folded over x, y, z (see Gpu::grid).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

fn forward_op(v: f32) -> f32 {
    switch OP {
        case OP_RELU: { return max(v, 0.0); }
        default: { return v; }
    }
}

@compute @workgroup_size(WG)
fn unary_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.n { return; }
    y[i] = forward_op(x[i]);
}
