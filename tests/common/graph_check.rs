//! Graph-level gradient check: does an op's backward rule, as wired by the graph (buffers,
//! accumulate flags, shapes), give the derivative of its forward? The kernels' own f64 twins
//! check the arithmetic; this checks the plumbing on the GPU, in f32.
//!
//! The op's differentiable inputs are declared as parameters; the scalar checked is
//! L = sum(y * r) for a fixed random probe r of y's shape. For each parameter, a few random
//! directions v compare the backward's g . v with the central difference
//! (L(p + h v) - L(p - h v)) / 2h of a forward-only program on the same graph and step.
//! Directional checks keep the forward count small and stay robust in f32: a wrong buffer or
//! a missing accumulate gives errors of order 100%, far above the tolerance.
#![allow(dead_code)]

use rand::rngs::StdRng;
use shadergrad::graph::{Graph, Program, Role, T};
use shadergrad::kernels::elementwise::Binary;
use shadergrad::kernels::reduce::{Axis, Op as ReduceOp};
use shadergrad::nn::params::{Init, ParamSpec, ParamStore};
use shadergrad::Result;

use super::{gpu, uniform};

/// One input of the op under test, declared as a learned parameter.
pub struct Input {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Input {
    /// Values uniform in [lo, hi).
    pub fn uniform(
        rng: &mut StdRng,
        name: &'static str,
        shape: &[usize],
        lo: f32,
        hi: f32,
    ) -> Input {
        let n = shape.iter().product();
        Input {
            name,
            shape: shape.to_vec(),
            values: uniform(rng, n, lo, hi),
        }
    }
}

/// Settings of a check: step `h` along unit-scale directions, `directions` per input,
/// relative tolerance `rtol` on g . v, plus `atol_rel` * |g| |v| for directions whose
/// dot product cancels.
pub struct Check {
    pub h: f32,
    pub directions: usize,
    pub rtol: f64,
    pub atol_rel: f64,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            h: 1e-2,
            directions: 3,
            rtol: 2e-2,
            atol_rel: 2e-3,
        }
    }
}

/// Build the op under test on parameters `ts` (in the order of `inputs`); return its output.
pub type BuildOp<'a> = &'a dyn Fn(&mut Graph, &[T]) -> Result<T>;

fn build(inputs: &[Input], op: BuildOp, probe: &[f32]) -> Graph {
    let mut g = Graph::new();
    let ts: Vec<T> = inputs.iter().map(|i| g.param(i.name, &i.shape)).collect();
    let y = op(&mut g, &ts).expect("the op under test builds");
    let shape = g.shape(y).to_vec();
    let r = g
        .constant("probe", &shape, probe.to_vec())
        .expect("probe fits");
    let prod = g.binary(Binary::Mul, y, r).expect("same shapes");
    let loss = g.reduce(prod, Axis::All, ReduceOp::Sum);
    g.metric("loss", loss).unwrap();
    g.set_loss(loss).unwrap();
    g
}

/// Persistent state the graph declares (batch-norm running statistics), initialised as
/// PyTorch does: running_var 1, everything else 0.
fn state_specs(g: &Graph) -> Vec<ParamSpec> {
    g.tensors
        .iter()
        .filter(|t| t.role == Role::State)
        .map(|t| {
            let v = if t.name.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            ParamSpec::new(&t.name, &t.shape, Init::Const(v))
        })
        .collect()
}

