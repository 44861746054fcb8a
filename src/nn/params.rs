//! A model's parameters in one device arena (and their gradients in a second), so a single
//! optimizer dispatch updates them all; plus named persistent state (batch-norm running
//! statistics). Names follow PyTorch's state_dict (`fc1.weight` is [out, in]).
//!
//! Each tensor starts at an offset aligned to the adapter's storage-offset alignment so it
//! can be bound as a view.

use std::collections::BTreeMap;

use crate::train::checkpoint::{Tensor, TensorFile};
use crate::{Buf, DType, Error, Gpu, Result};

/// How a parameter or state tensor starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// U(-bound, bound): PyTorch's Linear default is bound = 1/sqrt(fan_in) for weight and bias.
    Uniform(f32),
    Const(f32),
    Values(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ParamSpec {
    pub fn new(name: &str, shape: &[usize], init: Init) -> ParamSpec {
        ParamSpec {
            name: name.to_string(),
            shape: shape.to_vec(),
            init,
        }
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn values(&self, rng: &mut impl rand::Rng) -> Vec<f32> {
        match &self.init {
            Init::Uniform(b) => (0..self.len())
                .map(|_| rng.random_range(-*b..=*b))
                .collect(),
            Init::Const(c) => vec![*c; self.len()],
            Init::Values(v) => v.clone(),
        }
    }
}

/// The two specs of a PyTorch `nn.Linear(fan_in, fan_out)` named `prefix`.
pub fn linear_specs(prefix: &str, fan_in: usize, fan_out: usize) -> [ParamSpec; 2] {
    // kaiming_uniform(a = sqrt(5)) gives bound = gain * sqrt(3 / fan_in) with
    // gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), i.e. 1/sqrt(fan_in); the bias uses the same bound.
    let bound = 1.0 / (fan_in as f32).sqrt();
    [
        ParamSpec::new(
            &format!("{prefix}.weight"),
            &[fan_out, fan_in],
            Init::Uniform(bound),
        ),
        ParamSpec::new(&format!("{prefix}.bias"), &[fan_out], Init::Uniform(bound)),
    ]
}

/// `linear_specs` with TensorFlow's Dense default instead (Glorot uniform weight,
/// U(-sqrt(6 / (fan_in + fan_out)), +...), and zero bias), for models that reproduce a
/// TensorFlow reference.
/// `bound_fan_out` is the fan-out the bound counts: a layer the reference computes as part
/// of a wider one (two heads split from one Dense) passes the wider layer's.
pub fn glorot_linear_specs(
    prefix: &str,
    fan_in: usize,
    fan_out: usize,
    bound_fan_out: usize,
) -> [ParamSpec; 2] {
    let bound = (6.0 / (fan_in + bound_fan_out) as f32).sqrt();
    [
        ParamSpec::new(
            &format!("{prefix}.weight"),
            &[fan_out, fan_in],
            Init::Uniform(bound),
        ),
        ParamSpec::new(&format!("{prefix}.bias"), &[fan_out], Init::Const(0.0)),
    ]
}

/// The two specs of a PyTorch `nn.Conv2d(cin, cout, k)` named `prefix`: weight
/// [cout, cin, k, k] and bias [cout], both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
/// fan_in = cin k k (kaiming_uniform with a = sqrt(5), as for Linear).
pub fn conv2d_specs(prefix: &str, cin: usize, cout: usize, k: usize) -> [ParamSpec; 2] {
    conv_specs(prefix, &[cout, cin, k, k], cout, cin * k * k)
}

/// The two specs of a PyTorch `nn.ConvTranspose2d(cin, cout, k)` named `prefix`: weight
/// [cin, cout, k, k] and bias [cout]. PyTorch computes fan_in from weight.size(1), which for
/// the transposed layout is cout: bound = 1/sqrt(cout k k).
pub fn conv_transpose2d_specs(prefix: &str, cin: usize, cout: usize, k: usize) -> [ParamSpec; 2] {
    conv_specs(prefix, &[cin, cout, k, k], cout, cout * k * k)
}

fn conv_specs(prefix: &str, weight: &[usize], cout: usize, fan_in: usize) -> [ParamSpec; 2] {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    [
        ParamSpec::new(&format!("{prefix}.weight"), weight, Init::Uniform(bound)),
        ParamSpec::new(&format!("{prefix}.bias"), &[cout], Init::Uniform(bound)),
    ]
}

/// A PyTorch `nn.BatchNorm1d/2d(c)` named `prefix`: (parameters weight = 1 and bias = 0,
/// state running_mean = 0 and running_var = 1, named as `Graph::batch_norm` declares them).
pub fn batch_norm_specs(prefix: &str, c: usize) -> (Vec<ParamSpec>, Vec<ParamSpec>) {
    let spec =
        |name: &str, v: f32| ParamSpec::new(&format!("{prefix}.{name}"), &[c], Init::Const(v));
    (
        vec![spec("weight", 1.0), spec("bias", 0.0)],
        vec![spec("running_mean", 0.0), spec("running_var", 1.0)],
    )
}

struct Entry {
    shape: Vec<usize>,
    offset: usize,
}

pub struct ParamStore {
    entries: BTreeMap<String, Entry>,
    order: Vec<String>,
    /// Every parameter, concatenated with alignment gaps (gaps hold zeros).
    pub params: Buf,
    /// Gradients, laid out like `params`.
    pub grads: Buf,
    /// Named persistent state, one buffer each.
    state: BTreeMap<String, (Vec<usize>, Buf)>,
}

impl ParamStore {
    /// Lay out and initialise `params` (in order, so a seed gives the same values as a
    /// sequential PyTorch-style init), and create `state`.
    pub fn new(
        gpu: &Gpu,
        params: &[ParamSpec],
        state: &[ParamSpec],
        rng: &mut impl rand::Rng,
    ) -> Result<ParamStore> {
        let align = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let mut entries = BTreeMap::new();
        let mut order = Vec::new();
        let mut host = Vec::new();
        for p in params {
            if entries.contains_key(&p.name) {
                return Err(Error::Config(format!(
                    "parameter '{}' is declared twice",
                    p.name
                )));
            }
            host.resize(host.len().div_ceil(align) * align, 0.0);
            let values = p.values(rng);
            if values.len() != p.len() {
                return Err(Error::Shape(format!(
                    "init of '{}' has {} values for shape {:?}",
                    p.name,
                    values.len(),
                    p.shape
                )));
            }
            entries.insert(
                p.name.clone(),
                Entry {
                    shape: p.shape.clone(),
                    offset: host.len(),
                },
            );
            order.push(p.name.clone());
            host.extend(values);
        }
        let params_buf = gpu.upload(&host)?;
        let grads = gpu.zeros(host.len(), DType::F32)?;
        let mut st = BTreeMap::new();
        for s in state {
            st.insert(
                s.name.clone(),
                (s.shape.clone(), gpu.upload(&s.values(rng))?),
            );
        }
        Ok(ParamStore {
            entries,
            order,
            params: params_buf,
            grads,
            state: st,
        })
    }

    fn entry(&self, name: &str, shape: &[usize]) -> Result<&Entry> {
        let e = self.entries.get(name).ok_or_else(|| {
            Error::Config(format!(
                "the model uses parameter '{name}' but never declared it"
            ))
        })?;
        if e.shape != shape {
            return Err(Error::Shape(format!(
                "parameter '{name}' is {:?} but is used as {shape:?}",
                e.shape
            )));
        }
        Ok(e)
    }

    /// Where parameter `name` starts in the arena (elements), if it is declared.
    pub fn offset(&self, name: &str) -> Option<usize> {
        self.entries.get(name).map(|e| e.offset)
    }

    pub fn param_view(&self, gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Buf> {
        let e = self.entry(name, shape)?;
        gpu.view(&self.params, e.offset, shape.iter().product())
    }

    pub fn grad_view(&self, gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Buf> {
        let e = self.entry(name, shape)?;
        gpu.view(&self.grads, e.offset, shape.iter().product())
    }

    pub fn state(&self, gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Buf> {
        let (s, buf) = self.state.get(name).ok_or_else(|| {
            Error::Config(format!(
                "the model uses state '{name}' but never declared it"
            ))
        })?;
        if s != shape {
            return Err(Error::Shape(format!(
                "state '{name}' is {s:?} but is used as {shape:?}"
            )));
        }
        gpu.view(buf, 0, buf.len())
    }

    /// The number of learned values (without the arena's alignment gaps).
    pub fn len(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.shape.iter().product::<usize>())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parameter names in declaration order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// Copy every parameter and state tensor to the host, under its PyTorch name.
    pub fn to_tensor_file(&self, gpu: &Gpu) -> Result<TensorFile> {
        let all: Vec<f32> = gpu.download(&self.params)?;
        let mut f = TensorFile::default();
        for name in &self.order {
            let e = &self.entries[name];
            let n: usize = e.shape.iter().product();
            f.insert(
                name.clone(),
                Tensor::f32(e.shape.clone(), all[e.offset..e.offset + n].to_vec()),
            );
        }
        for (name, (shape, buf)) in &self.state {
            f.insert(name.clone(), Tensor::f32(shape.clone(), gpu.download(buf)?));
        }
        Ok(f)
    }

    /// Overwrite parameters and state from `f`, checking every name and shape first.
    pub fn load_tensor_file(&self, gpu: &Gpu, f: &TensorFile) -> Result<()> {
        let mut host: Vec<f32> = gpu.download(&self.params)?;
        for name in &self.order {
            let e = &self.entries[name];
            let v = f.get(name, &e.shape)?.as_f32(name)?;
            host[e.offset..e.offset + v.len()].copy_from_slice(v);
        }
        let mut state = Vec::new();
        for (name, (shape, buf)) in &self.state {
            state.push((buf, f.get(name, shape)?.as_f32(name)?.to_vec()));
        }
        gpu.write(&self.params, &host)?;
        for (buf, v) in state {
            gpu.write(buf, &v)?;
        }
        Ok(())
    }
}
