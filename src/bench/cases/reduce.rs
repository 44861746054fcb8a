//! Reduce cases: the Linear layers' bias gradients (column sums of dy [128, 400] and
//! [128, 784]) and a full sum of 1M values (two levels).
//!
//! FLOPs: one add per element. Bytes: x read and y written once (partials between levels are
//! scratch, not counted).

use super::{f32s, out, Case, Data};
use crate::kernels::reduce::{self, Axis, Op, ReduceSpec};

fn sum(name: &str, spec: ReduceSpec, shape: String) -> Case {
    let n = spec.rows * spec.cols;
    Case::new(
        name,
        shape,
        n as f64,
        f32s(n + spec.out_len()),
        move |gpu| {
            let x = Data::new().f32(gpu, n, -1.0, 1.0)?;
            let y = out(gpu, spec.out_len())?;
            let scratch = out(gpu, reduce::reduce_scratch_len(&spec).max(1))?;
            let ds = reduce::reduce(gpu, &spec, &x, &y, &scratch, false)?;
            Ok((ds, vec![x, y, scratch]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [400, 784]
        .map(|f| {
            let spec = ReduceSpec::new(128, f, Axis::Rows, Op::Sum);
            sum("reduce sum rows", spec, format!("[128, {f}] -> [{f}]"))
        })
        .into();
    let all = ReduceSpec::new(1024, 1024, Axis::All, Op::Sum);
    cases.push(sum("reduce sum all", all, "[1048576] -> [1]".into()));
    cases
}