/// Check every input's gradient of `op` (see the module comment). Panics naming the input.
pub fn check_op_gradients(what: &str, rng: &mut StdRng, inputs: &[Input], op: BuildOp, c: &Check) {
    let gpu = gpu();
    // The probe has y's shape, known once the op is built.
    let probe_len = {
        let mut g = Graph::new();
        let ts: Vec<T> = inputs.iter().map(|i| g.param(i.name, &i.shape)).collect();
        let y = op(&mut g, &ts).expect("the op under test builds");
        g.info(y).len()
    };
    let probe = uniform(rng, probe_len, -1.0, 1.0);
    let train_graph = build(inputs, op, &probe);
    let specs: Vec<ParamSpec> = inputs
        .iter()
        .map(|i| ParamSpec::new(i.name, &i.shape, Init::Values(i.values.clone())))
        .collect();
    let store = ParamStore::new(gpu, &specs, &state_specs(&train_graph), rng).unwrap();
    let train = Program::compile(gpu, train_graph, &store, true).unwrap();
    let eval = Program::compile(gpu, build(inputs, op, &probe), &store, false).unwrap();
    let params: Vec<(String, Vec<usize>, Vec<f32>)> = inputs
        .iter()
        .map(|i| (i.name.to_string(), i.shape.clone(), i.values.clone()))
        .collect();
    check_directions(what, rng, &store, &train, &eval, "loss", &params, c);
}

/// The directional check itself: `train` (compiled with backward) fills the gradients in
/// `store`; `eval` (the same graph, forward only) gives the scalar metric `metric` for
/// central differences along random directions of each parameter in `params`
/// (name, shape, current values).
#[allow(clippy::too_many_arguments)]
pub fn check_directions(
    what: &str,
    rng: &mut StdRng,
    store: &ParamStore,
    train: &Program,
    eval: &Program,
    metric: &str,
    params: &[(String, Vec<usize>, Vec<f32>)],
    c: &Check,
) {
    let gpu = gpu();
    let loss_of = |program: &Program| -> f64 {
        let acc = program.buf_named(&format!("metric:{metric}")).unwrap();
        gpu.write(acc, &[0.0f32]).unwrap();
        program.step(gpu, 0, &[]).unwrap();
        gpu.download::<f32>(acc).unwrap()[0] as f64
    };
    loss_of(train);
    let mut failures = Vec::new();
    for (name, shape, values) in params {
        let view = store.param_view(gpu, name, shape).unwrap();
        let grad: Vec<f32> = gpu
            .download(&store.grad_view(gpu, name, shape).unwrap())
            .unwrap();
        let gnorm = grad.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        for d in 0..c.directions {
            // A direction along which the one-sided quotients (L(p + hv) - L(p)) / h and
            // (L(p) - L(p - hv)) / h disagree crosses a kink within the step (ReLU, max pool,
            // a nearest neighbour switching), where a central difference says nothing about
            // the derivative: draw another (up to 5).
            let mut checked = None;
            let base = loss_of(eval);
            for _ in 0..5 {
                let v = uniform(rng, values.len(), -1.0, 1.0);
                let moved = |sign: f32| -> Vec<f32> {
                    values
                        .iter()
                        .zip(&v)
                        .map(|(&p, &dv)| p + sign * c.h * dv)
                        .collect()
                };
                gpu.write(&view, &moved(1.0)).unwrap();
                let up = loss_of(eval);
                gpu.write(&view, &moved(-1.0)).unwrap();
                let down = loss_of(eval);
                gpu.write(&view, values).unwrap();
                let h = c.h as f64;
                // The f32 loss is known to about 1e-6 of its size (rounding over a few
                // hundred summed terms), which bounds how well a difference resolves it.
                let resolution = 1e-6 * (up.abs() + down.abs()) / (2.0 * h);
                let (forward, backward) = ((up - base) / h, (base - down) / h);
                let numeric = (forward + backward) / 2.0;
                let vnorm = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
                let analytic: f64 = grad
                    .iter()
                    .zip(&v)
                    .map(|(&g, &x)| g as f64 * x as f64)
                    .sum();
                let allowed = c.rtol * analytic.abs() + c.atol_rel * gnorm * vnorm + resolution;
                checked = Some((numeric, analytic, allowed));
                if (forward - backward).abs() <= allowed + 4.0 * resolution {
                    break;
                }
            }
            let (numeric, analytic, allowed) = checked.unwrap();
            if !((numeric - analytic).abs() <= allowed && analytic.is_finite()) {
                failures.push(format!(
                    "d/d{name} along direction {d}: backward gives {analytic}, central \
                     difference {numeric} (allowed error {allowed})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}
