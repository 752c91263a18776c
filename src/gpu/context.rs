//! Instance, adapter and device: choosing the adapter, requesting the device, and
//! turning wgpu's asynchronous errors (validation, device loss) into `Error`s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::choice::Choice;
use crate::error::{Error, Result};

/// `--backend`: which graphics API to go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// A real GPU first (discrete, then integrated), then a software adapter.
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    pub fn backends(self) -> wgpu::Backends {
        match self {
            // In a browser: its WebGPU.
            BackendChoice::Auto if cfg!(target_arch = "wasm32") => wgpu::Backends::BROWSER_WEBGPU,
            BackendChoice::Auto => {
                wgpu::Backends::VULKAN
                    | wgpu::Backends::METAL
                    | wgpu::Backends::DX12
                    | wgpu::Backends::GL
            }
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl Choice for BackendChoice {
    const ALL: &'static [Self] = &[
        BackendChoice::Auto,
        BackendChoice::Vulkan,
        BackendChoice::Metal,
        BackendChoice::Dx12,
        BackendChoice::Gl,
    ];
    const WHAT: &'static str = "graphics backend";

    fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
        }
    }
}

/// One line about an adapter: name, backend, type, driver.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
        (true, true) => "unknown driver".to_string(),
        (false, true) => info.driver.clone(),
        (true, false) => info.driver_info.clone(),
        (false, false) => format!("{} {}", info.driver, info.driver_info),
    };
    format!(
        "{} ({:?}, {:?}, driver {})",
        info.name, info.backend, info.device_type, driver
    )
}

/// The adapters to choose from: natively every one `choice` reaches; a browser
/// lists none and offers the one it picks.
async fn adapters(inst: &wgpu::Instance, choice: BackendChoice) -> Vec<wgpu::Adapter> {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = choice;
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        inst.request_adapter(&options).await.into_iter().collect()
    }
    #[cfg(not(target_arch = "wasm32"))]
    inst.enumerate_adapters(choice.backends()).await
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can see through `choice`'s backends.
pub fn list_adapters(choice: BackendChoice) -> Vec<wgpu::AdapterInfo> {
    let inst = instance(choice.backends());
    pollster::block_on(inst.enumerate_adapters(choice.backends()))
        .iter()
        .map(|a| a.get_info())
        .collect()
}

/// The adapters `BackendChoice::Auto` sees when none is a hardware GPU (software
/// ones such as lavapipe, or none at all); None when a hardware GPU exists. A
/// software adapter is slower than the CPU path, so the default device avoids it.
pub fn software_only() -> Option<Vec<wgpu::AdapterInfo>> {
    let adapters = list_adapters(BackendChoice::Auto);
    let hardware = adapters
        .iter()
        .any(|a| a.device_type != wgpu::DeviceType::Cpu);
    (!hardware).then_some(adapters)
}

/// Lower is preferred: real GPUs before software ones, native APIs before GL.
fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let api = u8::from(info.backend == wgpu::Backend::Gl);
    (kind, api)
}

/// The device and queue the GPU backend runs on, and the errors it has reported.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    errors: Arc<Mutex<Option<String>>>,
    readbacks: AtomicU64,
    submits: AtomicU64,
}

