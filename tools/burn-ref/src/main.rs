//! burn-ref: a Burn producer of `shadergrad verify` files, the Burn twin of
//! tools/pytorch/make_reference.py.
//!
//! It reads W (weights.safetensors, PyTorch `state_dict` names and layouts, f32) and I
//! (inputs.safetensors: `x` [B, 784], `eps` [B, D], `labels` [B] i64 for vib), runs one
//! training forward + backward of the model with Burn's autodiff on the NdArray CPU backend, and
//! writes R (f32) under the names `shadergrad verify` uses: `loss`, `metric.<name>` (batch sums),
//! `act.<name>`, `grad.<param>` and, for bn-vae, `state.<bn>.running_{mean,var}`.
//! The math is make_reference.py's, formula for formula (its docstring lists it).
//!
//! Shapes: B batch (8 in the fixtures), D latent (vae/bn-vae 20, vib 256); a Linear `fc.weight`
//! is [out, in] as in PyTorch, so `linear(x) = x W^T + b` with x [B, in].
//!
//! Usage: burn-ref --model vae|vib|bn-vae --weights W --inputs I --out R [--f64]
//! (`--f64` runs the step in float64, as the PyTorch reference does; the default is float32.)

use std::collections::{BTreeMap, HashMap};

use burn::tensor::activation::{log_softmax, relu, sigmoid, softplus};
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

type Res<T> = Result<T, String>;

/// Leaf tensors by PyTorch name: parameters (gradients wanted) and batch-norm buffers.
struct Weights {
    mats: BTreeMap<String, Tensor<2>>,
    vecs: BTreeMap<String, Tensor<1>>,
    buffers: BTreeMap<String, Tensor<1>>,
}

impl Weights {
    fn w(&self, name: &str) -> Tensor<2> {
        self.mats[name].clone()
    }
    fn v(&self, name: &str) -> Tensor<1> {
        self.vecs[name].clone()
    }
    /// PyTorch nn.Linear: x [B, in] -> x W^T + b, W [out, in], b [out].
    fn linear(&self, layer: &str, x: Tensor<2>) -> Tensor<2> {
        let w = self.w(&format!("{layer}.weight"));
        let b = self.v(&format!("{layer}.bias"));
        x.matmul(w.transpose()) + b.unsqueeze::<2>()
    }
}

/// R under construction: name -> (shape, f32 values).
#[derive(Default)]
struct Out(BTreeMap<String, (Vec<usize>, Vec<f32>)>);

impl Out {
    fn put<const D: usize>(&mut self, name: &str, t: &Tensor<D>) {
        let shape = t.dims().to_vec();
        let data = t.clone().detach().into_data().convert::<f32>();
        self.0
            .insert(name.into(), (shape, data.try_to_vec::<f32>().unwrap()));
    }
    /// A one-element tensor written as a scalar (shape []), as PyTorch writes `loss`.
    fn scalar(&mut self, name: &str, t: &Tensor<1>) {
        self.put(name, t);
        self.0.get_mut(name).unwrap().0.clear();
    }
    /// Rows of a [B, 1] column as a [B] vector.
    fn col(&mut self, name: &str, t: &Tensor<2>) {
        self.put(name, t);
        self.0.get_mut(name).unwrap().0.truncate(1);
    }
}

struct Ctx {
    device: Device,
    dtype: DType,
}

impl Ctx {
    fn tensor<const D: usize>(&self, values: Vec<f32>, shape: &[usize]) -> Tensor<D> {
        let data = match self.dtype {
            DType::F64 => TensorData::new(
                values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                shape.to_vec(),
            ),
            _ => TensorData::new(values, shape.to_vec()),
        };
        Tensor::from_data(data, (&self.device, self.dtype))
    }
}

fn read(path: &str) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn f32s(st: &SafeTensors, name: &str) -> Res<(Vec<usize>, Vec<f32>)> {
    let t = st
        .tensor(name)
        .map_err(|e| format!("tensor '{name}': {e}"))?;
    if t.dtype() != Dtype::F32 {
        return Err(format!("tensor '{name}' is {:?}, expected F32", t.dtype()));
    }
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
    Ok((t.shape().to_vec(), v.collect()))
}

fn load_weights(ctx: &Ctx, st: &SafeTensors) -> Res<Weights> {
    let mut w = Weights {
        mats: BTreeMap::new(),
        vecs: BTreeMap::new(),
        buffers: BTreeMap::new(),
    };
    for name in st.names() {
        let name = name.to_string();
        if !matches!(st.tensor(&name).map(|t| t.dtype()), Ok(Dtype::F32)) {
            continue; // num_batches_tracked (i64) is not used
        }
        let (shape, v) = f32s(st, &name)?;
        let is_buffer = name.contains(".running_");
        match shape.len() {
            2 => drop(w.mats.insert(name, ctx.tensor(v, &shape).require_grad())),
            1 if is_buffer => drop(w.buffers.insert(name, ctx.tensor(v, &shape))),
            1 => drop(w.vecs.insert(name, ctx.tensor(v, &shape).require_grad())),
            _ => {
                return Err(format!(
                    "weight '{name}' has shape {shape:?}; expected 1-D or 2-D"
                ))
            }
        }
    }
    Ok(w)
}

