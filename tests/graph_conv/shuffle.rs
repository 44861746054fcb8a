//! shuffle_rows: the output rows are a permutation of the input rows (the one
//! kernels::shuffle::cpu::permutation makes for (seed, step)), a new one each step, distinct
//! for two ops of one graph, and without fixed points for derangements.

use crate::common::*;
use shadergrad::graph::ops::shuffle::stream_seed;
use shadergrad::graph::{Graph, Program};
use shadergrad::kernels::shuffle::{cpu, PermKind};
use shadergrad::nn::params::ParamStore;

const B: usize = 8;
const F: usize = 6;
const SEED: u64 = 12345;

/// Which input row each output row is (rows of x are distinct).
fn rows_of(x: &[f32], y: &[f32]) -> Vec<u32> {
    y.chunks(F)
        .map(|row| {
            let j = x.chunks(F).position(|r| r == row);
            j.expect("every output row is an input row") as u32
        })
        .collect()
}

#[test]
fn shuffle_rows_draws_a_new_permutation_each_step() {
    let gpu = gpu();
    let mut r = rng();
    for kind in [PermKind::Uniform, PermKind::Derangement] {
        let mut g = Graph::new();
        let x = g.input("x", &[B, 2, 3]);
        let a = g.shuffle_rows(x, kind, SEED).unwrap();
        let b = g.shuffle_rows(x, kind, SEED).unwrap();
        g.output("a", a);
        g.output("b", b);
        let store = ParamStore::new(gpu, &[], &[], &mut r).unwrap();
        let p = Program::compile(gpu, g, &store, false).unwrap();
        let xs = uniform(&mut r, B * F, -1.0, 1.0);
        gpu.write(p.buf_named("x").unwrap(), &xs).unwrap();
        let mut perms = Vec::new();
        for step in 0..2u64 {
            p.step(gpu, step, &[]).unwrap();
            for (name, stream) in [("a", 0), ("b", 1)] {
                let y: Vec<f32> = gpu.download(p.buf_named(name).unwrap()).unwrap();
                let perm = rows_of(&xs, &y);
                cpu::check_permutation(&perm).unwrap();
                let seed = stream_seed(SEED, stream);
                let want = cpu::permutation(B, seed, step, kind).unwrap();
                assert_eq!(perm, want, "{kind:?} op {name} at step {step}");
                if kind == PermKind::Derangement {
                    assert!(
                        perm.iter().enumerate().all(|(i, &p)| p as usize != i),
                        "derangement {perm:?} has a fixed point"
                    );
                }
                perms.push(perm);
            }
        }
        assert_eq!(
            stream_seed(SEED, 0),
            SEED,
            "the first op uses the seed as given"
        );
        assert_ne!(
            perms[0], perms[1],
            "{kind:?}: two ops drew the same permutation"
        );
        assert_ne!(
            perms[0], perms[2],
            "{kind:?}: steps 0 and 1 drew the same permutation"
        );
        assert_ne!(
            perms[1], perms[3],
            "{kind:?}: steps 0 and 1 drew the same permutation"
        );
    }
}
