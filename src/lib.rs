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
//! Every arrow points down (no module imports one above it); nothing below `cli`
//! reads flags or environment variables.
//!
//! ```text
//! src/cli/ (binary)   flags, environment, printing, side outputs; calls the library
//!   │
//!   ├─ trainer/       the front door: Trainer plans a run (plan.rs), Model predicts,
//!   │                 evaluates and saves, Device makes every backend, RunObserver and
//!   │                 the Keeper (each epoch's model read back at most once) in run.rs
//!   ├─ bench          throughput measurements through train::run_epoch
//!   │
//!   ├─ train          the one training loop, over the backend contract
//!   ├─ eval, export, state_dict   a trained network's uses (CPU forward, ONNX, PyTorch files)
//!   │
//!   ├─ cpu/           CpuBackend (backend.rs: the step) over net.rs (the network's passes)
//!   │                 and the reference operations: layer, matmul, activation, loss,
//!   │                 dropout, optimizer; generic over f32/f64
//!   ├─ gpu/           GpuBackend (backend/: the step, buffers, residency, loss head,
//!   │                 limits), context, kernel, layer, and one module per shader file
//!   ├─ checkpoint/    the file format: keys (each named once), metadata, tensors
//!   ├─ profile        what a benchmark reads inside a backend
//!   │
//!   └─ backend        the contract: Backend, TrainSetup, the batch rules and checks
//!        │
//!        └─ below them all: data/ (formats, splits, normalization, class names),
//!           network (Architecture, Layer), dropout (masks), optimizer, schedule,
//!           report (epoch figures, early stopping), metrics, plot, download,
//!           files, choice, rng, error
//! ```
//!
//! # A step
//!
//! [`network::Architecture::layer`] describes each dense layer once ([`network::Layer`]:
//! shape, parameter offsets, its activation and the activation that produced its
//! input). A training step has the same five named stages on both paths: gather,
//! forward (a loop over the layers), the loss head, backward (the layers in
//! reverse), the optimizer update — `cpu::backend` calls them on [`cpu::CpuNet`],
//! `gpu::backend` records them (the GPU's go out 64 steps to a submit; the seams
//! are in the code, not in the device's timeline). A layer is
//! [`cpu::layer::dense_forward`] / [`cpu::layer::dense_backward`] on the CPU and
//! [`gpu::layer::DenseLayer`]'s `record_forward` / `record_backward` on the GPU
//! (its products bound to named buffers in one constructor). A per-layer feature
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
pub mod scores;
pub mod state_dict;
pub mod task;
pub mod train;
pub mod trainer;

pub use data::normalize::Normalize;
pub use data::{Dataset, Format, LoadOptions, Split, SplitKind};
pub use error::{Error, Result};
pub use gpu::context::BackendChoice;
pub use network::Activation;
pub use optimizer::{Optimizer, OptimizerKind};
pub use report::{EpochReport, Monitor};
pub use schedule::{LrSchedule, ScheduleKind};
pub use task::{Head, Loss, Task};
pub use trainer::{Device, Model, Trainer};
