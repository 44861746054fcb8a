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

/// Directions drawn per check in search of one that crosses no kink (see below).
const REDRAWS: usize = 8;

/// Fractions of the check's step tried along a direction, largest first (see below).
const STEP_LADDER: [f32; 3] = [1.0, 1.0 / 3.0, 1.0 / 10.0];

/// The directional check itself: `train` (compiled with backward) fills the gradients in
/// `store`; `eval` (the same graph, forward only) gives the scalar metric `metric` for
/// central differences along random directions of each parameter in `params`
/// (name, shape, current values).
///
/// Kinks (ReLU, max pool, a nearest neighbour switching) bias a difference quotient: a kink
/// a distance t into a step of h, where the slope changes by s, moves the one-sided
/// quotient on its side by s (h - t) / h and the central difference by half that. A deep
/// network normalising small batches crosses so many that the central difference's error
/// grows about linearly with h, while f32 rounding of the loss makes it grow as 1 / h; and
/// kinks on both sides can bias both one-sided quotients alike, so their agreement alone
/// does not show a smooth step. Along each direction the check therefore walks down
/// STEP_LADDER and uses the first step whose central difference moved from the previous
/// step's by at most half the allowed error (it has converged) and whose one-sided
/// quotients (L(p + hv) - L(p)) / h and (L(p) - L(p - hv)) / h agree within it. A
/// direction that converges at no step is replaced (up to REDRAWS); if none does, the
/// smoothest (direction, step) seen is checked.
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
        let base = loss_of(eval);
        // L at p + sign * h * v.
        let loss_at = |v: &[f32], h: f32, sign: f32| -> f64 {
            let moved: Vec<f32> = values
                .iter()
                .zip(v)
                .map(|(&p, &dv)| p + sign * h * dv)
                .collect();
            gpu.write(&view, &moved).unwrap();
            let loss = loss_of(eval);
            gpu.write(&view, values).unwrap();
            loss
        };
        for d in 0..c.directions {
            // (roughness, central difference, backward's g . v, allowed error)
            let mut smoothest: Option<(f64, f64, f64, f64)> = None;
            'directions: for _ in 0..REDRAWS {
                let v = uniform(rng, values.len(), -1.0, 1.0);
                let vnorm = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
                let analytic: f64 = grad
                    .iter()
                    .zip(&v)
                    .map(|(&g, &x)| g as f64 * x as f64)
                    .sum();
                let mut previous_central = None;
                for fraction in STEP_LADDER {
                    let step = c.h * fraction;
                    let (up, down) = (loss_at(&v, step, 1.0), loss_at(&v, step, -1.0));
                    let h = step as f64;
                    // The f32 loss is known to a few 1e-7 of its size (rounding over a few
                    // hundred summed terms; measured: about 2e-7), which bounds how well a
                    // difference resolves it.
                    let resolution = 3e-7 * (up.abs() + down.abs()) / (2.0 * h);
                    let (forward, backward) = ((up - base) / h, (base - down) / h);
                    let central = (forward + backward) / 2.0;
                    let allowed = c.rtol * analytic.abs() + c.atol_rel * gnorm * vnorm + resolution;
                    if let Some(previous) = previous_central {
                        let drift: f64 = (central - previous) / (allowed / 2.0);
                        let roughness = drift.abs().max((forward - backward).abs() / allowed);
                        if smoothest.is_none_or(|s| roughness < s.0) {
                            smoothest = Some((roughness, central, analytic, allowed));
                        }
                        if roughness <= 1.0 {
                            break 'directions;
                        }
                    }
                    previous_central = Some(central);
                }
            }
            let (_, numeric, analytic, allowed) = smoothest.unwrap();
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