impl GpuContext {
    /// Picks an adapter for `choice` whose name contains `name_filter` (any case),
    /// preferring real GPUs, and opens a device with the adapter's own limits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(choice: BackendChoice, name_filter: Option<&str>) -> Result<Self> {
        pollster::block_on(Self::open(choice, name_filter))
    }

    /// `new`, awaiting the adapter and the device (as a browser requires).
    pub async fn open(choice: BackendChoice, name_filter: Option<&str>) -> Result<Self> {
        let inst = instance(choice.backends());
        let adapters = adapters(&inst, choice).await;
        let all: Vec<String> = adapters
            .iter()
            .map(|a| describe_adapter(&a.get_info()))
            .collect();
        let wanted = name_filter.map(str::to_lowercase);
        let adapter = adapters
            .into_iter()
            .filter(|a| match &wanted {
                Some(w) => a.get_info().name.to_lowercase().contains(w),
                None => true,
            })
            .min_by_key(|a| preference(&a.get_info()))
            .ok_or_else(|| no_adapter_error(choice, name_filter, &all))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        log::info!("adapter: {}", describe_adapter(&info));
        log::debug!("adapter limits: {limits:?}");
        log::debug!("adapter features: {:?}", adapter.features());
        // Timestamps cost nothing until a profile asks for them.
        let timestamps =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let desc = wgpu::DeviceDescriptor {
            label: Some("gpu-mlp"),
            required_features: adapter.features() & timestamps,
            // The adapter's own limits, so large data sets fit where the hardware allows;
            // the kernels themselves stay within wgpu's defaults.
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = adapter.request_device(&desc).await.map_err(|e| {
            Error::Gpu(format!(
                "could not open a device on {}: {e}",
                describe_adapter(&info)
            ))
        })?;
        let errors: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let sink = Arc::clone(&errors);
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
        });
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            errors,
            readbacks: Default::default(),
            submits: Default::default(),
        })
    }

    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }

    /// The first error the device reported, if any, as an `Error`.
    pub fn check(&self) -> Result<()> {
        let slot = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(e) => Err(Error::Gpu(format!("{} reported: {e}", self.info.name))),
            None => Ok(()),
        }
    }

    /// Waits for all submitted work, then reports any error it caused.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for {}: {e}", self.info.name)))?;
        self.check()
    }

    /// Read-backs so far (each one waits for the GPU).
    pub fn readbacks(&self) -> u64 {
        self.readbacks.load(Ordering::Relaxed)
    }

    /// Queue submits so far.
    pub fn submits(&self) -> u64 {
        self.submits.load(Ordering::Relaxed)
    }

    /// Submits one command buffer, counting it.
    pub fn submit(&self, commands: wgpu::CommandBuffer) -> wgpu::SubmissionIndex {
        self.submits.fetch_add(1, Ordering::Relaxed);
        self.queue.submit([commands])
    }

    /// Waits until everything submitted has run, then reports any error: natively
    /// by polling the device, in a browser by awaiting the queue's notification.
    pub async fn settle(&self) -> Result<()> {
        #[cfg(target_arch = "wasm32")]
        {
            let done = Callback::default();
            let signal = done.clone();
            self.queue.on_submitted_work_done(move || signal.finish(()));
            done.await;
            self.check()
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()
    }

    /// Waits until submission `index` has run, then reports any error.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("waiting for {}: {e}", self.info.name)))?;
        self.check()
    }

    /// Maps `staging` (MAP_READ, filled by an already submitted copy) and returns
    /// its first `size` bytes once the device has written them: natively by
    /// waiting for the device, in a browser by awaiting the mapping's callback,
    /// which the page's event loop runs (nothing may block there).
    pub async fn map_and_read(&self, staging: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        self.readbacks.fetch_add(1, Ordering::Relaxed);
        let mapped = Callback::default();
        let done = mapped.clone();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| done.finish(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()?;
        mapped
            .await
            .map_err(|e| Error::Gpu(format!("mapping a read-back buffer: {e}")))?;
        self.check()?;
        let bytes = staging
            .get_mapped_range(0..size)
            .map_err(|e| Error::Gpu(format!("reading a mapped buffer: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    /// Copies `size` bytes of `src` into a fresh mappable buffer and reads them.
    pub async fn read_buffer(&self, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        self.submit(enc.finish());
        self.map_and_read(&staging, size).await
    }
}

/// A callback's outcome (a buffer mapping, finished work), as a future: the
/// callback stores it and wakes whoever awaits.
struct Callback<T>(Arc<Mutex<CallbackState<T>>>);

struct CallbackState<T> {
    outcome: Option<T>,
    waker: Option<std::task::Waker>,
}

impl<T> Default for Callback<T> {
    fn default() -> Self {
        Callback(Arc::new(Mutex::new(CallbackState {
            outcome: None,
            waker: None,
        })))
    }
}

impl<T> Clone for Callback<T> {
    fn clone(&self) -> Self {
        Callback(Arc::clone(&self.0))
    }
}

impl<T> Callback<T> {
    fn finish(&self, outcome: T) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.outcome = Some(outcome);
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }
}

impl<T> std::future::Future for Callback<T> {
    type Output = T;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match state.outcome.take() {
            Some(outcome) => std::task::Poll::Ready(outcome),
            None => {
                state.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

fn no_adapter_error(choice: BackendChoice, name_filter: Option<&str>, all: &[String]) -> Error {
    let what = match name_filter {
        Some(f) => format!(
            "no GPU adapter whose name contains {f:?} for --backend {}",
            choice.name()
        ),
        None => format!("no GPU adapter found for --backend {}", choice.name()),
    };
    let seen = if all.is_empty() {
        let everywhere = list_adapters(BackendChoice::Auto);
        if everywhere.is_empty() {
            "no adapters at all".to_string()
        } else {
            format!(
                "adapters on other backends: {}",
                everywhere
                    .iter()
                    .map(describe_adapter)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    } else {
        format!("adapters seen: {}", all.join("; "))
    };
    Error::Gpu(format!(
        "{what} ({seen}). Install a Vulkan driver (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers` \
         provides the lavapipe software adapter), pick another with --backend/--adapter, \
         or train on the CPU with --cpu"
    ))
}
