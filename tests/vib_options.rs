//! The VIB settings that reproduce the authors' TensorFlow demo: `input=signed` feeds 2x - 1
//! and `init=glorot` starts layers as TensorFlow's Dense (Glorot uniform bounds, zero bias).
mod common;
use common::{gpu, rng, uniform};
use rand::SeedableRng;
use shadergrad::data::dataset::ImageShape;
use shadergrad::eval::compile_encoder;
use shadergrad::models::by_name_with;
use shadergrad::models::hparams::parse;
use shadergrad::nn::params::{Init, ParamStore};

fn vib(items: &[&str]) -> Box<dyn shadergrad::models::Model> {
    let hp = parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    by_name_with("vib", ImageShape::MNIST, &hp).unwrap()
}

#[test]
fn glorot_init_uses_the_demo_layers_bounds_and_zero_biases() {
    let model = vib(&["init=glorot", "hidden=100", "k=8"]);
    let init = |name: &str| {
        let specs = model.params();
        specs.iter().find(|p| p.name == name).unwrap().init.clone()
    };
    let glorot =
        |fan_in: usize, fan_out: usize| Init::Uniform((6.0 / (fan_in + fan_out) as f32).sqrt());
    assert_eq!(init("fc1.weight"), glorot(784, 100));
    assert_eq!(init("fc2.weight"), glorot(100, 100));
    // mu and rho are the two halves of one 2K-wide layer in the demo.
    assert_eq!(init("fc_mu.weight"), glorot(100, 16));
    assert_eq!(init("fc_rho.weight"), glorot(100, 16));
    assert_eq!(init("decoder.weight"), glorot(8, 10));
    for bias in ["fc1.bias", "fc_mu.bias", "decoder.bias"] {
        assert_eq!(init(bias), Init::Const(0.0), "{bias}");
    }
    // The default stays PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
    let default = vib(&[]);
    let specs = default.params();
    let b = specs.iter().find(|p| p.name == "fc1.bias").unwrap();
    assert_eq!(b.init, Init::Uniform(1.0 / 28.0));
}

/// The signed-input model on x gives the codes the default model gives on 2x - 1, with the
/// same weights.
#[test]
fn signed_input_encodes_two_x_minus_one() {
    let gpu = gpu();
    let mut r = rng();
    let (signed, unit) = (vib(&["input=signed"]), vib(&[]));
    let seed = rand::rngs::StdRng::seed_from_u64(7);
    let store = ParamStore::new(gpu, &unit.params(), &unit.state(), &mut seed.clone()).unwrap();
    let batch = 5;
    let x = uniform(&mut r, batch * 784, 0.0, 1.0);
    let x_signed: Vec<f32> = x.iter().map(|v| 2.0 * v - 1.0).collect();
    let codes = |model: &dyn shadergrad::models::Model, input: &[f32]| {
        let enc = compile_encoder(gpu, model, &store, batch).unwrap();
        gpu.write(enc.program.buf_named("x").unwrap(), input)
            .unwrap();
        enc.program.step(gpu, 0, &[]).unwrap();
        enc.read(gpu, "codes").unwrap()
    };
    let got = codes(signed.as_ref(), &x);
    let want = codes(unit.as_ref(), &x_signed);
    let unshifted = codes(unit.as_ref(), &x);
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    };
    assert!(diff(&got, &want) < 1e-5, "{}", diff(&got, &want));
    assert!(diff(&got, &unshifted) > 1e-2, "the input was not shifted");
}
