//! Matmul family vs its f64 twin: every form x epilogue x accumulate x variant at awkward sizes,
//! the VAE's shapes, a grid folded past 65,535 workgroups, f16 storage, bad input, and the
//! Linear layer's gradients (NT forward, NN/TN backward) against central differences.
mod common;
use common::*;
use rand::rngs::StdRng;
use shadergrad::kernels::matmul::{self, cpu, Epilogue, Form, MatmulSpec, Variant};
use shadergrad::{DType, Error, Gpu};

const FORMS: [Form; 3] = [Form::NN, Form::NT, Form::TN];
const EPILOGUES: [Epilogue; 3] = [Epilogue::None, Epilogue::Bias, Epilogue::BiasRelu];
const VARIANTS: [Variant; 3] = [
    Variant::RegisterBlocked,
    Variant::RegisterBlockedTransposed,
    Variant::Tiled,
];

/// Absolute allowance for an output whose terms cancel: f32 rounding error of a K-term dot
/// product scales with sum_k |a_ik b_kj|, not with the (possibly near-zero) result, so a pure
/// relative test would fail on cancelling sums. 1e-6 * the largest such sum is ~10 f32 ulps
/// of the largest partial sum.
fn cancel_atol(spec: &MatmulSpec, a: &[f64], b: &[f64]) -> f64 {
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let mag = cpu::product(spec.form, spec.m, spec.n, spec.k, &abs(a), &abs(b));
    1e-6 * mag.iter().fold(1.0f64, |m, &x| m.max(x))
}

/// Inputs for one spec: A, B, bias, old C (NaN when not accumulating: it must be ignored).
struct Case {
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Vec<f32>,
    c_old: Vec<f32>,
}

fn case(rng: &mut StdRng, spec: &MatmulSpec) -> Case {
    Case {
        a: uniform(rng, spec.a_len(), -1.0, 1.0),
        b: uniform(rng, spec.b_len(), -1.0, 1.0),
        bias: uniform(rng, spec.n, -1.0, 1.0),
        c_old: if spec.accumulate {
            uniform(rng, spec.c_len(), -1.0, 1.0)
        } else {
            vec![f32::NAN; spec.c_len()]
        },
    }
}

fn expected(spec: &MatmulSpec, x: &Case) -> (Vec<f64>, f64) {
    let (a, b) = (to_f64(&x.a), to_f64(&x.b));
    let bias = to_f64(&x.bias);
    let bias = (spec.epilogue != Epilogue::None).then_some(bias.as_slice());
    let want = cpu::matmul(spec, &a, &b, bias, &to_f64(&x.c_old));
    (want, cancel_atol(spec, &a, &b))
}

/// Run `spec` (f32) on the GPU and compare with the twin at 1e-4 relative.
fn check_f32(gpu: &Gpu, rng: &mut StdRng, spec: &MatmulSpec) {
    let x = case(rng, spec);
    let (a, b, c) = (
        gpu.upload(&x.a).unwrap(),
        gpu.upload(&x.b).unwrap(),
        gpu.upload(&x.c_old).unwrap(),
    );
    let bias = gpu.upload(&x.bias).unwrap();
    let bias = (spec.epilogue != Epilogue::None).then_some(&bias);
    let d = matmul::matmul(gpu, spec, &a, &b, bias, &c).unwrap();
    gpu.run(&[&d]).unwrap();
    let got: Vec<f32> = gpu.download(&c).unwrap();
    let (want, atol) = expected(spec, &x);
    assert_close(&format!("{spec:?}"), &got, &want, 1e-4, atol);
}

#[test]
fn every_form_epilogue_and_accumulate_at_awkward_sizes() {
    let gpu = gpu();
    let mut rng = rng();
    // 1x1x1; N not a multiple of 4; K not a multiple of 4; an exact shape (multiples of 4)
    // whose M and N still do not fill the tiles.
    let sizes = [(1, 1, 1), (7, 13, 5), (33, 65, 17), (36, 44, 20)];
    for variant in VARIANTS {
        for form in FORMS {
            for epilogue in EPILOGUES {
                for accumulate in [false, true] {
                    for (m, n, k) in sizes {
                        let spec = MatmulSpec::new(m, n, k, form)
                            .epilogue(epilogue)
                            .accumulate(accumulate)
                            .variant(variant);
                        check_f32(gpu, &mut rng, &spec);
                    }
                }
            }
        }
    }
}

