//! Compute pipelines, compiled once per device and cached by a typed `KernelKey`
//! (shader family, entry point, override constants), never by strings built at call sites.
//!
//! Each family's WGSL is also parsed by naga on the host so we know which bindings an entry
//! point actually uses: a bind group then carries exactly those, and a missing buffer is a
//! clear error instead of a driver validation panic.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::kernels::Family;
use crate::{Error, Gpu, Result};

/// Identifies one compiled pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub family: Family,
    pub entry: &'static str,
    /// Values for the shader's `override` declarations, as (name, f64 bits) so the key hashes.
    pub constants: Vec<(&'static str, u64)>,
}

impl KernelKey {
    pub fn new(family: Family, entry: &'static str) -> Self {
        KernelKey {
            family,
            entry,
            constants: Vec::new(),
        }
    }

    /// Set an `override` constant (e.g. the workgroup size `WG`).
    pub fn with(mut self, name: &'static str, value: f64) -> Self {
        self.constants.retain(|(n, _)| *n != name);
        self.constants.push((name, value.to_bits()));
        self.constants.sort_by_key(|(n, _)| *n);
        self
    }
}

/// A compiled pipeline and what its entry point binds (group 0 only).
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub used_bindings: BTreeSet<u32>,
    /// The used storage bindings the shader may write (declared `read_write`).
    pub writable_bindings: BTreeSet<u32>,
    pub label: String,
}

struct FamilyModule {
    module: wgpu::ShaderModule,
    naga: naga::Module,
    info: naga::valid::ModuleInfo,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<Family, Arc<FamilyModule>>>,
    kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
}

/// Parse and validate WGSL with naga, as wgpu would. Used by tests with no adapter too.
pub fn validate_wgsl(
    source: &str,
) -> std::result::Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(source))?;
    Ok((module, info))
}

impl Gpu {
    fn family_module(&self, family: Family) -> Result<Arc<FamilyModule>> {
        if let Some(m) = self.pipelines.modules.lock().unwrap().get(&family) {
            return Ok(m.clone());
        }
        let needs = family.required_features();
        if !self.features.contains(needs) {
            return Err(Error::Limit(format!(
                "kernel family {family:?} needs {needs:?}, which '{}' does not offer",
                self.info.name
            )));
        }
        let source = family.source();
        let (naga, info) = validate_wgsl(&source)
            .map_err(|e| Error::Gpu(format!("shader {} is invalid:\n{e}", family.file())))?;
        let module = self.scoped(&format!("compiling {}", family.file()), || {
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(family.file()),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                })
        })?;
        let m = Arc::new(FamilyModule { module, naga, info });
        self.pipelines
            .modules
            .lock()
            .unwrap()
            .insert(family, m.clone());
        Ok(m)
    }

    /// The pipeline for `key`, compiling it on first use.
    pub fn kernel(&self, key: &KernelKey) -> Result<Arc<Kernel>> {
        if let Some(k) = self.pipelines.kernels.lock().unwrap().get(key) {
            return Ok(k.clone());
        }
        let fm = self.family_module(key.family)?;
        let index = fm
            .naga
            .entry_points
            .iter()
            .position(|ep| ep.name == key.entry)
            .ok_or_else(|| {
                Error::Gpu(format!(
                    "{} has no entry point '{}'",
                    key.family.file(),
                    key.entry
                ))
            })?;
        let uses = fm.info.get_entry_point(index);
        let used: Vec<&naga::GlobalVariable> = fm
            .naga
            .global_variables
            .iter()
            .filter(|(h, _)| !uses[*h].is_empty())
            .map(|(_, g)| g)
            .collect();
        let used_bindings = used
            .iter()
            .filter_map(|g| g.binding.as_ref())
            .map(|b| b.binding)
            .collect();
        let writable_bindings = used
            .iter()
            .filter(|g| matches!(g.space, naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE)))
            .filter_map(|g| g.binding.as_ref())
            .map(|b| b.binding)
            .collect();
        let constants: Vec<(&str, f64)> = key
            .constants
            .iter()
            .map(|(n, bits)| (*n, f64::from_bits(*bits)))
            .collect();
        let label = format!("{:?}::{} ({})", key.family, key.entry, key.family.file());
        let pipeline = self.scoped(&format!("building pipeline {label}"), || {
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: None,
                    module: &fm.module,
                    entry_point: Some(key.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        zero_initialize_workgroup_memory: true,
                    },
                    cache: None,
                })
        })?;
        let layout = pipeline.get_bind_group_layout(0);
        let kernel = Arc::new(Kernel {
            pipeline,
            layout,
            used_bindings,
            writable_bindings,
            label,
        });
        self.pipelines
            .kernels
            .lock()
            .unwrap()
            .insert(key.clone(), kernel.clone());
        Ok(kernel)
    }
}
