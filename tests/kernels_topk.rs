//! Top-k family vs its f64 twin: random scores at awkward sizes (and size 1), merging blocks
//! with global indices, ties (lower index first) and NaN, segment boundaries, a long ascending
//! candidate axis (every candidate enters: lavapipe's loop cap), a grid folded past 65,535
//! workgroups, bad input.
//!
//! Shapes: s [cands, queries]; vals, idx [queries, k].
mod common;
use common::*;
use rand::Rng;
use shadergrad::kernels::topk::{self, cpu, TopkSpec, EMPTY_V, KMAX, NONE};
use shadergrad::{Buf, DType};

fn spec(cands: usize, queries: usize, k: usize) -> TopkSpec {
    TopkSpec {
        cands,
        queries,
        k,
        base: 0,
        merge: false,
    }
}

/// Run the GPU top-k with lists starting at `init` (garbage when !spec.merge).
fn run_topk(
    spec: &TopkSpec,
    seg: Option<usize>,
    s: &[f32],
    init: (&[f32], &[u32]),
) -> (Vec<f32>, Vec<u32>) {
    let gpu = gpu();
    let (sb, vb, ib) = (
        gpu.upload(s).unwrap(),
        gpu.upload(init.0).unwrap(),
        gpu.upload(init.1).unwrap(),
    );
    let seg = seg.unwrap_or(topk::segment_len(spec.k));
    let ds = topk::topk_segments(gpu, spec, seg, &sb, &vb, &ib).unwrap();
    gpu.run(&ds.iter().collect::<Vec<_>>()).unwrap();
    (gpu.download(&vb).unwrap(), gpu.download(&ib).unwrap())
}

/// Fresh lists full of garbage a non-merging run must ignore.
fn garbage(queries: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
    (vec![f32::NAN; queries * k], vec![7; queries * k])
}

fn check_against_twin(spec: &TopkSpec, seg: Option<usize>, s: &[f32], what: &str) {
    let (v0, i0) = garbage(spec.queries, spec.k);
    let (got_v, got_i) = run_topk(spec, seg, s, (&v0, &i0));
    let (want_v, want_i) = cpu::topk(
        &to_f64(s),
        spec.cands,
        spec.queries,
        spec.k,
        spec.base,
        None,
    );
    assert_eq!(got_i, want_i, "{what}: indices");
    // Selection copies scores: exact.
    assert_close(&format!("{what}: values"), &got_v, &want_v, 0.0, 0.0);
}

#[test]
fn random_scores_match_the_twin_at_awkward_sizes() {
    let mut rng = rng();
    for (cands, queries, k) in [
        (1, 1, 1),
        (1, 3, 4), // fewer candidates than k: unused slots
        (13, 1, 13),
        (1037, 211, 9),
        (100, 9, 1),
        (250, 17, KMAX),
        (3001, 33, 5),
    ] {
        let s = uniform(&mut rng, cands * queries, -1.0, 1.0);
        let what = format!("{cands} cands x {queries} queries, k = {k}");
        check_against_twin(&spec(cands, queries, k), None, &s, &what);
    }
}

#[test]
fn unused_slots_hold_the_markers() {
    let (v, i) = run_topk(&spec(2, 1, 4), None, &[0.5, 0.25], (&[0.0; 4], &[0; 4]));
    assert_eq!(i, vec![0, 1, NONE, NONE]);
    assert_eq!(v, vec![0.5, 0.25, EMPTY_V, EMPTY_V]);
}

#[test]
fn ties_go_to_the_lower_index_and_nan_is_never_selected() {
    let mut rng = rng();
    let (cands, queries, k) = (301, 19, 7);
    // Few distinct values: many ties; some NaN.
    let s: Vec<f32> = (0..cands * queries)
        .map(|_| match rng.random_range(0..10) {
            0 => f32::NAN,
            v => (v % 3) as f32 - 1.0,
        })
        .collect();
    check_against_twin(&spec(cands, queries, k), None, &s, "ties and NaN");
    // The same with short segments: ties straddle dispatch boundaries.
    check_against_twin(
        &spec(cands, queries, k),
        Some(10),
        &s,
        "ties, 10-wide segments",
    );
    // All NaN: nothing selected.
    let (v0, i0) = garbage(3, 2);
    let (_, idx) = run_topk(&spec(5, 3, 2), None, &[f32::NAN; 15], (&v0, &i0));
    assert_eq!(idx, vec![NONE; 6]);
}

#[test]
fn segments_do_not_change_the_result() {
    let mut rng = rng();
    let (cands, queries, k) = (997, 21, 9);
    let s = uniform(&mut rng, cands * queries, -1.0, 1.0);
    for seg in [1, 2, 9, 10, 100, 996, 997] {
        check_against_twin(
            &spec(cands, queries, k),
            Some(seg),
            &s,
            &format!("seg {seg}"),
        );
    }
}

