//! The GPU path: wgpu host code for the kernels in shaders/, one module per shader
//! file, and the training backend that keeps the whole run on the device.

pub mod backend;
pub mod context;
pub mod gather;
pub mod kernel;
pub mod layer;
pub mod matmul;
pub mod metrics;
pub mod optimizer;
pub mod profile;
pub mod reduce;
pub mod softmax_xent;

pub use backend::{GpuBackend, GpuOptions};
pub use context::{list_adapters, BackendChoice, GpuContext};
