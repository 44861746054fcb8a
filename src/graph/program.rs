//! A compiled graph: every buffer, bind group and pipeline made once, before the first step;
//! a step records every dispatch into one compute pass, one encoder and one submit.
//!
//! Persistent tensors get their own buffers (inputs, metrics) or views into the model's
//! arenas (parameters, gradients, state); transient ones share buffers by the memory plan.

use crate::graph::builder::Graph;
use crate::graph::instr::Instr;
use crate::graph::lower::lower;
use crate::graph::plan::{plan, Access};
use crate::graph::tensor::{Role, T};
use crate::nn::params::ParamStore;
use crate::{Buf, DType, Dispatch, Error, Gpu, Result};

pub struct Program {
    pub graph: Graph,
    instrs: Vec<Instr>,
    dispatches: Vec<Vec<Dispatch>>,
    bufs: Vec<Option<Buf>>,
    /// Bytes of the buffers the memory plan shares among transient tensors.
    pub transient_bytes: u64,
    /// What the same tensors would need without reuse.
    pub unplanned_bytes: u64,
}

impl Program {
    /// Lower `graph` (with backward when `train`), plan memory and build every dispatch.
    pub fn compile(
        gpu: &Gpu,
        mut graph: Graph,
        store: &ParamStore,
        train: bool,
    ) -> Result<Program> {
        let instrs = lower(&mut graph, train)?;
        let n = graph.tensors.len();
        // A view's accesses are its root's: they share one buffer and one lifetime.
        let idx = |ts: &[T]| -> Vec<usize> { ts.iter().map(|&t| graph.alias_root(t).0).collect() };
        let steps: Vec<Access> = instrs
            .iter()
            .map(|i| Access {
                reads: idx(&i.reads),
                writes: idx(&i.writes),
            })
            .collect();
        let transient: Vec<bool> = graph
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| t.role == Role::Transient && !graph.aliases.contains_key(&T(i)))
            .collect();
        // Planned sizes are rounded to 16 bytes so vec4 kernels may read whole vectors.
        let bytes: Vec<u64> = graph
            .tensors
            .iter()
            .map(|t| t.bytes().max(4).div_ceil(16) * 16)
            .collect();
        let memory = plan(&steps, &bytes, &transient);
        let slots = memory
            .slot_bytes
            .iter()
            .map(|&b| gpu.zeros((b / 4) as usize, DType::F32))
            .collect::<Result<Vec<Buf>>>()?;
        let mut bufs: Vec<Option<Buf>> = Vec::with_capacity(n);
        for (i, info) in graph.tensors.iter().enumerate() {
            let len = info.len();
            if graph.aliases.contains_key(&T(i)) {
                bufs.push(None); // filled below, once every root has its buffer
                continue;
            }
            let buf = match info.role {
                Role::Input | Role::Metric | Role::Output => Some(gpu.zeros(len, info.dtype)?),
                Role::Param => Some(store.param_view(gpu, &info.name, &info.shape)?),
                Role::ParamGrad => {
                    let name = info.name.trim_end_matches(".grad");
                    Some(store.grad_view(gpu, name, &info.shape)?)
                }
                Role::State => Some(store.state(gpu, &info.name, &info.shape)?),
                Role::Const => {
                    let buf = gpu.upload(&graph.consts[&T(i)])?;
                    Some(gpu.view_as(&buf, info.dtype, len)?) // u32 constants keep their bits
                }
                Role::Transient => match memory.slot[i] {
                    Some(s) => Some(gpu.view_as(&slots[s], info.dtype, len)?),
                    None => None, // never used by any instruction
                },
            };
            bufs.push(buf);
        }
        for (&view, &root) in &graph.aliases {
            let info = graph.info(view);
            bufs[view.0] = match &bufs[root.0] {
                Some(b) => Some(gpu.view_as(b, info.dtype, info.len())?),
                None => None,
            };
        }
        let unplanned_bytes = (0..n)
            .filter(|&i| transient[i] && memory.slot[i].is_some())
            .map(|i| bytes[i])
            .sum();
        let lookup = |t: T| -> &Buf { bufs[t.0].as_ref().expect("every used tensor has a buffer") };
        let dispatches = instrs
            .iter()
            .map(|i| (i.build)(gpu, &lookup).map_err(|e| context(e, &i.label)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Program {
            graph,
            instrs,
            dispatches,
            transient_bytes: memory.peak_bytes(),
            unplanned_bytes,
            bufs,
        })
    }

    /// The buffer of tensor `t`.
    pub fn buf(&self, t: T) -> Result<&Buf> {
        self.bufs[t.0].as_ref().ok_or_else(|| {
            Error::Config(format!(
                "tensor '{}' is not used by any instruction",
                self.graph.info(t).name
            ))
        })
    }

    /// The buffer of a tensor by name (inputs, metrics: `metric:<name>`).
    pub fn buf_named(&self, name: &str) -> Result<&Buf> {
        let i = self
            .graph
            .tensors
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::Config(format!("the graph has no tensor named '{name}'")))?;
        self.buf(T(i))
    }

    /// Refresh per-step params and record the whole step, then `tail` (the optimizer update),
    /// into one submit. Does not wait.
    pub fn step(&self, gpu: &Gpu, step: u64, tail: &[&Dispatch]) -> Result<()> {
        let mut all = self.record(gpu, step);
        all.extend(tail);
        gpu.run(&all)
    }

    /// Set up step `step` (per-step parameters such as noise keys) and return its dispatches
    /// in order, for a caller that submits several programs together.
    pub fn record(&self, gpu: &Gpu, step: u64) -> Vec<&Dispatch> {
        for (i, d) in self.instrs.iter().zip(&self.dispatches) {
            if let Some(f) = &i.per_step {
                f(gpu, d, step);
            }
        }
        self.dispatches.iter().flatten().collect()
    }

    /// Time each instruction alone: (label, seconds per run, dispatches), the median of
    /// `reps` submits of `repeat` back-to-back runs. Instructions read whatever their buffers
    /// hold, so call this on a program that has run a real step.
    pub fn profile(
        &self,
        gpu: &Gpu,
        repeat: usize,
        reps: usize,
    ) -> Result<Vec<(String, f64, usize)>> {
        let mut rows = Vec::new();
        for (i, d) in self.instrs.iter().zip(&self.dispatches) {
            let once: Vec<&Dispatch> = d.iter().collect();
            let batch: Vec<&Dispatch> = (0..repeat).flat_map(|_| once.iter().copied()).collect();
            gpu.run(&batch)?; // warm
            gpu.sync()?;
            let mut times: Vec<f64> = (0..reps)
                .map(|_| {
                    let t = std::time::Instant::now();
                    gpu.run(&batch)?;
                    gpu.sync()?;
                    Ok(t.elapsed().as_secs_f64() / repeat as f64)
                })
                .collect::<Result<_>>()?;
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            rows.push((i.label.clone(), times[reps / 2], d.len()));
        }
        Ok(rows)
    }

    /// (label, dispatch count) per instruction, for profiling and the step breakdown.
    pub fn instruction_labels(&self) -> Vec<(String, usize)> {
        self.instrs
            .iter()
            .zip(&self.dispatches)
            .map(|(i, d)| (i.label.clone(), d.len()))
            .collect()
    }
}

fn context(e: Error, label: &str) -> Error {
    match e {
        Error::Shape(m) => Error::Shape(format!("{label}: {m}")),
        Error::Limit(m) => Error::Limit(format!("{label}: {m}")),
        other => other,
    }
}
