//! Where a run trains: the one place that turns a [`Device`] into a backend, for
//! training and evaluation alike.

use std::sync::Arc;

use crate::backend::{Backend, TrainSetup};
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::context::{software_only, BackendChoice, GpuContext};
use crate::gpu::{GpuBackend, GpuOptions};
use crate::network::Architecture;
use crate::profile::Measured;

/// Where training (and evaluation) runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// A hardware GPU when one exists, else the CPU: a software adapter (lavapipe)
    /// is slower than the CPU path, so `Auto` never picks one.
    #[default]
    Auto,
    /// The CPU reference path.
    Cpu,
    /// A GPU through this wgpu backend, software adapters included, optionally the
    /// adapter whose name contains the given text.
    Gpu(BackendChoice, Option<String>),
}

impl Device {
    /// The device `Auto` stands for on this machine; others are themselves.
    pub fn resolve(&self) -> Device {
        match self {
            Device::Auto => match software_only() {
                None => Device::Gpu(BackendChoice::Auto, None),
                Some(_) => Device::Cpu,
            },
            other => other.clone(),
        }
    }

    /// A training backend for `setup` on `data`, on this device.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn backend(&self, data: &Arc<Dataset>, setup: TrainSetup) -> Result<Box<dyn Backend>> {
        pollster::block_on(self.open_backend(data, setup, &GpuOptions::default()))
    }

    /// [`Device::backend`] with the GPU path's options (matmul variant, binding
    /// budget), awaiting the device (as a browser requires).
    pub async fn open_backend(
        &self,
        data: &Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Box<dyn Backend>> {
        self.open().await?.backend(data, setup, options).await
    }

    /// The backend a benchmark looks inside ([`Measured`]: kernel times, submits).
    pub async fn open_measured(
        &self,
        data: &Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Box<dyn Measured>> {
        self.open().await?.measured(data, setup, options).await
    }

    /// This device, opened (a GPU's context), ready to check what fits and to
    /// become a backend.
    pub async fn open(&self) -> Result<OpenDevice> {
        Ok(OpenDevice(match self.resolve() {
            Device::Gpu(choice, name) => Some(GpuContext::open(choice, name.as_deref()).await?),
            _ => None,
        }))
    }
}

/// An opened device: a GPU's context, or the CPU (None).
pub struct OpenDevice(Option<GpuContext>);

impl OpenDevice {
    /// Fails, naming the limit, where a network `arch` training on `data` in
    /// batches of `batch_size` does not fit the device (a GPU's buffer and dispatch
    /// limits; the CPU takes any): before the network's parameters exist.
    pub fn check_fits(
        &self,
        data: &Dataset,
        arch: &Architecture,
        batch_size: usize,
        options: &GpuOptions,
    ) -> Result<()> {
        match &self.0 {
            Some(ctx) => crate::gpu::backend::check_fits(ctx, data, arch, batch_size, options),
            None => Ok(()),
        }
    }

    /// A training backend for `setup` on `data`.
    pub async fn backend(
        self,
        data: &Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Box<dyn Backend>> {
        Ok(self.measured(data, setup, options).await?)
    }

    /// [`OpenDevice::backend`], with its kernel times and submits: the one place
    /// a device becomes a backend.
    pub async fn measured(
        self,
        data: &Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Box<dyn Measured>> {
        Ok(match self.0 {
            Some(ctx) => Box::new(GpuBackend::open(ctx, Arc::clone(data), setup, options).await?),
            None => Box::new(CpuBackend::new(Arc::clone(data), setup)?),
        })
    }
}
