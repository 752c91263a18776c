//! The CPU reference path: the same operations as shaders/, under the same names,
//! in plain Rust over matrixmultiply's GEMM. It is both the `--cpu` fallback and
//! the oracle every GPU result is checked against.

pub mod activation;
pub mod backend;
pub mod dropout;
pub mod kernel;
pub mod layer;
pub mod loss;
pub mod matmul;
pub mod net;
pub mod optimizer;
pub mod pool;
pub mod real;

use crate::backend::EVAL_BATCH;
use crate::network::Architecture;
use crate::optimizer::Optimizer;
pub use backend::CpuBackend;
pub use net::CpuNet;
pub use real::Real;

/// Threads the CPU path uses (`pool::set_threads`, else every core).
pub fn cpu_threads() -> usize {
    pool::threads()
}

/// Bytes the CPU path allocates for `arch` with batches of `batch`: parameters,
/// gradients, optimizer state, and activations plus their gradients.
pub fn memory_needed(arch: &Architecture, opt: &Optimizer, batch: usize) -> u64 {
    let copies = 2 + opt.kind.state_arrays() as u64;
    let acts: u64 =
        arch.sizes.iter().map(|&s| s as u64).sum::<u64>() * 2 * batch.max(EVAL_BATCH) as u64;
    4 * (arch.param_count() as u64 * copies + acts)
}
