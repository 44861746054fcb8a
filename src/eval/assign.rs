//! Accuracy of an unsupervised categorical code as a classifier: each of its K categories is
//! assigned to one label (one-to-one) so that the most items agree, as InfoGAN's paper scores
//! its digit code. The best assignment is exact: a dynamic programme over subsets of labels
//! (K 2^K states), so K is limited to 16.
//!
//! Shapes: predictions and labels [N], categories and labels in 0..K.

use crate::eval::Codes;
use crate::{Error, Result};

/// The K x K table counts[c][l] of items in category c with label l.
fn contingency(pred: &[u32], labels: &[u32], k: usize) -> Result<Vec<Vec<u64>>> {
    if pred.len() != labels.len() {
        return Err(Error::Shape(format!(
            "{} predictions for {} labels",
            pred.len(),
            labels.len()
        )));
    }
    let mut counts = vec![vec![0u64; k]; k];
    for (&c, &l) in pred.iter().zip(labels) {
        let (c, l) = (c as usize, l as usize);
        if c >= k || l >= k {
            return Err(Error::Shape(format!(
                "category {c} or label {l} is outside 0..{k}"
            )));
        }
        counts[c][l] += 1;
    }
    Ok(counts)
}

/// The fraction of items whose category, mapped by the best one-to-one assignment of
/// categories to labels, equals their label.
pub fn best_assignment_accuracy(pred: &[u32], labels: &[u32], k: usize) -> Result<f64> {
    if k == 0 || k > 16 {
        return Err(Error::Config(format!(
            "best assignment supports 1 to 16 categories, got {k}"
        )));
    }
    if pred.is_empty() {
        return Err(Error::Shape("no items to score".into()));
    }
    let counts = contingency(pred, labels, k)?;
    // best[mask]: most agreements assigning categories 0..popcount(mask) to the labels in mask.
    let mut best = vec![0u64; 1 << k];
    for mask in 1usize..1 << k {
        let c = mask.count_ones() as usize - 1; // the category assigned last
        best[mask] = (0..k)
            .filter(|l| mask & (1 << l) != 0)
            .map(|l| best[mask ^ (1 << l)] + counts[c][l])
            .max()
            .unwrap_or(0);
    }
    Ok(best[(1 << k) - 1] as f64 / pred.len() as f64)
}

/// Argmax over the first `k` columns of each row of `codes` [N, dim].
pub fn argmax_categories(codes: &[f32], dim: usize, k: usize) -> Vec<u32> {
    codes
        .chunks_exact(dim)
        .map(|row| {
            let mut best = 0;
            for j in 1..k.min(dim) {
                if row[j] > row[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}

/// The accuracy of the categorical code in the first `k` columns of `codes` (logits) as a
/// classifier of their labels, under the best one-to-one assignment.
pub fn code_accuracy(codes: &Codes, k: usize) -> Result<f64> {
    let pred = argmax_categories(&codes.values, codes.dim, k);
    best_assignment_accuracy(&pred, &codes.labels, k)
}
