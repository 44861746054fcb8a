//! Adapter and device selection.
//!
//! Default: the best adapter available (discrete > integrated > virtual > cpu > other).
//! `SHADERGRAD_BACKEND` (vulkan|metal|dx12|gl) and `SHADERGRAD_ADAPTER` (index into the
//! filtered list, or a case-insensitive name substring) override it; the CLI passes the same
//! values through `GpuOptions`.

use std::sync::{Arc, Mutex};

use crate::gpu::buffer::BufferPool;
use crate::gpu::pipeline::PipelineCache;
use crate::{Error, Result};

const INSTALL_HINT: &str = "on Linux without a GPU install Mesa's software Vulkan driver \
(`sudo apt-get install mesa-vulkan-drivers libvulkan1`); otherwise install your GPU's Vulkan, \
Metal or DX12 driver";

/// Which adapter to use. Empty fields mean "choose automatically".
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// vulkan | metal | dx12 | gl
    pub backend: Option<String>,
    /// An index into `shadergrad devices`' list, or a substring of the adapter name.
    pub adapter: Option<String>,
}

impl GpuOptions {
    /// Options from `SHADERGRAD_BACKEND` and `SHADERGRAD_ADAPTER`.
    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        GpuOptions {
            backend: get("SHADERGRAD_BACKEND"),
            adapter: get("SHADERGRAD_ADAPTER"),
        }
    }

    fn backends(&self) -> Result<wgpu::Backends> {
        let Some(name) = &self.backend else {
            return Ok(wgpu::Backends::all());
        };
        match name.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
            "metal" => Ok(wgpu::Backends::METAL),
            "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
            "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
            other => Err(Error::Config(format!(
                "unknown backend '{other}'; use one of vulkan, metal, dx12, gl"
            ))),
        }
    }
}

/// A device with its queue, the adapter's description and limits, and the caches built on it.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pub(crate) pipelines: PipelineCache,
    pub(crate) pool: Arc<BufferPool>,
    /// Errors wgpu raised outside an error scope (e.g. during a submit); reported by `sync`.
    pub(crate) uncaptured: Arc<Mutex<Vec<String>>>,
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// All adapters the chosen backends expose, best first.
pub fn list_adapters(opts: &GpuOptions) -> Result<Vec<wgpu::Adapter>> {
    let enumerate = |backends: wgpu::Backends| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        pollster::block_on(instance.enumerate_adapters(backends))
    };
    // GL is the fallback: only probed when asked for or when no native API has an adapter
    // (probing EGL also prints driver noise on headless machines).
    let mut adapters = match opts.backend {
        Some(_) => enumerate(opts.backends()?),
        None => {
            let native =
                enumerate(wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12);
            if native.is_empty() {
                enumerate(wgpu::Backends::GL)
            } else {
                native
            }
        }
    };
    adapters.sort_by_key(|a| rank(a.get_info().device_type));
    Ok(adapters)
}

fn choose(opts: &GpuOptions) -> Result<wgpu::Adapter> {
    let adapters = list_adapters(opts)?;
    if adapters.is_empty() {
        let which = opts
            .backend
            .as_deref()
            .map(|b| format!(" for backend '{b}'"))
            .unwrap_or_default();
        return Err(Error::NoAdapter(format!(
            "no adapter found{which}; {INSTALL_HINT}"
        )));
    }
    let Some(want) = &opts.adapter else {
        return Ok(adapters.into_iter().next().unwrap());
    };
    if let Ok(i) = want.parse::<usize>() {
        let n = adapters.len();
        return adapters.into_iter().nth(i).ok_or_else(|| {
            Error::NoAdapter(format!(
                "adapter index {i} out of range: {n} adapters; see `shadergrad devices`"
            ))
        });
    }
    let needle = want.to_lowercase();
    let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
    adapters
        .into_iter()
        .find(|a| a.get_info().name.to_lowercase().contains(&needle))
        .ok_or_else(|| {
            Error::NoAdapter(format!(
                "no adapter name contains '{want}'; available: {}",
                names.join(", ")
            ))
        })
}

impl Gpu {
    /// The adapter chosen by `SHADERGRAD_BACKEND` / `SHADERGRAD_ADAPTER`, or the best one.
    pub fn from_env() -> Result<Gpu> {
        Gpu::new(&GpuOptions::from_env())
    }

    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        let adapter = choose(opts)?;
        let info = adapter.get_info();
        // Ask for the adapter's own limits: the defaults cap storage buffers at 128 MiB and
        // workgroups far below what large batches need.
        let limits = adapter.limits();
        // Optional features we use when present: f16 storage and timestamp queries (benchmarks).
        let wanted = wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let desc = wgpu::DeviceDescriptor {
            label: Some("shadergrad"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            Error::NoAdapter(format!("adapter '{}' refused a device: {e}", info.name))
        })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("wgpu: {e}");
            sink.lock().unwrap().push(e.to_string());
        }));
        log::info!(
            "adapter: {} ({:?}, {:?})",
            info.name,
            info.backend,
            info.device_type
        );
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            features,
            pipelines: PipelineCache::default(),
            pool: Arc::new(BufferPool::default()),
            uncaptured,
        })
    }

    /// True on software adapters (lavapipe, WARP, SwiftShader): kernels pick register-blocked
    /// variants without workgroup memory there.
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn has_f16(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F16)
    }

    /// One line naming the adapter, for benchmark tables and logs.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        )
    }

    /// Wait for all submitted work and report any error the device raised meanwhile.
    pub fn sync(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        self.take_errors()
    }

    pub(crate) fn take_errors(&self) -> Result<()> {
        let errors = std::mem::take(&mut *self.uncaptured.lock().unwrap());
        match errors.is_empty() {
            true => Ok(()),
            false => Err(Error::Gpu(errors.join("; "))),
        }
    }

    /// Run `f` inside a validation + out-of-memory error scope, turning wgpu errors into `Error`.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = v.or(o) {
            return Err(Error::Gpu(format!("{what}: {e}")));
        }
        Ok(out)
    }
}
