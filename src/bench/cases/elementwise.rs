//! Elementwise cases, f32 and f16 storage: the activations and bias adds of the MLPs
//! ([128, 784] decoder output, [128, 400] hidden layer) and a large [4096, 1024] (4M).
//!
//! FLOPs per element: relu 1 (max); sigmoid 4 (exp, add, div, mul; shaders/elementwise.wgsl
//! `sigmoid`); add 1; add_row_bias 1. Bytes: 2 (f16) or 4 (f32) per element read or written.

use super::{Case, Data};
use crate::kernels::elementwise::{self as ew, Binary, Unary};
use crate::{Buf, Gpu, Result};

const SHAPES: [(usize, usize); 3] = [(128, 784), (128, 400), (4096, 1024)];

#[derive(Clone, Copy, PartialEq)]
enum Store {
    F32,
    F16,
}

impl Store {
    fn size(self) -> f64 {
        match self {
            Store::F32 => 4.0,
            Store::F16 => 2.0,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Store::F32 => "",
            Store::F16 => " f16",
        }
    }
    fn input(self, gpu: &Gpu, data: &mut Data, n: usize, lo: f32, hi: f32) -> Result<Buf> {
        match self {
            Store::F32 => data.f32(gpu, n, lo, hi),
            Store::F16 => data.f16(gpu, n, lo, hi),
        }
    }
    fn output(self, gpu: &Gpu, n: usize) -> Result<Buf> {
        match self {
            Store::F32 => gpu.zeros(n, crate::DType::F32),
            Store::F16 => gpu.zeros(n, crate::DType::F16),
        }
    }
}

fn unary(store: Store, op: Unary, name: &str, flops: f64, rows: usize, cols: usize) -> Case {
    let n = rows * cols;
    Case::new(
        &format!("elementwise{} {name}", store.tag()),
        format!("[{rows}, {cols}]"),
        flops * n as f64,
        2.0 * store.size() * n as f64,
        move |gpu| {
            let x = store.input(gpu, &mut Data::new(), n, -4.0, 4.0)?;
            let y = store.output(gpu, n)?;
            let d = match store {
                Store::F32 => ew::unary(gpu, op, &x, &y)?,
                Store::F16 => ew::unary_f16(gpu, op, &x, &y)?,
            };
            Ok((vec![d], vec![x, y]))
        },
    )
}

fn add(store: Store, rows: usize, cols: usize) -> Case {
    let n = rows * cols;
    Case::new(
        &format!("elementwise{} add", store.tag()),
        format!("[{rows}, {cols}]"),
        n as f64,
        3.0 * store.size() * n as f64,
        move |gpu| {
            let mut data = Data::new();
            let a = store.input(gpu, &mut data, n, -4.0, 4.0)?;
            let b = store.input(gpu, &mut data, n, -4.0, 4.0)?;
            let y = store.output(gpu, n)?;
            let d = match store {
                Store::F32 => ew::binary(gpu, Binary::Add, &a, &b, &y)?,
                Store::F16 => ew::binary_f16(gpu, Binary::Add, &a, &b, &y)?,
            };
            Ok((vec![d], vec![a, b, y]))
        },
    )
}

fn add_row_bias(store: Store, rows: usize, cols: usize) -> Case {
    let n = rows * cols;
    Case::new(
        &format!("elementwise{} add_row_bias", store.tag()),
        format!("[{rows}, {cols}] + [{cols}]"),
        n as f64,
        store.size() * (2 * n + cols) as f64,
        move |gpu| {
            let mut data = Data::new();
            let x = store.input(gpu, &mut data, n, -4.0, 4.0)?;
            let bias = store.input(gpu, &mut data, cols, -1.0, 1.0)?;
            let y = store.output(gpu, n)?;
            let d = match store {
                Store::F32 => ew::add_row_bias(gpu, &x, &bias, &y)?,
                Store::F16 => ew::add_row_bias_f16(gpu, &x, &bias, &y)?,
            };
            Ok((vec![d], vec![x, bias, y]))
        },
    )
}

pub(super) fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for store in [Store::F32, Store::F16] {
        let (relu, sigmoid) = ((Unary::Relu, "relu", 1.0), (Unary::Sigmoid, "sigmoid", 4.0));
        for (op, name, flops) in [relu, sigmoid] {
            cases.extend(SHAPES.map(|(r, c)| unary(store, op, name, flops, r, c)));
        }
        cases.extend(SHAPES.map(|(r, c)| add(store, r, c)));
        cases.extend(SHAPES.map(|(r, c)| add_row_bias(store, r, c)));
    }
    cases
}