#[test]
fn merging_blocks_equals_one_pass_over_all_candidates() {
    let mut rng = rng();
    let (queries, k) = (45, 6);
    let blocks = [333usize, 1, 120, 77];
    let total: usize = blocks.iter().sum();
    // Rounded scores so equal values meet across blocks.
    let all: Vec<f32> = uniform(&mut rng, total * queries, -1.0, 1.0)
        .iter()
        .map(|v| (v * 8.0).round() / 8.0)
        .collect();
    let (mut v, mut i) = garbage(queries, k);
    // Blocks out of order: the tie rule compares global indices, so order does not matter.
    let mut starts: Vec<usize> = blocks
        .iter()
        .scan(0, |acc, &b| {
            let s = *acc;
            *acc += b;
            Some(s)
        })
        .collect();
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.reverse();
    starts.reverse();
    for (n, (&b, &base)) in order.iter().zip(&starts).enumerate() {
        let cands = blocks[b];
        let block = &all[base * queries..(base + cands) * queries];
        let sp = TopkSpec {
            cands,
            queries,
            k,
            base,
            merge: n > 0,
        };
        (v, i) = run_topk(&sp, None, block, (&v, &i));
    }
    let (want_v, want_i) = cpu::topk(&to_f64(&all), total, queries, k, 0, None);
    assert_eq!(i, want_i, "indices");
    assert_close("values", &v, &want_v, 0.0, 0.0);
    // The twin merging the same way agrees with itself.
    let (v1, i1) = cpu::topk(&to_f64(&all[..200 * queries]), 200, queries, k, 0, None);
    let rest = &all[200 * queries..];
    let (v2, i2) = cpu::topk(
        &to_f64(rest),
        total - 200,
        queries,
        k,
        200,
        Some((&v1, &i1)),
    );
    assert_eq!((v2, i2), (want_v, want_i), "twin merge");
}

/// lavapipe stops an invocation's loops after 65,535 iterations in total. With ascending
/// scores every candidate enters the list (k shifts each); one unsplit pass over 200,000
/// candidates would stop early and return old entries.
#[test]
fn long_ascending_candidate_axis_stays_under_lavapipe_loop_limit() {
    let (cands, queries, k) = (200_000, 3, 9);
    let s: Vec<f32> = (0..cands * queries)
        .map(|i| (i / queries) as f32 + (i % queries) as f32 * 0.5)
        .collect();
    let (v0, i0) = garbage(queries, k);
    let (_, idx) = run_topk(&spec(cands, queries, k), None, &s, (&v0, &i0));
    for q in 0..queries {
        let want: Vec<u32> = (0..k as u32).map(|j| (cands as u32) - 1 - j).collect();
        assert_eq!(&idx[q * k..(q + 1) * k], &want[..], "query {q}");
    }
}

#[test]
fn grid_past_65535_workgroups() {
    let mut rng = rng();
    // 8-wide workgroups on lavapipe (64 elsewhere): 600,000 queries need > 65,535 groups there.
    let (cands, queries, k) = (3, 600_000, 2);
    let s = uniform(&mut rng, cands * queries, -1.0, 1.0);
    check_against_twin(&spec(cands, queries, k), None, &s, "600k queries");
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let f = |n: usize| gpu.zeros(n, DType::F32).unwrap();
    let u = |n: usize| gpu.zeros(n, DType::U32).unwrap();
    let (s, v, i) = (f(12), f(6), u(6));
    let alias = gpu.view_as(&v, DType::U32, 6).unwrap();
    let ok = spec(4, 3, 2);
    assert!(topk::topk(gpu, &ok, &s, &v, &i).is_ok());
    let bad: Vec<(TopkSpec, &Buf, &Buf, &Buf, &str)> = vec![
        (spec(5, 3, 2), &s, &v, &i, "s length"),
        (spec(4, 3, 0), &s, &v, &i, "k = 0"),
        (spec(4, 3, KMAX + 1), &s, &v, &i, "k > KMAX"),
        (spec(0, 3, 2), &s, &v, &i, "no candidates"),
        (ok, &s, &i, &v, "swapped types"),
        (ok, &s, &v, &alias, "vals and idx share memory"),
    ];
    for (sp, s, v, i, what) in bad {
        assert!(topk::topk(gpu, &sp, s, v, i).is_err(), "{what}");
    }
    let huge_base = TopkSpec {
        base: u32::MAX as usize - 2,
        ..ok
    };
    assert!(topk::topk(gpu, &huge_base, &s, &v, &i).is_err(), "base");
    assert!(
        topk::topk_segments(gpu, &ok, topk::segment_len(2) + 1, &s, &v, &i).is_err(),
        "segment past the loop budget"
    );
    assert!(
        topk::topk_segments(gpu, &ok, 0, &s, &v, &i).is_err(),
        "segment 0"
    );
}
