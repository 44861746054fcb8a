//! shadergrad as a reference backend: replay another framework's training step exactly
//! (`shadergrad verify`) and compare tensor files (`shadergrad compare`, in `compare`).
//!
//! `run` takes the parameters W (PyTorch state_dict names, as checkpoints use) and the inputs I
//! (the batch "x" [B, 784] f32, "labels" [B] integer when the model uses them, and the noise of
//! every reparameterised head: "eps" [B, D] for the first, "eps.<k>" for the k-th), runs one
//! training forward and backward (batch norm in train mode, on batch statistics, as PyTorch's
//! `.train()`), and returns:
//!   act.<name>    every activation the model names (`Graph::name`)
//!   metric.<name> the loss terms the model reports (sums over the batch)
//!   loss          the scalar that was differentiated
//!   grad.<param>  the gradient of `loss` for every parameter, by PyTorch name
//!   state.<name>  persistent state after the step (batch-norm running statistics)
//! No optimizer step is taken.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;

use crate::data::dataset::ImageShape;
use crate::graph::{Program, Role, T};
use crate::models::{self, GraphKind};
use crate::nn::params::ParamStore;
use crate::train::checkpoint::{Data, Tensor, TensorFile};
use crate::{DType, Error, Gpu, Result};

pub mod compare;

/// The result of `run`: the tensors for R, and the input names the model did not read.
pub struct Verified {
    pub out: TensorFile,
    pub ignored: Vec<String>,
}

/// The image shape a batch of shape `x` holds: [B, C, H, W] as given; flat [B, F] rows are
/// MNIST (784) or CIFAR-10 (3072) images, anything else F pixels of one channel.
fn image_shape(x: &[usize]) -> ImageShape {
    match *x {
        [_, channels, height, width] => ImageShape {
            channels,
            height,
            width,
        },
        [_, 3072] => ImageShape::CIFAR10,
        [_, f] if f != 784 => ImageShape {
            channels: 1,
            height: 1,
            width: f,
        },
        _ => ImageShape::MNIST,
    }
}

/// One forward and backward of `model` on `weights` and `inputs` (see the module docs).
pub fn run(gpu: &Gpu, model: &str, weights: &TensorFile, inputs: &TensorFile) -> Result<Verified> {
    let x = inputs.tensors.get("x").ok_or_else(|| {
        Error::Data("the inputs file has no 'x' (the batch, [B, 784] f32)".into())
    })?;
    let model = models::by_name(model, image_shape(&x.shape))?;
    let batch =
        *x.shape.first().filter(|&&b| b > 0).ok_or_else(|| {
            Error::Data(format!("'x' has shape {:?}; expected [B, ...]", x.shape))
        })?;
    // Weights come from W; the init seed only fills what W then overwrites.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let store = ParamStore::new(gpu, &model.params(), &model.state(), &mut rng)?;
    store.load_tensor_file(gpu, weights)?;

    let mut graph = model.build(GraphKind::Train, batch, 0)?.graph;
    graph.noise_from_inputs()?;
    let loss = graph
        .loss
        .ok_or_else(|| Error::Config(format!("model '{}' has no loss", model.name())))?;
    let mut exported: BTreeMap<String, T> = BTreeMap::from([("loss".to_string(), loss)]);
    for (name, t) in graph.named.clone() {
        if exported.insert(format!("act.{name}"), t).is_some() {
            return Err(Error::Config(format!(
                "model '{}' names two activations '{name}'",
                model.name()
            )));
        }
    }
    for t in exported.values() {
        // Keep the tensor's buffer out of the memory plan so it survives the step.
        if graph.tensors[t.index()].role == Role::Transient {
            graph.tensors[t.index()].role = Role::Output;
        }
    }
    let program = Program::compile(gpu, graph, &store, true)?;
    let ignored = write_inputs(gpu, &program, inputs)?;
    program.step(gpu, 0, &[])?;

    let mut out = TensorFile::default();
    for (key, t) in &exported {
        let v: Vec<f32> = gpu.download(program.buf(*t)?)?;
        // The loss is a 0-d scalar, as in PyTorch.
        let shape = match key.as_str() {
            "loss" => vec![],
            _ => program.graph.info(*t).shape.clone(),
        };
        out.insert(key.clone(), Tensor::f32(shape, v));
    }
    for (name, _) in &program.graph.metrics {
        let v: Vec<f32> = gpu.download(program.buf_named(&format!("metric:{name}"))?)?;
        out.insert(format!("metric.{name}"), Tensor::f32(vec![], vec![v[0]]));
    }
    for p in model.params() {
        let v: Vec<f32> = gpu.download(&store.grad_view(gpu, &p.name, &p.shape)?)?;
        out.insert(format!("grad.{}", p.name), Tensor::f32(p.shape.clone(), v));
    }
    let all = store.to_tensor_file(gpu)?;
    for s in model.state() {
        let t = all.get(&s.name, &s.shape)?.clone();
        out.insert(format!("state.{}", s.name), t);
    }
    out.metadata.insert("model".into(), model.name().into());
    out.metadata.insert(
        "producer".into(),
        format!("shadergrad {}", env!("CARGO_PKG_VERSION")),
    );
    out.metadata.insert("adapter".into(), gpu.describe());
    Ok(Verified { out, ignored })
}

