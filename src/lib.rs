//! gpu-mlp: multi-layer perceptrons trained on MNIST-format data, with the math in
//! WGSL compute shaders run through wgpu, and a CPU reference path that is both the
//! `--cpu` fallback and the oracle for every GPU result.
//!
//! Data flows one way: IDX files → [`data::Dataset`] (u8, host) → backend
//! (uploaded once) → batches → forward → loss → backward → update → per-epoch
//! metrics. [`train::train`] is the one training loop; [`cpu::CpuBackend`] and
//! [`gpu::GpuBackend`] implement [`train::Backend`] beneath it.

pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod download;
pub mod error;
pub mod eval;
pub mod files;
pub mod gpu;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod rng;
pub mod train;

pub use error::{Error, Result};