#[test]
fn vae_shapes_forward_and_backward() {
    let gpu = gpu();
    let mut rng = rng();
    for variant in VARIANTS {
        // Linear 784 -> 400 at batch 128: X W^T + b then ReLU; dX = dY W (accumulating, as
        // when a tensor feeds several consumers); dW = dY^T X.
        let specs = [
            MatmulSpec::new(128, 400, 784, Form::NT).epilogue(Epilogue::BiasRelu),
            MatmulSpec::new(128, 784, 400, Form::NN).accumulate(true),
            MatmulSpec::new(400, 784, 128, Form::TN),
            // 400 -> 20 and its input gradient: narrow outputs, K = 20.
            MatmulSpec::new(128, 20, 400, Form::NT).epilogue(Epilogue::Bias),
            MatmulSpec::new(128, 400, 20, Form::NN),
            MatmulSpec::new(400, 20, 128, Form::TN),
        ];
        for spec in specs {
            check_f32(gpu, &mut rng, &spec.variant(variant));
        }
    }
}

#[test]
fn default_variant_is_chosen_by_adapter_and_shape() {
    let gpu = gpu();
    let variant = |m, n, k| matmul::Plan::new(gpu, &MatmulSpec::new(m, n, k, Form::NN)).variant;
    if gpu.is_cpu() {
        // Lanes along N unless lanes along M idle clearly fewer of them.
        assert_eq!(variant(1024, 1024, 1024), Variant::RegisterBlocked);
        assert_eq!(variant(400, 784, 128), Variant::RegisterBlocked);
        assert_eq!(variant(20, 400, 128), Variant::RegisterBlocked);
        assert_eq!(variant(128, 20, 400), Variant::RegisterBlockedTransposed);
        assert_eq!(variant(128, 400, 784), Variant::RegisterBlockedTransposed);
    } else {
        assert_eq!(variant(1024, 1024, 1024), Variant::Tiled);
    }
    check_f32(gpu, &mut rng(), &MatmulSpec::new(128, 20, 8, Form::NN));
}

#[test]
fn grid_folds_past_65535_workgroups() {
    let gpu = gpu();
    let mut rng = rng();
    // Register-blocked workgroups cover 32 rows (one column block when N is small), so
    // 2.1M rows need 65,625 workgroups: the grid is folded into y. Kept to a few million
    // elements: N = 2, K = 1. (The transposed orientation shares the kernel and its folding.)
    let spec = MatmulSpec::new(2_100_000, 2, 1, Form::NN)
        .epilogue(Epilogue::Bias)
        .variant(Variant::RegisterBlocked);
    let plan = matmul::Plan::new(gpu, &spec);
    assert!(plan.row_blocks * plan.col_blocks > 65_535, "{plan:?}");
    check_f32(gpu, &mut rng, &spec);

    // The tiled kernel folds its grid the same way; with 64-row tiles it needs 4.2M rows,
    // which takes ~10 s on lavapipe (65k workgroups of 256 invocations), so only on GPUs.
    if !gpu.is_cpu() {
        let spec = MatmulSpec::new(64 * 65_536 + 5, 1, 1, Form::NN).variant(Variant::Tiled);
        check_f32(gpu, &mut rng, &spec);
    }
}

