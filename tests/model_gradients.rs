//! Whole-model gradient checks: for every model, the backward of its training graph (as
//! lowered, planned and run on the GPU) against central differences of the same graph run
//! forward only, along random directions of every parameter tensor (common/graph_check.rs).
//! The noise (reparameterisation, shuffles, prior draws) is keyed by the step, so both
//! programs see the same draws. Catches wiring bugs no single-op test sees: a gradient
//! overwritten instead of accumulated, a buffer reused too early, a view's lifetime.
mod common;
use common::graph_check::{check_directions, Check};
use common::*;
use shadergrad::data::dataset::ImageShape;
use shadergrad::graph::Program;
use shadergrad::models::{self, GraphKind};
use shadergrad::nn::params::ParamStore;

const BATCH: usize = 8;

fn check_model(name: &str) {
    check(
        name,
        models::by_name(name, ImageShape::MNIST).unwrap().as_ref(),
    );
}

fn check(name: &str, model: &dyn models::Model) {
    let gpu = gpu();
    let mut r = rng();
    let store = ParamStore::new(gpu, &model.params(), &model.state(), &mut r).unwrap();
    let graph = || {
        let mut g = model.build(GraphKind::Train, BATCH, 5).unwrap().graph;
        // The quantity differentiated, as a metric of its own (models report sums under
        // "loss" while some minimise the mean).
        let loss = g.loss.unwrap();
        g.metric("checked_loss", loss).unwrap();
        g
    };
    let train = Program::compile(gpu, graph(), &store, true).unwrap();
    let eval = Program::compile(gpu, graph(), &store, false).unwrap();
    let data = shadergrad::data::mnist::load(&shadergrad::data::mnist::default_dir()).unwrap();
    let x = &data.test.images[..BATCH * 784];
    let labels = &data.test.labels[..BATCH];
    for p in [&train, &eval] {
        gpu.write(p.buf_named("x").unwrap(), x).unwrap();
        if let Ok(b) = p.buf_named("labels") {
            gpu.write(b, labels).unwrap();
        }
    }
    let host = store.to_tensor_file(gpu).unwrap();
    let params: Vec<(String, Vec<usize>, Vec<f32>)> = model
        .params()
        .iter()
        .map(|s| {
            let v = host
                .get(&s.name, &s.shape)
                .unwrap()
                .as_f32(&s.name)
                .unwrap();
            (s.name.clone(), s.shape.clone(), v.to_vec())
        })
        .collect();
    // Small steps: ReLU, leaky ReLU and max-pool kinks are everywhere in a whole model, and a
    // step that straddles one biases the difference; 1e-3 keeps that rare while f32 round-off
    // of the summed loss stays well inside the tolerance.
    let c = Check {
        h: 1e-3,
        directions: 1,
        rtol: 3e-2,
        atol_rel: 3e-3,
    };
    check_directions(
        name,
        &mut r,
        &store,
        &train,
        &eval,
        "checked_loss",
        &params,
        &c,
    );
}

#[test]
fn dim_gradients_match_central_differences() {
    check_model("dim");
}

#[test]
fn conv_vae_gradients_match_central_differences() {
    check_model("conv-vae");
}

#[test]
fn vae_gradients_match_central_differences() {
    check_model("vae");
}

#[test]
fn vib_gradients_match_central_differences() {
    check_model("vib");
}

#[test]
fn bn_vae_gradients_match_central_differences() {
    check_model("bn-vae");
}

#[test]
fn eae_gradients_match_central_differences() {
    check_model("eae");
}

#[test]
fn mmd_vae_gradients_match_central_differences() {
    check_model("mmd-vae");
}

#[test]
fn classifier_gradients_match_central_differences() {
    check_model("classifier");
}

#[test]
fn every_model_is_checked_here() {
    let here = include_str!("model_gradients.rs");
    for name in models::NAMES {
        assert!(
            here.contains(&format!("check_model(\"{name}\")")),
            "add a gradient check for {name}"
        );
    }
}
