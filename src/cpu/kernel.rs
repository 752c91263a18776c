//! Which instruction set the CPU path computes with, chosen once per process from
//! what the processor has (runtime detection: one binary for every x86-64), and
//! overridable for tests and comparisons.
//!
//! | kernel | GEMM | where it is the default |
//! |---|---|---|
//! | `avx512` | the `gemm` crate's AVX-512 micro-kernels | x86-64 with AVX-512F |
//! | `avx2` | `matrixmultiply` (AVX2+FMA kernels; SSE/NEON ones on older or ARM CPUs) | every other CPU |
//! | `portable` | plain Rust loops, no SIMD beyond the build's baseline | only when asked for |
//!
//! Each product is split over the CPU threads by the caller (`real.rs`); every kernel
//! runs its part on one thread, so results depend on the kernel, never on timing.
//! Bias + activation (the sigmoid's exp) is also built for AVX2 and AVX-512 and runs
//! in the kernel's width, with the portable build's bits (`activation.rs`).

use std::cell::Cell;
use std::sync::OnceLock;

use crate::choice::Choice;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuKernel {
    Avx512,
    Avx2,
    Portable,
}

impl Choice for CpuKernel {
    const ALL: &'static [Self] = &[CpuKernel::Avx512, CpuKernel::Avx2, CpuKernel::Portable];
    const WHAT: &'static str = "CPU kernel";

    fn name(self) -> &'static str {
        match self {
            CpuKernel::Avx512 => "avx512",
            CpuKernel::Avx2 => "avx2",
            CpuKernel::Portable => "portable",
        }
    }
}

impl CpuKernel {
    /// Whether this processor can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            CpuKernel::Avx512 => has_avx512(),
            // matrixmultiply picks its own best kernel for whatever CPU it runs on.
            CpuKernel::Avx2 | CpuKernel::Portable => true,
        }
    }

    /// The widest kernel this processor runs.
    pub fn detect() -> Self {
        if has_avx512() {
            CpuKernel::Avx512
        } else {
            CpuKernel::Avx2
        }
    }

    /// Every kernel this processor runs, widest first.
    pub fn all_supported() -> Vec<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|k| k.supported())
            .collect()
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

static PROCESS_KERNEL: OnceLock<CpuKernel> = OnceLock::new();

thread_local! {
    static THREAD_KERNEL: Cell<Option<CpuKernel>> = const { Cell::new(None) };
}

/// Chooses the kernel for the whole process, before the CPU path first runs.
pub fn set_kernel(kernel: CpuKernel) -> Result<()> {
    if !kernel.supported() {
        return Err(Error::Usage(format!(
            "the {} CPU kernel needs an instruction set this processor lacks (it runs: {})",
            kernel.name(),
            CpuKernel::all_supported()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if PROCESS_KERNEL.set(kernel).is_err() && current() != kernel {
        return Err(Error::Usage(format!(
            "the CPU path already runs the {} kernel",
            current().name()
        )));
    }
    Ok(())
}

/// The kernel in force on this thread: a `with_kernel` override, else the process's.
pub fn current() -> CpuKernel {
    THREAD_KERNEL
        .get()
        .unwrap_or_else(|| *PROCESS_KERNEL.get_or_init(CpuKernel::detect))
}

/// Runs `f` with `kernel` in force on this thread (for tests that compare kernels
/// within one process; the products `f` starts take the kernel with them).
pub fn with_kernel<R>(kernel: CpuKernel, f: impl FnOnce() -> R) -> R {
    let before = THREAD_KERNEL.replace(Some(kernel));
    let result = f();
    THREAD_KERNEL.set(before);
    result
}
