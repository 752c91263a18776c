//! The GPU path: wgpu host code for the kernels in shaders/, one module per shader
//! file, and the training backend that keeps the whole run on the device.
//!
//! | shader | module | entry points |
//! |---|---|---|
//! | `matmul.wgsl` (+ `activation.wgsl`) | [`matmul`] | `matmul_forward`, `matmul_backward_weight`, `matmul_backward_input`, the same `_tiled` and `_texture`, `matmul_pack_operand`, `matmul_reference` |
//! | `loss.wgsl` | [`loss`] | `softmax_loss_forward_backward` |
//! | `reduce.wgsl` | [`reduce`] | `bias_backward` |
//! | `dropout.wgsl` | [`dropout`] | `dropout_forward`, `dropout_backward` |
//! | `totals.wgsl` | [`totals`] | `batch_totals` |
//! | `optimizer.wgsl` | [`optimizer`] | `sgd_update`, `momentum_update`, `adam_update`, `adamw_update` |
//! | `gather.wgsl` | [`gather`] | `gather_batch` |
//!
//! Each module declares its kernels' bindings as a struct of named buffers in the
//! shader's order (`kernel::bindings!`), so every call site names what it binds.
//!
//! [`context`] picks the adapter and turns wgpu's asynchronous errors (validation,
//! device loss) into `Error`s at the next synchronisation; [`kernel`] builds
//! pipelines and records dispatches; [`layer`] binds one dense layer's products;
//! [`backend`] is the training backend (its device buffers, split residency, loss
//! head and adapter limits in files of their own); [`profile`] the timestamp profiler.
//!
//! # Design
//!
//! * **Resident.** Both data sets (u8 pixels packed four per u32), the parameters,
//!   gradients, optimizer state and activations stay on the device for the whole run;
//!   pipelines and bind groups are created once.
//! * **One uniform arena.** Each dispatch's small parameters (shapes, offsets, Adam's
//!   bias corrections) go into the next slot of one uniform buffer bound with a
//!   dynamic offset, so a step is only recorded dispatches; 64 steps go out together
//!   in one compute pass with one `write_buffer` and one submit.
//! * **One read-back per epoch.** Each batch's loss and correct count go into a slot
//!   of their own (fixed-order sums, no float atomics); the epoch's last submit copies
//!   the slots out and the host adds them in order, in f64. An epoch of S steps is
//!   ⌈S/64⌉ submits and one read-back (tested).
//! * **Matmul variants** (`shaders/matmul.wgsl` explains each): register-blocked (8×8
//!   outputs per invocation from storage buffers), workgroup-memory tiled, and texture
//!   (both operands read as `rgba32float` textures that a pack kernel fills). The
//!   variant is chosen per adapter: textures on CPU adapters, where lavapipe was
//!   measured fastest with them (benches/README.md), falling back to the blocked
//!   kernel when an operand exceeds the largest texture; workgroup-memory tiles on
//!   real GPUs. [`GpuOptions`] overrides it (the command line: `GPU_MLP_MATMUL`).
//!   The texture variant adds one pack per operand (a layer's input and weights before
//!   its forward product, its output gradient before the backward ones) and doubles
//!   the device memory of activations, their gradients and the weights.
//! * **Tile per product shape.** 32×32 outputs per workgroup instead of 64×64 only
//!   when four times the 64×64 workgroups still fit the adapter's workers (lavapipe:
//!   its worker threads; a real GPU: taken as 128), because a 32×32 workgroup does
//!   about half the work per second of a 64×64 one on lavapipe.
//! * **Errors, not hangs.** No adapter lists those that exist and suggests `--cpu`;
//!   data or layers beyond a binding, buffer or texture limit name the limit.

pub mod backend;
pub mod context;
pub mod dropout;
pub mod gather;
pub mod kernel;
pub mod layer;
pub mod loss;
pub mod matmul;
pub mod optimizer;
pub mod profile;
pub mod reduce;
pub mod totals;

pub use backend::{GpuBackend, GpuOptions};
pub use context::{list_adapters, BackendChoice, GpuContext};
