//! Comparing two tensor files tensor by tensor (`shadergrad compare A B`): B is the reference.
//!
//! For each name in either file: the shape and dtype must agree, then every element must
//! satisfy |a - b| <= atol + rtol * |b| (numpy's `allclose` rule, asymmetric: relative to B).
//! A tensor found in only one file, a shape or dtype mismatch, and a NaN anywhere are
//! failures, never skipped. Per tensor the report gives the max absolute error, the max
//! relative error |a - b| / |b| (over elements with b != 0; infinite where b = 0 != a), and the
//! worst element: the one using the largest share of its allowance, as a multi-index.
//!
//! Defaults rtol 1e-5, atol 1e-6: f32 rounds at 6e-8 relative, so 1e-5 leaves room for the
//! ~100 roundings of a forward and backward chain (sums over a few hundred terms included);
//! atol covers elements that cancel to near zero, where any relative bound is meaningless,
//! and is small next to the O(1e-3 .. 1e2) activations and gradients of the models here.

use std::fmt::Write;
use std::path::Path;

use crate::train::checkpoint::{Data, Tensor, TensorFile};
use crate::{Error, Result};

/// Elementwise pass rule: |a - b| <= atol + rtol * |b|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-5,
            atol: 1e-6,
        }
    }
}

/// The verdict on one tensor name.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    /// Some element is outside the tolerance (or NaN / a mismatched infinity).
    Fail,
    OnlyInA,
    OnlyInB,
    Shape(Vec<usize>, Vec<usize>),
    Dtype(&'static str, &'static str),
}

/// One line of the report. Error fields are 0 and `worst` is None unless values were compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub shape: Vec<usize>,
    pub tol: Tolerance,
    pub max_abs: f64,
    pub max_rel: f64,
    /// max |a - b| / max |b|: the error relative to the tensor's scale.
    pub scale_rel: f64,
    /// The element using the largest share of its allowance, and its a and b values.
    pub worst: Option<(Vec<usize>, f64, f64)>,
    /// |a - b| / (atol + rtol |b|) at `worst`: at most 1 passes.
    pub ratio: f64,
    pub outcome: Outcome,
}

impl Row {
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Pass
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(Row::passed)
    }

    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| !r.passed()).count()
    }

    /// Per group of tensors (activations, loss terms, gradients, state; by name prefix): the
    /// number of tensors, the worst `scale_rel` (error relative to each tensor's largest value)
    /// and the worst `max_rel`, over the rows whose values were compared.
    pub fn groups(&self) -> Vec<(&'static str, usize, f64, f64)> {
        let group = |name: &str| match name.split('.').next() {
            Some("act") => "activations",
            Some("metric") | Some("loss") => "loss terms",
            Some("grad") => "gradients",
            Some("state") => "state",
            _ => "other",
        };
        let mut out: Vec<(&'static str, usize, f64, f64)> = Vec::new();
        for r in self.rows.iter().filter(|r| r.worst.is_some()) {
            let g = group(&r.name);
            match out.iter_mut().find(|e| e.0 == g) {
                Some(e) => {
                    e.1 += 1;
                    e.2 = e.2.max(r.scale_rel);
                    e.3 = e.3.max(r.max_rel);
                }
                None => out.push((g, 1, r.scale_rel, r.max_rel)),
            }
        }
        out
    }

    /// A fixed-width table, one row per tensor, and a summary line.
    pub fn table(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<w$}  {:<12}  {:>9}  {:>9}  {:>9}  {:>7}  {:>7}  {:<12}  {:>13}  {:>13}  {:>7}  result",
            "tensor",
            "shape",
            "max abs",
            "max rel",
            "rel scale",
            "rtol",
            "atol",
            "worst at",
            "a",
            "b",
            "err/tol"
        );
        for r in &self.rows {
            let shape = format!("{:?}", r.shape);
            let result = match &r.outcome {
                Outcome::Pass => "ok".to_string(),
                Outcome::Fail => "FAIL".to_string(),
                Outcome::OnlyInA => "FAIL: only in A".to_string(),
                Outcome::OnlyInB => "FAIL: only in B".to_string(),
                Outcome::Shape(a, b) => format!("FAIL: shape {a:?} vs {b:?}"),
                Outcome::Dtype(a, b) => format!("FAIL: dtype {a} vs {b}"),
            };
            let (rtol, atol) = (r.tol.rtol, r.tol.atol);
            let _ = match &r.worst {
                Some((idx, a, b)) => writeln!(
                    s,
                    "{:<w$}  {shape:<12}  {:>9.2e}  {:>9.2e}  {:>9.2e}  {rtol:>7.0e}  {atol:>7.1e}  {:<12}  {a:>13.6e}  {b:>13.6e}  {:>7.3}  {result}",
                    r.name,
                    r.max_abs,
                    r.max_rel,
                    r.scale_rel,
                    format!("{idx:?}"),
                    r.ratio
                ),
                None => writeln!(
                    s,
                    "{:<w$}  {shape:<12}  {:>9}  {:>9}  {:>9}  {rtol:>7.0e}  {atol:>7.1e}  {:<12}  {:>13}  {:>13}  {:>7}  {result}",
                    r.name, "-", "-", "-", "-", "-", "-", "-"
                ),
            };
        }
        let _ = writeln!(
            s,
            "{} tensors, {} failed (pass: |a - b| <= atol + rtol |b|; B is the reference; \
             rel scale = max abs / max |b|)",
            self.rows.len(),
            self.failures()
        );
        s
    }
}

