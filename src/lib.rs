#![warn(missing_docs)]
//! gpu-mlp: multi-layer perceptrons trained on images and tables, with the math in
//! WGSL compute shaders run through wgpu, and a CPU reference path that is both the
//! `--cpu` fallback and the oracle for every GPU result.
//!
//! # Using the library
//!
//! [`Trainer`] describes a network and how to train it, [`Trainer::fit`] trains it
//! on a [`Dataset`] (IDX, CIFAR, `.npz` or CSV files through [`data::load`], or
//! one's own arrays through [`Dataset::from_memory`]) on a [`Device`], and returns a [`Model`] that
//! predicts, evaluates and saves the checkpoint the CLI reads. See the
//! [`trainer`] module for an example, and `examples/` (train on MNIST, predict
//! from a checkpoint, a custom in-memory data set).
//!
//! `cpu`, `gpu`, `bench`, `profile`, `choice` and `files` are public for the test
//! suite and the benchmarks (which check every kernel against the CPU reference)
//! and hidden from these docs: they are not a stable API.
//!
//! # How the modules fit
//!
//! Dependencies point down; nothing below `cli` reads flags or environment variables.
//!
//! ```text
//! src/cli/ (binary)      flags, environment, printing; calls the library
//!   │
//!   ├─ train             the one training loop (train, run_epoch) over the Backend trait
//!   ├─ bench             throughput measurements, through train::run_epoch and profile::Measured
//!   ├─ eval, plot, metrics, checkpoint, download, files
//!   │
//!   ├─ cpu/              CpuBackend: the reference path (layer, matmul, activation,
//!   │                    softmax_xent, optimizer), generic over f32/f64
//!   └─ gpu/              GpuBackend: context, kernel (recorder), layer, and one module
//!                        per shader file (matmul, gather, softmax_xent, reduce, metrics, optimizer)
//!   │
//!   └─ neutral: model (Architecture, Layer), optimizer (settings and state), data,
//!      profile, choice, rng, error
//! ```
//!
//! # The layer abstraction
//!
//! [`network::Architecture::layer`] describes each dense layer once ([`network::Layer`]:
//! shape, parameter offsets, its activation and the activation that produced its
//! input). Each path builds its layers from that description and a step is a loop
//! over them: [`cpu::layer::dense_forward`] / [`cpu::layer::dense_backward`] on the
//! CPU, [`gpu::layer::DenseLayer`]'s `record_forward` / `record_backward` on the GPU
//! (its products bound to their buffers in one constructor). A per-layer feature
//! (a dropout mask, weight decay) is a change to those two files, the shader it
//! needs, and their tests.
//!
//! The loop is asynchronous at its core: what reads the device back
//! ([`backend::Backend`]'s `*_async` methods, [`train::train_async`],
//! [`Trainer::fit_async`]) returns futures, which natively are waited for (the
//! blocking forms of the same names) and in a browser are driven by its event
//! loop; the library builds for `wasm32-unknown-unknown` with WebGPU.
//!
//! Data flows one way: files → [`data::Dataset`] (u8 or f32, host) → backend
//! (resident on the GPU, or streamed in windows when a split exceeds a storage
//! binding) → batches, normalized as the model's [`data::normalize::InputTransform`]
//! says → forward → loss → backward → update → per-epoch metrics.

pub mod backend;
#[doc(hidden)]
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod checkpoint;
#[doc(hidden)]
pub mod choice;
#[doc(hidden)]
pub mod cpu;
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod download;
pub mod dropout;
pub mod error;
pub mod eval;
pub mod export;
#[doc(hidden)]
pub mod files;
#[doc(hidden)]
pub mod gpu;
pub mod metrics;
pub mod network;
pub mod optimizer;
#[cfg(not(target_arch = "wasm32"))]
pub mod plot;
#[doc(hidden)]
pub mod profile;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod state_dict;
pub mod train;
pub mod trainer;

pub use data::normalize::Normalize;
pub use data::{Dataset, Format, LoadOptions, Split, SplitKind};
pub use error::{Error, Result};
pub use gpu::context::BackendChoice;
pub use network::{Activation, Loss};
pub use optimizer::{Optimizer, OptimizerKind};
pub use schedule::{LrSchedule, ScheduleKind};
pub use trainer::{Device, Model, Trainer};