/// `shadergrad verify`: `run` on files, write R atomically, and say what was written.
pub fn verify_files(
    gpu: &Gpu,
    model: &str,
    weights: &Path,
    inputs: &Path,
    out: &Path,
) -> Result<()> {
    let v = run(
        gpu,
        model,
        &TensorFile::load(weights)?,
        &TensorFile::load(inputs)?,
    )?;
    if !v.ignored.is_empty() {
        eprintln!(
            "note: {} not read by model '{model}': {}",
            inputs.display(),
            v.ignored.join(", ")
        );
    }
    v.out.save_atomic(out)?;
    let count = |p: &str| v.out.tensors.keys().filter(|k| k.starts_with(p)).count();
    println!(
        "{model} on {}: wrote {} activations, {} metrics, the loss, {} gradients and {} state \
         tensors to {}",
        gpu.describe(),
        count("act."),
        count("metric."),
        count("grad."),
        count("state."),
        out.display()
    );
    Ok(())
}

/// Upload every graph input from `inputs`, checking names, shapes and types; returns the
/// names in `inputs` that no graph input reads.
fn write_inputs(gpu: &Gpu, program: &Program, inputs: &TensorFile) -> Result<Vec<String>> {
    let mut used = Vec::new();
    for info in program
        .graph
        .tensors
        .iter()
        .filter(|t| t.role == Role::Input)
    {
        let name = &info.name;
        let what = match name.as_str() {
            "x" => "the batch".to_string(),
            "labels" => "the class labels".to_string(),
            n if n.starts_with("eps") => format!("the noise of head '{n}'"),
            _ => "an input of the model".to_string(),
        };
        let t = inputs.tensors.get(name).ok_or_else(|| {
            Error::Data(format!(
                "the inputs file has no '{name}' ({what}, shape {:?})",
                info.shape
            ))
        })?;
        if t.shape != info.shape {
            return Err(Error::Data(format!(
                "input '{name}' has shape {:?} but the model needs {:?} for a batch of {}",
                t.shape, info.shape, info.shape[0]
            )));
        }
        let buf = program.buf_named(name)?;
        match (info.dtype, &t.data) {
            (DType::F32, Data::F32(v)) => gpu.write(buf, v)?,
            (DType::U32, data) => gpu.write(buf, &labels(name, data)?)?,
            (DType::F32, Data::I64(_)) => {
                return Err(Error::Data(format!(
                    "input '{name}' holds integers; {what} must be float32"
                )))
            }
            (other, _) => {
                return Err(Error::Config(format!(
                    "input '{name}' has unsupported dtype {other:?}"
                )))
            }
        }
        used.push(name.clone());
    }
    Ok(inputs
        .tensors
        .keys()
        .filter(|k| !used.contains(k))
        .cloned()
        .collect())
}

/// Class labels as u32, from integers (PyTorch's int64) or integral floats, in 0..10.
fn labels(name: &str, data: &Data) -> Result<Vec<u32>> {
    let classes = crate::data::mnist::CLASSES as i64;
    let raw: Vec<i64> = match data {
        Data::I64(v) => v.clone(),
        Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
    };
    let exact = match data {
        Data::F32(v) => v.iter().zip(&raw).all(|(&f, &i)| f == i as f32),
        Data::I64(_) => true,
    };
    match raw.iter().find(|&&l| !(0..classes).contains(&l)) {
        Some(bad) => Err(Error::Data(format!(
            "input '{name}' holds {bad}; labels must lie in 0..{classes}"
        ))),
        None if !exact => Err(Error::Data(format!(
            "input '{name}' holds non-integer values; labels must be integers"
        ))),
        None => Ok(raw.iter().map(|&l| l as u32).collect()),
    }
}