/// f16 storage, f32 sums: inputs are rounded to f16 first, so the twin sees exactly what the
/// GPU reads; what remains is the single f16 rounding of each output (2^-11 relative) and f32
/// summation, well inside 1e-2.
fn check_f16(gpu: &Gpu, rng: &mut StdRng, spec: &MatmulSpec) {
    let round = |v: Vec<f32>| -> Vec<f32> {
        v.into_iter()
            .map(|x| half::f16::from_f32(x).to_f32())
            .collect()
    };
    let x = case(rng, spec);
    let x = Case {
        a: round(x.a),
        b: round(x.b),
        bias: round(x.bias),
        c_old: round(x.c_old),
    };
    let up = |v: &[f32]| {
        let h: Vec<half::f16> = v.iter().map(|&z| half::f16::from_f32(z)).collect();
        gpu.upload(&h).unwrap()
    };
    let (a, b, c, bias) = (up(&x.a), up(&x.b), up(&x.c_old), up(&x.bias));
    let bias = (spec.epilogue != Epilogue::None).then_some(&bias);
    let d = matmul::matmul_f16(gpu, spec, &a, &b, bias, &c).unwrap();
    gpu.run(&[&d]).unwrap();
    let got: Vec<half::f16> = gpu.download(&c).unwrap();
    let got: Vec<f32> = got.iter().map(|h| h.to_f32()).collect();
    let (want, atol) = expected(spec, &x);
    assert_close(&format!("f16 {spec:?}"), &got, &want, 1e-2, atol);
}

