//! Building a graph: models call these methods once, in forward order, and get tensor handles.
//! Every method checks shapes and records an `Op`; nothing touches the GPU here.
//!
//! Legend: B = batch rows, F/I/O = features (in/out), D = latent dimension, K = classes.

use crate::graph::op::Op;
use crate::graph::tensor::{Role, TensorInfo, T};
use crate::{DType, Error, Result};

/// One forward operation: `op` applied to `inputs`, producing `outputs` (outputs[0] is the
/// main result; further outputs are what the backward needs, e.g. batch-norm mean and rstd).
#[derive(Debug, Clone)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<T>,
    pub outputs: Vec<T>,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub tensors: Vec<TensorInfo>,
    pub nodes: Vec<Node>,
    /// Whether a gradient flows to each tensor (a parameter, or computed from one).
    pub needs_grad: Vec<bool>,
    /// Scalars the host reads as metrics (summed over steps on the GPU), with their names.
    pub metrics: Vec<(String, T)>,
    /// The scalar minimised by training, if any.
    pub loss: Option<T>,
    /// Values of `Role::Const` tensors.
    pub consts: std::collections::BTreeMap<T, Vec<f32>>,
    /// Views: tensor -> the tensor whose buffer it shares (a reshape's output, or a
    /// gradient passed through one). Always the root, never itself a view.
    pub aliases: std::collections::BTreeMap<T, T>,
    /// Activations a model names for export (`shadergrad verify`), in naming order.
    pub named: Vec<(String, T)>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn info(&self, t: T) -> &TensorInfo {
        &self.tensors[t.0]
    }

    pub fn shape(&self, t: T) -> &[usize] {
        &self.tensors[t.0].shape
    }

    pub(crate) fn tensor(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        dtype: DType,
        role: Role,
    ) -> T {
        self.tensors.push(TensorInfo {
            name: name.into(),
            shape,
            dtype,
            role,
        });
        self.needs_grad.push(role == Role::Param);
        T(self.tensors.len() - 1)
    }

    /// A per-step input written by the host or a data kernel.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> T {
        self.tensor(name, shape.to_vec(), DType::F32, Role::Input)
    }

    /// A per-step integer input (class labels).
    pub fn input_u32(&mut self, name: &str, shape: &[usize]) -> T {
        self.tensor(name, shape.to_vec(), DType::U32, Role::Input)
    }

    /// A learned parameter named as in a PyTorch state_dict (`fc1.weight`). Declaring a name
    /// again returns the same tensor, so a layer applied twice (a discriminator scoring
    /// positive and negative pairs) shares one gradient that both uses accumulate into; two
    /// tensors for one name would each write the same gradient slot, the later overwriting.
    /// (A second declaration with another shape gets its own tensor, which the parameter
    /// store then refuses with a shape error.)
    pub fn param(&mut self, name: &str, shape: &[usize]) -> T {
        let existing = self
            .tensors
            .iter()
            .position(|t| t.role == Role::Param && t.name == name && t.shape == shape);
        match existing {
            Some(i) => T(i),
            None => self.tensor(name, shape.to_vec(), DType::F32, Role::Param),
        }
    }

    /// A tensor of fixed `values` (uploaded once when the graph is compiled).
    pub fn constant(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<T> {
        if values.len() != shape.iter().product::<usize>() {
            return Err(Error::Shape(format!(
                "constant '{name}': {} values for shape {shape:?}",
                values.len()
            )));
        }
        let t = self.tensor(name, shape.to_vec(), DType::F32, Role::Const);
        self.consts.insert(t, values);
        Ok(t)
    }

    /// A u32 tensor of fixed `values` (class indices, say), uploaded once at compile time.
    pub fn constant_u32(&mut self, name: &str, shape: &[usize], values: &[u32]) -> Result<T> {
        // Stored as f32 bit patterns beside the f32 constants; the upload reinterprets them.
        let bits = values.iter().map(|&v| f32::from_bits(v)).collect();
        let t = self.constant(name, shape, bits)?;
        self.tensors[t.0].dtype = DType::U32;
        Ok(t)
    }

    /// Persistent non-learned state (`bn.running_mean`).
    pub fn state(&mut self, name: &str, shape: &[usize]) -> T {
        self.tensor(name, shape.to_vec(), DType::F32, Role::State)
    }

    /// Record `op` on `inputs` with outputs of the given shapes; the first output is returned.
    pub(crate) fn push(&mut self, op: Op, inputs: &[T], outputs: &[(&str, Vec<usize>)]) -> T {
        let grad = inputs.iter().any(|t| self.needs_grad[t.0]) && op.differentiable();
        let outs: Vec<T> = outputs
            .iter()
            .map(|(suffix, shape)| {
                let name = format!("{}{suffix}", op.name());
                let t = self.tensor(name, shape.clone(), DType::F32, Role::Transient);
                self.needs_grad[t.0] = grad;
                t
            })
            .collect();
        self.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            outputs: outs.clone(),
        });
        outs[0]
    }

    /// Keep `t` readable after a step under `name` (its buffer is not reused).
    pub fn output(&mut self, name: &str, t: T) -> T {
        // A view keeps the buffer it shares: that one must outlive the step.
        let root = self.alias_root(t);
        if root != t && self.tensors[root.0].role == Role::Transient {
            self.tensors[root.0].role = Role::Output;
        }
        let info = &mut self.tensors[t.0];
        info.role = Role::Output;
        info.name = name.to_string();
        t
    }

    /// The tensor whose buffer `t` uses: `t` itself unless it is a view (`Graph::aliases`).
    pub fn alias_root(&self, t: T) -> T {
        self.aliases.get(&t).copied().unwrap_or(t)
    }

    /// Make `view` share the buffer of `of` (same element count and dtype; checked by callers).
    pub(crate) fn make_alias(&mut self, view: T, of: T) {
        let root = self.alias_root(of);
        self.aliases.insert(view, root);
    }

    /// Name activation `t` for export: `shadergrad verify` writes it as `act.<name>`; training
    /// ignores names (the tensor's buffer is still reused).
    pub fn name(&mut self, name: &str, t: T) {
        self.named.push((name.to_string(), t));
    }

    /// `name` for several activations at once.
    pub fn names(&mut self, named: &[(&str, T)]) {
        for &(name, t) in named {
            self.name(name, t);
        }
    }

    /// Mark `t` (a scalar) as the training loss.
    pub fn set_loss(&mut self, t: T) -> Result<()> {
        if self.info(t).len() != 1 {
            return Err(Error::Shape(format!(
                "the loss must be a scalar, got shape {:?}",
                self.shape(t)
            )));
        }
        self.loss = Some(t);
        Ok(())
    }

    /// Report scalar `t` under `name`: summed on the GPU every step, read every N steps.
    pub fn metric(&mut self, name: &str, t: T) -> Result<()> {
        if self.info(t).len() != 1 {
            return Err(Error::Shape(format!(
                "metric '{name}' must be a scalar, got {:?}",
                self.shape(t)
            )));
        }
        self.metrics.push((name.to_string(), t));
        Ok(())
    }

    pub(crate) fn same_shape(&self, what: &str, a: T, b: T) -> Result<()> {
        if self.shape(a) != self.shape(b) {
            return Err(Error::Shape(format!(
                "{what}: shapes {:?} and {:?} differ",
                self.shape(a),
                self.shape(b)
            )));
        }
        Ok(())
    }

    pub(crate) fn nchw(&self, what: &str, t: T) -> Result<[usize; 4]> {
        match *self.shape(t) {
            [n, c, h, w] => Ok([n, c, h, w]),
            ref s => Err(Error::Shape(format!(
                "{what}: expected a 4-D tensor [N, C, H, W], got {s:?}"
            ))),
        }
    }

    /// Make `t` (an op's index output: argmax, permutation) a u32 tensor with no gradient.
    pub(crate) fn set_u32(&mut self, t: T) {
        self.tensors[t.0].dtype = DType::U32;
        self.needs_grad[t.0] = false;
    }

    pub(crate) fn matrix(&self, what: &str, t: T) -> Result<(usize, usize)> {
        match self.shape(t) {
            [r, c] => Ok((*r, *c)),
            s => Err(Error::Shape(format!(
                "{what}: expected a matrix [rows, cols], got {s:?}"
            ))),
        }
    }
}