/// `shadergrad compare`: print the table for files `a` and `b` (the reference); Ok(true)
/// when every tensor passes.
pub fn compare_files(a: &Path, b: &Path, tol: Tolerance) -> Result<bool> {
    if !(tol.rtol >= 0.0 && tol.atol >= 0.0) {
        return Err(Error::Config(format!(
            "--rtol and --atol must be non-negative numbers, got {} and {}",
            tol.rtol, tol.atol
        )));
    }
    let report = compare(&TensorFile::load(a)?, &TensorFile::load(b)?, tol);
    println!("A = {}\nB = {}", a.display(), b.display());
    print!("{}", report.table());
    Ok(report.passed())
}

/// Compare every tensor of `a` and `b` with one tolerance.
pub fn compare(a: &TensorFile, b: &TensorFile, tol: Tolerance) -> Report {
    compare_with(a, b, |_| tol)
}

/// Compare with a tolerance chosen per tensor name. Rows are in name order.
pub fn compare_with(a: &TensorFile, b: &TensorFile, tol: impl Fn(&str) -> Tolerance) -> Report {
    let mut names: Vec<&String> = a.tensors.keys().chain(b.tensors.keys()).collect();
    names.sort();
    names.dedup();
    let rows = names
        .into_iter()
        .map(|name| {
            let t = tol(name);
            match (a.tensors.get(name), b.tensors.get(name)) {
                (Some(x), Some(y)) => compare_tensor(name, x, y, t),
                (Some(x), None) => missing(name, x, t, Outcome::OnlyInA),
                (None, Some(y)) => missing(name, y, t, Outcome::OnlyInB),
                (None, None) => unreachable!("the name came from one of the files"),
            }
        })
        .collect();
    Report { rows }
}

fn missing(name: &str, t: &Tensor, tol: Tolerance, outcome: Outcome) -> Row {
    Row {
        name: name.to_string(),
        shape: t.shape.clone(),
        tol,
        max_abs: 0.0,
        max_rel: 0.0,
        scale_rel: 0.0,
        worst: None,
        ratio: 0.0,
        outcome,
    }
}

fn dtype_name(d: &Data) -> &'static str {
    match d {
        Data::F32(_) => "F32",
        Data::I64(_) => "I64",
    }
}

