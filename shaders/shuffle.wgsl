// Shuffle family: row gathers y[i, :] = x[perm[i], :] and their backward (a scatter through the
// same permutation), plus a random permutation (or derangement) of 0..B made on the GPU from
// (seed, step). Prepended by philox.wgsl (philox4x32_10).
//
// Shapes: B = rows, F = features; x, y, dy, dx: [B, F]; perm: [B] u32; keys: [2B] u32 scratch.
// Bindings: 0 params, 1 perm, 2 keys, 3 x, 4 y, 5 dy, 6 dx.
//
// Permutation (deterministic, independent of dispatch shape): row i gets the 64-bit sort key
// philox4x32_10(counter = (i, step lo, step hi, SHUFFLE_TAG), key = seed) words (0, 1); rows are
// ordered by (key, index), so ties (p ~ B^2 / 2^65) still give a total order.
//   uniform:     perm[i] = rank of i in that order: a uniformly random permutation.
//   derangement: perm[i] = the row after i in that order, the last wrapping to the first: a
//                uniformly random B-cycle (the distribution Sattolo's algorithm samples), so
//                perm[i] != i for B >= 2. Deep InfoMax pairs x[i] with x[perm[i]] as a negative.
// Ranking is O(B) per row (O(B^2) total) from precomputed keys: pass 1 perm_keys, pass 2
// perm_rank.

override WG: u32 = 64u;

// Counter word 3 of every shuffle draw; random.wgsl's samples use 0 there, so the two never
// share a Philox block even with equal seeds.
const SHUFFLE_TAG: u32 = 0x53687566u;

struct Params {
    b: u32,       // B
    f: u32,       // F
    seed_lo: u32,
    seed_hi: u32,
    step_lo: u32,
    step_hi: u32,
    derange: u32, // perm_rank: 0 = uniform permutation, 1 = random B-cycle
    beta: f32,    // backward: 0 = write dx, 1 = add to it
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> perm: array<u32>;
@group(0) @binding(2) var<storage, read_write> keys: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
}

// Sort key of row i, as keys[2i] (high word) and keys[2i + 1] (low word).
@compute @workgroup_size(WG)
fn perm_keys(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.b { return; }
    let w = philox4x32_10(vec4<u32>(i, p.step_lo, p.step_hi, SHUFFLE_TAG),
                          vec2<u32>(p.seed_lo, p.seed_hi));
    keys[2u * i] = w.x;
    keys[2u * i + 1u] = w.y;
}

// (key a, row ia) comes before (key b, row ib): keys compared as 64-bit (high word first),
// ties by row index.
fn precedes(a: vec2<u32>, ia: u32, b: vec2<u32>, ib: u32) -> bool {
    if a.x != b.x { return a.x < b.x; }
    if a.y != b.y { return a.y < b.y; }
    return ia < ib;
}

// perm[i] = rank of row i (uniform) or the row after i, cyclically (derangement). Every row
// scans all keys in index order: no atomics, no workgroup memory, the same answer for any WG.
@compute @workgroup_size(WG)
fn perm_rank(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid);
    if i >= p.b { return; }
    let own = vec2<u32>(keys[2u * i], keys[2u * i + 1u]);
    var rank = 0u;
    // Smallest row after i (the successor) and smallest row overall (the wrap-around).
    var next = i;
    var next_key = own;
    var first = i;
    var first_key = own;
    for (var j = 0u; j < p.b; j++) {
        let kj = vec2<u32>(keys[2u * j], keys[2u * j + 1u]);
        if precedes(kj, j, own, i) {
            rank += 1u;
        } else if j != i && (next == i || precedes(kj, j, next_key, next)) {
            next = j;
            next_key = kj;
        }
        if precedes(kj, j, first_key, first) {
            first = j;
            first_key = kj;
        }
    }
    if p.derange == 0u {
        perm[i] = rank;
    } else {
        perm[i] = select(next, first, next == i);
    }
}

// y[i, c] = x[perm[i], c]. An index outside 0..B (a bad host permutation) gives NaN, so the
// mistake reaches the loss instead of silently reading another row.
@compute @workgroup_size(WG)
fn gather_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let k = linear_index(wg, nwg, lid);
    if k >= p.b * p.f { return; }
    let row = k / p.f;
    let src = perm[row];
    if src >= p.b {
        y[k] = bitcast<f32>(0x7fc00000u);
        return;
    }
    y[k] = x[src * p.f + (k - row * p.f)];
}

// Backward of the gather: dx[perm[i], c] = dy[i, c] (write, or add with beta = 1). perm is a
// permutation, so each dx element has exactly one writer: a deterministic scatter without
// atomics. Out-of-range indices are skipped (their rows' gradient is lost, not misplaced).
@compute @workgroup_size(WG)
fn gather_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let k = linear_index(wg, nwg, lid);
    if k >= p.b * p.f { return; }
    let row = k / p.f;
    let dst = perm[row];
    if dst >= p.b { return; }
    let o = dst * p.f + (k - row * p.f);
    dx[o] = select(0.0, p.beta * dx[o], p.beta != 0.0) + dy[k];
}
