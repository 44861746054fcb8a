//! Loss cases: BCE with logits on the VAE's reconstruction [128, 784], softmax cross-entropy
//! on 10 classes [128, 10], and Deep InfoMax's Jensen-Shannon softplus terms on 1M scores
//! (element-wise: rows = n, cols = 1).
//!
//! FLOPs per element (shaders/loss.wgsl): BCE forward 12 (the linear part both ways of its
//! select 3, exp 1, our log1p ~6 averaged over its Taylor and log branches, 2 adds), BCE
//! backward 6 (exp, add, div, sub, mul by dloss, select); softmax forward 4 per logit (max,
//! sub, exp, add), backward 8 per logit (the row statistics again, then exp, mul, mul by
//! dloss); JS forward 10 (mul by the sign, max, exp, log1p ~6, add), JS backward 7.
//! Bytes: inputs once (logits, targets, labels, dloss) and outputs once (loss [B], dx).

use super::{f32s, out, Case, Data};
use crate::kernels::loss::{self, JsTerm};

fn bce(rows: usize, cols: usize) -> [Case; 2] {
    let n = rows * cols;
    let shape = format!("[{rows}, {cols}]");
    let inputs = move |gpu: &crate::Gpu| {
        let mut data = Data::new();
        Ok::<_, crate::Error>((data.f32(gpu, n, -6.0, 6.0)?, data.f32(gpu, n, 0.0, 1.0)?))
    };
    [
        Case::new(
            "loss bce forward",
            shape.clone(),
            12.0 * n as f64,
            f32s(2 * n + rows),
            move |gpu| {
                let (x, t) = inputs(gpu)?;
                let l = out(gpu, rows)?;
                let d = loss::bce_forward(gpu, rows, cols, &x, &t, &l)?;
                Ok((vec![d], vec![x, t, l]))
            },
        ),
        Case::new(
            "loss bce backward",
            shape,
            6.0 * n as f64,
            f32s(3 * n + rows),
            move |gpu| {
                let (x, t) = inputs(gpu)?;
                let dl = Data::new().f32(gpu, rows, 0.5, 1.5)?;
                let dx = out(gpu, n)?;
                let d = loss::bce_backward(gpu, rows, cols, &x, &t, &dl, &dx, false)?;
                Ok((vec![d], vec![x, t, dl, dx]))
            },
        ),
    ]
}

fn softmax_xent(rows: usize, k: usize) -> [Case; 2] {
    let n = rows * k;
    let shape = format!("[{rows}, {k}]");
    let inputs = move |gpu: &crate::Gpu| {
        let mut data = Data::new();
        let logits = data.f32(gpu, n, -4.0, 4.0)?;
        Ok::<_, crate::Error>((logits, data.labels(gpu, rows, k as u32)?))
    };
    [
        Case::new(
            "loss softmax_xent forward",
            shape.clone(),
            4.0 * n as f64,
            f32s(n + 2 * rows),
            move |gpu| {
                let (logits, labels) = inputs(gpu)?;
                let l = out(gpu, rows)?;
                let d = loss::softmax_xent_forward(gpu, rows, k, &logits, &labels, &l)?;
                Ok((vec![d], vec![logits, labels, l]))
            },
        ),
        Case::new(
            "loss softmax_xent backward",
            shape,
            8.0 * n as f64,
            f32s(2 * n + 2 * rows),
            move |gpu| {
                let (logits, labels) = inputs(gpu)?;
                let dl = Data::new().f32(gpu, rows, 0.5, 1.5)?;
                let dx = out(gpu, n)?;
                let d =
                    loss::softmax_xent_backward(gpu, rows, k, &logits, &labels, &dl, &dx, false)?;
                Ok((vec![d], vec![logits, labels, dl, dx]))
            },
        ),
    ]
}

fn js(n: usize) -> [Case; 2] {
    let shape = format!("[{n}] scores");
    let term = JsTerm::Negative;
    [
        Case::new(
            "loss js forward",
            shape.clone(),
            10.0 * n as f64,
            f32s(2 * n),
            move |gpu| {
                let s = Data::new().f32(gpu, n, -6.0, 6.0)?;
                let o = out(gpu, n)?;
                let d = loss::js_forward(gpu, term, n, 1, &s, &o)?;
                Ok((vec![d], vec![s, o]))
            },
        ),
        Case::new(
            "loss js backward",
            shape,
            7.0 * n as f64,
            f32s(3 * n),
            move |gpu| {
                let mut data = Data::new();
                let s = data.f32(gpu, n, -6.0, 6.0)?;
                let dout = data.f32(gpu, n, 0.5, 1.5)?;
                let ds = out(gpu, n)?;
                let d = loss::js_backward(gpu, term, n, 1, &s, &dout, &ds, false)?;
                Ok((vec![d], vec![s, dout, ds]))
            },
        ),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    [bce(128, 784), softmax_xent(128, 10), js(1 << 20)]
        .into_iter()
        .flatten()
        .collect()
}
