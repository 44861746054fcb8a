//! Elementwise family vs its f64 twin.
mod common;
use common::*;
use shadergrad::kernels::elementwise::{self, cpu, Unary};

#[test]
fn relu_matches_reference_at_awkward_sizes() {
    let gpu = gpu();
    let mut rng = rng();
    for n in [1usize, 63, 1000, 65_535 * 64 + 77] {
        let x = uniform(&mut rng, n, -2.0, 2.0);
        let xb = gpu.upload(&x).unwrap();
        let yb = gpu.zeros(n, shadergrad::DType::F32).unwrap();
        let d = elementwise::unary(gpu, Unary::Relu, &xb, &yb).unwrap();
        gpu.run(&[&d]).unwrap();
        let y: Vec<f32> = gpu.download(&yb).unwrap();
        assert_close(
            &format!("relu n={n}"),
            &y,
            &cpu::unary(Unary::Relu, &to_f64(&x)),
            1e-5,
            0.0,
        );
    }
}