fn values(d: &Data) -> Vec<f64> {
    match d {
        Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

fn compare_tensor(name: &str, x: &Tensor, y: &Tensor, tol: Tolerance) -> Row {
    let mut row = missing(name, y, tol, Outcome::Pass);
    if x.shape != y.shape {
        row.outcome = Outcome::Shape(x.shape.clone(), y.shape.clone());
        return row;
    }
    let (dx, dy) = (dtype_name(&x.data), dtype_name(&y.data));
    if dx != dy {
        row.outcome = Outcome::Dtype(dx, dy);
        return row;
    }
    let (a, b) = (values(&x.data), values(&y.data));
    let mut worst: Option<(usize, f64)> = None;
    let mut max_b = 0.0f64;
    for (i, (&p, &q)) in a.iter().zip(&b).enumerate() {
        // Equal values (equal infinities too) agree; a NaN operand or an infinity against
        // anything else is infinitely wrong.
        let err = if p == q { 0.0 } else { (p - q).abs() };
        let err = if err.is_nan() { f64::INFINITY } else { err };
        let rel = match err {
            0.0 => 0.0,
            e if q != 0.0 => e / q.abs(),
            _ => f64::INFINITY,
        };
        let ratio = match err / (tol.atol + tol.rtol * q.abs()) {
            _ if err == 0.0 => 0.0,
            r if r.is_nan() => f64::INFINITY, // inf / inf
            r => r,
        };
        row.max_abs = row.max_abs.max(err);
        row.max_rel = row.max_rel.max(rel);
        if q.is_finite() {
            max_b = max_b.max(q.abs());
        }
        if worst.is_none_or(|(_, r)| ratio > r) {
            worst = Some((i, ratio));
        }
    }
    row.scale_rel = match row.max_abs {
        0.0 => 0.0,
        e if max_b > 0.0 => e / max_b,
        _ => f64::INFINITY,
    };
    if let Some((i, ratio)) = worst {
        row.worst = Some((unravel(i, &y.shape), a[i], b[i]));
        row.ratio = ratio;
        if ratio > 1.0 {
            row.outcome = Outcome::Fail;
        }
    }
    row
}

/// The multi-index of flat (row-major) index `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ts: &[(&str, Vec<usize>, Vec<f32>)]) -> TensorFile {
        let mut f = TensorFile::default();
        for (n, s, v) in ts {
            f.insert(*n, Tensor::f32(s.clone(), v.clone()));
        }
        f
    }

    #[test]
    fn within_tolerance_passes_and_reports_the_worst_multi_index() {
        let a = file(&[("w", vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.000_02, 6.0])]);
        let b = file(&[("w", vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])]);
        let r = compare(&a, &b, Tolerance::default());
        assert!(r.passed(), "{}", r.table());
        let row = &r.rows[0];
        assert_eq!(row.worst.as_ref().unwrap().0, vec![1, 1]);
        assert!((row.max_rel - 4e-6).abs() < 1e-7, "{}", row.max_rel);
    }

    #[test]
    fn outside_tolerance_missing_and_mismatched_tensors_fail() {
        let a = file(&[
            ("bad", vec![2], vec![1.0, 2.1]),
            ("only_a", vec![1], vec![0.0]),
            ("shape", vec![2], vec![0.0, 0.0]),
        ]);
        let b = file(&[
            ("bad", vec![2], vec![1.0, 2.0]),
            ("only_b", vec![1], vec![0.0]),
            ("shape", vec![1, 2], vec![0.0, 0.0]),
        ]);
        let r = compare(&a, &b, Tolerance::default());
        assert_eq!(r.failures(), 4, "{}", r.table());
        let by = |n: &str| r.rows.iter().find(|x| x.name == n).unwrap().outcome.clone();
        assert_eq!(by("bad"), Outcome::Fail);
        assert_eq!(by("only_a"), Outcome::OnlyInA);
        assert_eq!(by("only_b"), Outcome::OnlyInB);
        assert_eq!(by("shape"), Outcome::Shape(vec![2], vec![1, 2]));
        let table = r.table();
        assert!(
            table.contains("only in A") && table.contains("4 failed"),
            "{table}"
        );
    }

    #[test]
    fn nan_fails_and_zero_reference_uses_atol() {
        let a = file(&[
            ("n", vec![1], vec![f32::NAN]),
            ("z", vec![2], vec![5e-7, 0.0]),
        ]);
        let b = file(&[("n", vec![1], vec![1.0]), ("z", vec![2], vec![0.0, 0.0])]);
        let r = compare(&a, &b, Tolerance::default());
        assert_eq!(r.rows[0].outcome, Outcome::Fail);
        assert_eq!(r.rows[1].outcome, Outcome::Pass);
        assert!(r.rows[1].max_rel.is_infinite());
        // Equal infinities agree; an infinity against a finite value fails; zero tolerance
        // passes exact equality.
        let a = file(&[("i", vec![2], vec![f32::INFINITY, f32::INFINITY])]);
        let b = file(&[("i", vec![2], vec![f32::INFINITY, 1.0])]);
        let r = compare(&a, &b, Tolerance::default());
        assert_eq!(r.rows[0].outcome, Outcome::Fail);
        assert_eq!(r.rows[0].worst.as_ref().unwrap().0, vec![1]);
        let exact = Tolerance {
            rtol: 0.0,
            atol: 0.0,
        };
        assert!(compare(&b, &b, exact).passed());
    }

    #[test]
    fn dtype_mismatch_fails() {
        let mut a = TensorFile::default();
        a.insert(
            "l",
            Tensor {
                shape: vec![1],
                data: Data::I64(vec![3]),
            },
        );
        let b = file(&[("l", vec![1], vec![3.0])]);
        assert_eq!(
            compare(&a, &b, Tolerance::default()).rows[0].outcome,
            Outcome::Dtype("I64", "F32")
        );
    }

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(7, &[2, 3, 4]), vec![0, 1, 3]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