#[test]
fn f16_storage_matches_twin() {
    let gpu = gpu();
    if !gpu.has_f16() {
        eprintln!("skipped: '{}' has no SHADER_F16", gpu.info.name);
        return;
    }
    let mut rng = rng();
    // matmul_f16.wgsl is matmul.wgsl with f16 buffers: what differs is the conversions at
    // loads, stores and bias, so each path (exact vec4 / general scalar) and each kernel is
    // covered once rather than every form twice (each lavapipe pipeline costs 1-3 s of JIT).
    let cases = [
        // register-blocked: exact path (vec4 loads/stores) and general path (scalar, masked)
        (Variant::RegisterBlocked, Form::NT, (128, 400, 784)),
        (Variant::RegisterBlocked, Form::TN, (1, 1, 1)),
        (Variant::RegisterBlocked, Form::TN, (7, 13, 5)),
        (Variant::RegisterBlocked, Form::TN, (33, 65, 17)),
        // transposed orientation (its own stores)
        (Variant::RegisterBlockedTransposed, Form::NT, (128, 20, 400)),
        // tiled, every form
        (Variant::Tiled, Form::NN, (33, 65, 17)),
        (Variant::Tiled, Form::NT, (128, 400, 784)),
        (Variant::Tiled, Form::TN, (7, 13, 5)),
    ];
    for (i, (variant, form, (m, n, k))) in cases.into_iter().enumerate() {
        // Epilogue and accumulate rotate through their values.
        let spec = MatmulSpec::new(m, n, k, form)
            .epilogue(EPILOGUES[i % 3])
            .accumulate(i % 2 == 1)
            .variant(variant);
        check_f16(gpu, &mut rng, &spec);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let gpu = gpu();
    let f = |n: usize| gpu.zeros(n, DType::F32).unwrap();
    let (a, b, c, bias) = (f(6), f(12), f(8), f(4));
    let spec = MatmulSpec::new(2, 4, 3, Form::NN); // A [2,3], B [3,4], C [2,4]
    assert!(matmul::matmul(gpu, &spec, &a, &b, None, &c).is_ok());
    let shape = |r: shadergrad::Result<shadergrad::Dispatch>| {
        assert!(matches!(r, Err(Error::Shape(_))), "expected a shape error");
    };
    // Lengths that do not match the spec.
    shape(matmul::matmul(gpu, &spec, &f(7), &b, None, &c));
    shape(matmul::matmul(gpu, &spec, &a, &f(11), None, &c));
    shape(matmul::matmul(gpu, &spec, &a, &b, None, &f(9)));
    // NT with B given as [K,N] of the wrong total size.
    let nt = MatmulSpec::new(2, 5, 3, Form::NT);
    shape(matmul::matmul(gpu, &nt, &a, &b, None, &f(10)));
    // Bias: missing, unexpected, wrong length, wrong type.
    let with_bias = spec.epilogue(Epilogue::BiasRelu);
    shape(matmul::matmul(gpu, &with_bias, &a, &b, None, &c));
    shape(matmul::matmul(gpu, &spec, &a, &b, Some(&bias), &c));
    shape(matmul::matmul(gpu, &with_bias, &a, &b, Some(&f(3)), &c));
    let bias16 = gpu.zeros(4, DType::F16).unwrap();
    shape(matmul::matmul(gpu, &with_bias, &a, &b, Some(&bias16), &c));
    // f32 buffers into the f16 kernel.
    shape(matmul::matmul_f16(gpu, &spec, &a, &b, None, &c));
    // C aliasing an input.
    let square = MatmulSpec::new(2, 2, 2, Form::NN);
    let (x, y) = (f(4), f(4));
    shape(matmul::matmul(gpu, &square, &x, &y, None, &x));
    shape(matmul::matmul(gpu, &square, &x, &y, None, &y));
    // Empty dimensions.
    let empty = MatmulSpec::new(0, 4, 3, Form::NN);
    shape(matmul::matmul(gpu, &empty, &f(0), &b, None, &f(0)));
}

/// Linear y = x W^T + b is the NT form; its vector-Jacobian products are the NN and TN forms
/// (dx = dy W, dW = dy^T x) and the column sums of dy (db). All three must match central
/// differences of the f64 forward, and the GPU must compute the same NN/TN products.
#[test]
fn linear_backward_is_nn_and_tn_and_passes_gradcheck() {
    let mut rng = rng();
    let (batch, inp, out) = (3, 5, 4);
    let x = to_f64(&uniform(&mut rng, batch * inp, -1.0, 1.0));
    let w = to_f64(&uniform(&mut rng, out * inp, -1.0, 1.0));
    let b = to_f64(&uniform(&mut rng, out, -1.0, 1.0));
    let dy = to_f64(&uniform(&mut rng, batch * out, -1.0, 1.0));
    let fwd = MatmulSpec::new(batch, out, inp, Form::NT).epilogue(Epilogue::Bias);
    let linear = |x: &[f64], w: &[f64], b: &[f64]| cpu::matmul(&fwd, x, w, Some(b), &[]);

    // dL/dx = dy W: NN with A = dy [batch, out], B = W [out, in].
    let dx_spec = MatmulSpec::new(batch, inp, out, Form::NN);
    let dx = cpu::matmul(&dx_spec, &dy, &w, None, &[]);
    gradcheck("Linear dx", |x| linear(x, &w, &b), &x, &dy, &dx, 1e-5, 1e-7);
    // dL/dW = dy^T x: TN with A = dy [K = batch, M = out], B = x [batch, in].
    let dw_spec = MatmulSpec::new(out, inp, batch, Form::TN);
    let dw = cpu::matmul(&dw_spec, &dy, &x, None, &[]);
    gradcheck("Linear dW", |w| linear(&x, w, &b), &w, &dy, &dw, 1e-5, 1e-7);
    // dL/db = sum over the batch of dy.
    let db: Vec<f64> = (0..out)
        .map(|j| (0..batch).map(|i| dy[i * out + j]).sum())
        .collect();
    gradcheck("Linear db", |b| linear(&x, &w, b), &b, &dy, &db, 1e-5, 1e-7);

    // The GPU's NN and TN kernels give the same gradients.
    let gpu = gpu();
    let up = |v: &[f64]| {
        gpu.upload(&v.iter().map(|&z| z as f32).collect::<Vec<_>>())
            .unwrap()
    };
    for variant in VARIANTS {
        for (spec, a, bm, want) in [(dx_spec, &dy, &w, &dx), (dw_spec, &dy, &x, &dw)] {
            // Inputs stay bound to names until the run is submitted: a dropped Buf returns to
            // the pool, where a test running in parallel could refill it first.
            let (ab, bb) = (up(a), up(bm));
            let c = gpu.zeros(spec.c_len(), DType::F32).unwrap();
            let d = matmul::matmul(gpu, &spec.variant(variant), &ab, &bb, None, &c);
            gpu.run(&[&d.unwrap()]).unwrap();
            let got: Vec<f32> = gpu.download(&c).unwrap();
            let atol = cancel_atol(&spec, a, bm);
            assert_close(&format!("GPU {variant:?} {spec:?}"), &got, want, 1e-4, atol);
        }
    }
}