/// 0.5 sum_d (mu^2 + exp(logvar) - 1 - logvar): [B, D] -> [B, 1].
fn kl_logvar(mu: &Tensor<2>, logvar: &Tensor<2>) -> Tensor<2> {
    let t = mu.clone().powi_scalar(2) + logvar.clone().exp() - logvar.clone();
    t.sub_scalar(1.0).sum_dim(1).mul_scalar(0.5)
}

/// The vae tail shared with bn-vae: reparameterise, decode, BCE-with-logits, KL. Returns loss.
fn decode_loss(
    p: &Weights,
    x: &Tensor<2>,
    mu: Tensor<2>,
    logvar: Tensor<2>,
    eps: Tensor<2>,
    out: &mut Out,
) -> Tensor<1> {
    let z = mu.clone() + logvar.clone().div_scalar(2.0).exp() * eps;
    let kl = kl_logvar(&mu, &logvar);
    let h3 = relu(p.linear("fc3", z.clone()));
    let logits = p.linear("fc4", h3.clone());
    // PyTorch's stable form: max(l, 0) - l x + log(1 + exp(-|l|))
    let bce = relu(logits.clone()) - logits.clone() * x.clone()
        + logits.clone().abs().neg().exp().log1p();
    let rec = bce.sum_dim(1);
    let loss = (rec.clone() + kl.clone()).sum();
    for (n, t) in [
        ("mu", &mu),
        ("logvar", &logvar),
        ("z", &z),
        ("h3", &h3),
        ("logits", &logits),
    ] {
        out.put(&format!("act.{n}"), t);
    }
    out.col("act.kl", &kl);
    out.col("act.rec", &rec);
    out.scalar("metric.loss", &loss);
    out.scalar("metric.kl", &kl.sum());
    loss
}

fn vae(p: &Weights, x: &Tensor<2>, eps: Tensor<2>, out: &mut Out) -> Tensor<1> {
    let h = relu(p.linear("fc1", x.clone()));
    out.put("act.h", &h);
    let mu = p.linear("fc21", h.clone());
    let logvar = p.linear("fc22", h);
    decode_loss(p, x, mu, logvar, eps, out)
}

fn vib(p: &Weights, x: &Tensor<2>, eps: Tensor<2>, onehot: Tensor<2>, out: &mut Out) -> Tensor<1> {
    let h1 = relu(p.linear("fc1", x.clone()));
    let h2 = relu(p.linear("fc2", h1.clone()));
    let mu = p.linear("fc_mu", h2.clone());
    let rho = p.linear("fc_rho", h2.clone());
    let sigma = softplus(rho.clone().sub_scalar(5.0), 1.0);
    let z = mu.clone() + sigma.clone() * eps;
    let s2 = sigma.clone().powi_scalar(2);
    let kl = (mu.clone().powi_scalar(2) + s2.clone() - s2.log())
        .sub_scalar(1.0)
        .sum_dim(1)
        .mul_scalar(0.5);
    let logits = p.linear("decoder", z.clone());
    let ce = (log_softmax(logits.clone(), 1) * onehot).sum_dim(1).neg(); // -log p(label)
    let per_sample = ce.clone() + kl.clone().mul_scalar(1e-3);
    for (n, t) in [
        ("h1", &h1),
        ("h2", &h2),
        ("mu", &mu),
        ("rho", &rho),
        ("sigma", &sigma),
    ] {
        out.put(&format!("act.{n}"), t);
    }
    out.put("act.z", &z);
    out.put("act.logits", &logits);
    out.col("act.kl", &kl);
    out.col("act.ce", &ce);
    out.scalar("metric.loss", &per_sample.clone().sum());
    out.scalar("metric.kl", &kl.sum());
    per_sample.mean()
}

/// Batch norm without affine, train mode: (v - mean) / sqrt(var_biased + 1e-5) over the batch.
/// Also writes the running statistics PyTorch keeps after the step (momentum 0.1, unbiased var).
fn batch_norm(p: &Weights, bn: &str, v: Tensor<2>, out: &mut Out) -> Tensor<2> {
    let b = v.dims()[0] as f64;
    let mean = v.clone().mean_dim(0);
    let centred = v - mean.clone();
    let var = centred.clone().powi_scalar(2).mean_dim(0);
    let rm = p.buffers[&format!("{bn}.running_mean")].clone();
    let rv = p.buffers[&format!("{bn}.running_var")].clone();
    let new_rm = rm.mul_scalar(0.9) + mean.detach().reshape([-1]).mul_scalar(0.1);
    let new_rv = rv.mul_scalar(0.9)
        + var
            .clone()
            .detach()
            .reshape([-1])
            .mul_scalar(0.1 * b / (b - 1.0));
    out.put(&format!("state.{bn}.running_mean"), &new_rm);
    out.put(&format!("state.{bn}.running_var"), &new_rv);
    centred / var.add_scalar(1e-5).sqrt()
}

