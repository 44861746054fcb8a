// Top-k family: for every query, the k largest scores among a set of candidates and their
// candidate indices, best first. k-NN retrieval runs it on blocks of cosine similarities
// (reference codes x query codes) and never reads the similarity matrix back, only the indices.
//
// Shapes: s [cands, queries] row-major: s[c * queries + q] is the score of candidate c for query
// q. Candidate-major, so the lanes of a SIMD group (consecutive queries) read consecutive floats
// at each step of the candidate loop. vals [queries, k] f32 and idx [queries, k] u32: each
// query's running list, best first.
//
// Order: a larger score first; equal scores: the lower candidate index first (the index is
// global: base + c). So the result does not depend on how the candidates are split into blocks
// and dispatches, or in which order those run. NaN scores are never selected. A query with fewer
// than k selectable candidates keeps EMPTY_V / NONE in its unused slots (at the end).
//
// One dispatch scans candidates [c0, c1) of s and merges them into each query's list (merge = 1:
// the list in vals/idx, written by an earlier dispatch; merge = 0: an empty list). The list lives
// in private arrays while the invocation scans; the current k-th entry is kept in registers, and
// the scan reads four candidates per iteration so that a group of four none of which can enter
// costs one compare of their maximum (on lavapipe 2.5-3x faster than one candidate per
// iteration: 60,000 x 280 random scores, k = 5, in ~75 ms instead of ~200 ms on busy cores).
// lavapipe silently ends an invocation's loops after 65,535 iterations in total
// (LP_MAX_TGSI_LOOP_ITERATIONS); one invocation here runs at most 2 k (load and store) plus,
// per candidate, 1/4 (scan) + 1 (the per-candidate loop of a group that may enter) + k (the
// insertion shift) iterations, and the twin splits the candidates into dispatches that keep this
// under half the cap.
//
// No backward: selection has no useful gradient.
// Bindings: 0 params, 1 s (read), 2 vals (read_write), 3 idx (read_write).

override WG: u32 = 64u;

// Largest k (the private lists' length); the twin's KMAX.
const KMAX: u32 = 64u;
const NONE: u32 = 0xffffffffu;
// The value of an unused slot: -f32::MAX (WGSL has no infinity literal).
const EMPTY_V: f32 = -3.40282347e38;

struct Params {
    queries: u32,
    k: u32,
    c0: u32,    // first candidate row of s scanned by this dispatch
    c1: u32,    // one past the last
    base: u32,  // global index of candidate row 0 of s
    merge: u32, // 1: continue the lists in vals / idx; 0: start from empty lists
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> vals: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;

// NaN test on the bits: naga lowers float != to an ordered compare, so v != v is never true.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// (v, i) ranks before (w, j): larger value, or equal value and lower index.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn topk_merge(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = (wg.x + nwg.x * (wg.y + nwg.y * wg.z)) * WG + lid;
    if q >= p.queries {
        return;
    }
    let k = p.k;
    var bv: array<f32, KMAX>;
    var bi: array<u32, KMAX>;
    // Filled slots (a prefix of the list).
    var n = 0u;
    if p.merge != 0u {
        for (var j = 0u; j < k; j++) {
            bv[j] = vals[q * k + j];
            bi[j] = idx[q * k + j];
            n = select(n, j + 1u, bi[j] != NONE);
        }
    }
    // The k-th entry while the list is full (meaningless before).
    var tv = bv[k - 1u];
    var ti = bi[k - 1u];
    // Four candidates per iteration: most groups of four are rejected by one compare of their
    // maximum with the k-th entry, which saves lavapipe's per-iteration loop bookkeeping.
    var c = p.c0;
    loop {
        if c >= p.c1 {
            break;
        }
        let rem = p.c1 - c;
        let base = c * p.queries + q;
        // Past c1 (rem < 4) the loads still run (select evaluates both sides) but their values
        // are discarded; they read later rows of s or, past its end, WGSL's bounds-checked value.
        let v0 = s[base];
        let v1 = select(v0, s[base + p.queries], rem > 1u);
        let v2 = select(v0, s[base + 2u * p.queries], rem > 2u);
        let v3 = select(v0, s[base + 3u * p.queries], rem > 3u);
        let top = max(max(v0, v1), max(v2, v3));
        // Strictly below the k-th entry: none can enter (an equal score with a lower index can).
        if n < k || !(top < tv) {
            for (var u = 0u; u < min(rem, 4u); u++) {
                let v = select(select(select(v0, v1, u == 1u), v2, u == 2u), v3, u == 3u);
                let gi = p.base + c + u;
                if is_nan(v) || (n == k && !before(v, gi, tv, ti)) {
                    continue;
                }
                // Shift worse entries down one slot (the last drops off a full list), insert.
                var j = min(n, k - 1u);
                loop {
                    if j == 0u || before(bv[j - 1u], bi[j - 1u], v, gi) {
                        break;
                    }
                    bv[j] = bv[j - 1u];
                    bi[j] = bi[j - 1u];
                    j -= 1u;
                }
                bv[j] = v;
                bi[j] = gi;
                n = min(n + 1u, k);
                tv = bv[k - 1u];
                ti = bi[k - 1u];
            }
        }
        c += 4u;
    }
    for (var j = 0u; j < k; j++) {
        let used = j < n;
        vals[q * k + j] = select(EMPTY_V, bv[j], used);
        idx[q * k + j] = select(NONE, bi[j], used);
    }
}
