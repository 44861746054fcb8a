//! The accuracy of an unsupervised categorical code under the best one-to-one assignment of
//! categories to labels (InfoGAN's digit code): the subset dynamic programme against brute
//! force over every permutation, on random data at awkward sizes.
mod common;
use common::rng;
use rand::Rng;
use shadergrad::eval::assign::{argmax_categories, best_assignment_accuracy};

/// Every permutation of 0..k (Heap's algorithm).
fn permutations(k: usize) -> Vec<Vec<usize>> {
    fn heap(n: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if n <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..n - 1 {
            heap(n - 1, a, out);
            let j = if n.is_multiple_of(2) { i } else { 0 };
            a.swap(j, n - 1);
        }
        heap(n - 1, a, out);
    }
    let mut out = Vec::new();
    heap(k, &mut (0..k).collect(), &mut out);
    out
}

fn brute_force(pred: &[u32], labels: &[u32], k: usize) -> f64 {
    let best = permutations(k)
        .iter()
        .map(|perm| {
            pred.iter()
                .zip(labels)
                .filter(|(&c, &l)| perm[c as usize] == l as usize)
                .count()
        })
        .max()
        .unwrap();
    best as f64 / pred.len() as f64
}

#[test]
fn best_assignment_equals_brute_force() {
    let mut r = rng();
    for (k, n) in [(1, 7), (2, 13), (3, 101), (5, 257), (7, 999)] {
        for _ in 0..3 {
            // Labels that mostly follow a hidden permutation of the categories, plus noise.
            let hidden: Vec<u32> = {
                let mut p: Vec<u32> = (0..k as u32).collect();
                for i in (1..k).rev() {
                    p.swap(i, r.random_range(0..=i));
                }
                p
            };
            let pred: Vec<u32> = (0..n).map(|_| r.random_range(0..k as u32)).collect();
            let labels: Vec<u32> = pred
                .iter()
                .map(|&c| match r.random_bool(0.6) {
                    true => hidden[c as usize],
                    false => r.random_range(0..k as u32),
                })
                .collect();
            let got = best_assignment_accuracy(&pred, &labels, k).unwrap();
            assert_eq!(got, brute_force(&pred, &labels, k), "k {k} n {n}");
        }
    }
}

#[test]
fn a_relabelled_perfect_code_scores_one_and_bad_input_is_an_error() {
    let labels: Vec<u32> = (0..50).map(|i| i % 10).collect();
    let pred: Vec<u32> = labels.iter().map(|&l| (l * 3 + 1) % 10).collect();
    assert_eq!(best_assignment_accuracy(&pred, &labels, 10).unwrap(), 1.0);
    assert!(best_assignment_accuracy(&pred, &labels[..49], 10).is_err());
    assert!(best_assignment_accuracy(&[10], &[0], 10).is_err());
    assert!(best_assignment_accuracy(&[], &[], 10).is_err());
    assert!(best_assignment_accuracy(&[0], &[0], 17).is_err());
}

#[test]
fn argmax_reads_the_first_k_columns() {
    // Rows of 4 values; categories are the first 3.
    let codes = [
        0.1, 0.9, 0.2, 5.0, 3.0, -1.0, 2.0, 9.0, -1.0, -2.0, -0.5, 0.0,
    ];
    assert_eq!(argmax_categories(&codes, 4, 3), vec![1, 0, 2]);
}