fn bn_vae(p: &Weights, x: &Tensor<2>, eps: Tensor<2>, out: &mut Out) -> Tensor<1> {
    let tau = 0.5;
    let h = relu(p.linear("fc1", x.clone()));
    let mu_raw = p.linear("fc21", h.clone());
    let lv_raw = p.linear("fc22", h.clone());
    let theta = p.v("theta");
    let gamma_mu = sigmoid(theta.clone())
        .mul_scalar(1.0 - tau)
        .add_scalar(tau)
        .sqrt();
    let gamma_sigma = sigmoid(theta.neg()).mul_scalar(1.0 - tau).sqrt();
    let mu = batch_norm(p, "mu_bn", mu_raw.clone(), out) * gamma_mu.clone().unsqueeze::<2>();
    let logvar =
        batch_norm(p, "logvar_bn", lv_raw.clone(), out) * gamma_sigma.clone().unsqueeze::<2>();
    let b = x.dims()[0] as f64;
    out.put("act.h", &h);
    out.put("act.mu_raw", &mu_raw);
    out.put("act.logvar_raw", &lv_raw);
    out.put("act.gamma_mu", &gamma_mu);
    out.put("act.gamma_sigma", &gamma_sigma);
    out.scalar(
        "metric.kl_bound",
        &gamma_mu.powi_scalar(2).sum().mul_scalar(0.5 * b),
    );
    decode_loss(p, x, mu, logvar, eps, out)
}

fn run(args: &HashMap<String, String>) -> Res<()> {
    let arg = |k: &str| {
        args.get(k)
            .cloned()
            .ok_or(format!("missing --{k}; usage: {USAGE}"))
    };
    let model = arg("model")?;
    #[allow(deprecated)] // burn 0.22 deprecates NdArray in favour of Flex; it still works
    let device = Device::ndarray().autodiff();
    let dtype = if args.contains_key("f64") {
        DType::F64
    } else {
        DType::F32
    };
    let ctx = Ctx { device, dtype };

    let (wb, ib) = (read(&arg("weights")?)?, read(&arg("inputs")?)?);
    let ws = SafeTensors::deserialize(&wb).map_err(|e| format!("weights: {e}"))?;
    let is = SafeTensors::deserialize(&ib).map_err(|e| format!("inputs: {e}"))?;
    let p = load_weights(&ctx, &ws)?;
    let (xs, xv) = f32s(&is, "x")?;
    let (es, ev) = f32s(&is, "eps")?;
    let x: Tensor<2> = ctx.tensor(xv, &xs);
    let eps: Tensor<2> = ctx.tensor(ev, &es);

    let mut out = Out::default();
    let loss = match model.as_str() {
        "vae" => vae(&p, &x, eps, &mut out),
        "bn-vae" => bn_vae(&p, &x, eps, &mut out),
        "vib" => {
            let t = is.tensor("labels").map_err(|e| format!("labels: {e}"))?;
            let labels: Vec<i64> = t
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let classes = p.mats["decoder.weight"].dims()[0];
            let mut oh = vec![0f32; labels.len() * classes];
            for (i, &l) in labels.iter().enumerate() {
                oh[i * classes + l as usize] = 1.0;
            }
            let onehot = ctx.tensor(oh, &[labels.len(), classes]);
            vib(&p, &x, eps, onehot, &mut out)
        }
        m => return Err(format!("unknown model '{m}'; available: vae, vib, bn-vae")),
    };
    out.scalar("loss", &loss);

    let grads = loss.backward();
    for (name, t) in &p.mats {
        let g = t.grad(&grads).unwrap_or_else(|| t.zeros_like());
        out.put(&format!("grad.{name}"), &g);
    }
    for (name, t) in &p.vecs {
        let g = t.grad(&grads).unwrap_or_else(|| t.zeros_like());
        out.put(&format!("grad.{name}"), &g);
    }

    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = out
        .0
        .into_iter()
        .map(|(n, (s, v))| (n, s, v.iter().flat_map(|f| f.to_le_bytes()).collect()))
        .collect();
    let views = bytes.iter().map(|(n, s, b)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
        )
    });
    let meta = HashMap::from([
        ("model".to_string(), model.clone()),
        (
            "producer".to_string(),
            "burn 0.22 (ndarray, autodiff)".to_string(),
        ),
        ("precision".to_string(), format!("{dtype:?} -> F32")),
    ]);
    let path = arg("out")?;
    safetensors::serialize_to_file(views, Some(meta), path.as_ref())
        .map_err(|e| format!("{path}: {e}"))?;
    println!("{model}: {} tensors -> {path}", bytes.len());
    Ok(())
}

const USAGE: &str = "burn-ref --model vae|vib|bn-vae --weights W --inputs I --out R [--f64]";

fn main() {
    let mut args = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let key = a.trim_start_matches("--").to_string();
        let val = if key == "f64" {
            String::new()
        } else {
            it.next().unwrap_or_default()
        };
        args.insert(key, val);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
