//! What the environment decides: `GPU_MLP_MATMUL`, `LP_NUM_THREADS`,
//! `GPU_MLP_BINDING_BUDGET`, `GPU_MLP_HOST_MEMORY`, `GPU_MLP_CPU_KERNEL` and
//! `GPU_MLP_THREADS`, each read here and nowhere below the command line.

use gpu_mlp::choice::Choice;
use gpu_mlp::cpu::kernel::CpuKernel;
use gpu_mlp::gpu::matmul::MatmulVariant;
use gpu_mlp::gpu::GpuOptions;
use gpu_mlp::Error;

/// The GPU choices the environment makes: `GPU_MLP_MATMUL` (a matmul variant) and
/// `LP_NUM_THREADS` (lavapipe's worker threads, which decide the matmul tile).
pub(crate) fn gpu_options_from_env() -> Result<GpuOptions, Error> {
    let matmul = match std::env::var("GPU_MLP_MATMUL") {
        Ok(name) => Some(MatmulVariant::from_name(&name).ok_or_else(|| {
            Error::Usage(format!(
                "$GPU_MLP_MATMUL={name:?}: expected one of {}",
                MatmulVariant::names().join(", ")
            ))
        })?),
        Err(_) => None,
    };
    let workers = std::env::var("LP_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u32| n > 0);
    Ok(GpuOptions {
        matmul,
        workers,
        binding_budget: binding_budget_from_env()?,
    })
}

/// `GPU_MLP_BINDING_BUDGET`: plan with at most this many bytes per storage binding,
/// so that streaming can be tried, and tested, with small data.
fn binding_budget_from_env() -> Result<Option<u64>, Error> {
    byte_count("GPU_MLP_BINDING_BUDGET")
}

/// `GPU_MLP_HOST_MEMORY`: the most host memory a run may take (data, network),
/// below what the OS reports available: a share of a busy machine.
pub(crate) fn host_memory_from_env() -> Result<(), Error> {
    if let Some(bytes) = byte_count("GPU_MLP_HOST_MEMORY")? {
        gpu_mlp::files::set_host_memory_limit(bytes);
    }
    Ok(())
}

/// A byte count from `var` (a number, optionally with K, M or G: powers of 1024),
/// at least 1024; None where it is unset or empty.
fn byte_count(var: &str) -> Result<Option<u64>, Error> {
    let text = std::env::var(var).unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(None);
    }
    let (digits, shift) = match text.trim().char_indices().last() {
        Some((i, 'K' | 'k')) => (&text.trim()[..i], 10),
        Some((i, 'M' | 'm')) => (&text.trim()[..i], 20),
        Some((i, 'G' | 'g')) => (&text.trim()[..i], 30),
        _ => (text.trim(), 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n >= 1024)
        .map(Some)
        .ok_or_else(|| {
            Error::Usage(format!(
                "${var}={text:?}: expected a byte count of at least 1024 (suffix K, M or G allowed)"
            ))
        })
}

/// `GPU_MLP_CPU_KERNEL`: the CPU path's instruction set (default: the widest the
/// processor runs; see `cpu::kernel`).
pub(crate) fn cpu_kernel_from_env() -> Result<(), Error> {
    let Ok(name) = std::env::var("GPU_MLP_CPU_KERNEL") else {
        return Ok(());
    };
    let kernel =
        CpuKernel::parse(&name).map_err(|e| Error::Usage(format!("$GPU_MLP_CPU_KERNEL: {e}")))?;
    gpu_mlp::cpu::kernel::set_kernel(kernel)
        .map_err(|e| Error::Usage(format!("$GPU_MLP_CPU_KERNEL={name}: {e}")))
}

/// `GPU_MLP_THREADS`: how many threads the CPU path uses (default: every core).
pub(crate) fn cpu_threads_from_env() -> Result<(), Error> {
    let Some(value) = std::env::var_os("GPU_MLP_THREADS") else {
        return Ok(());
    };
    let n = value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "$GPU_MLP_THREADS={value:?}: expected a number of threads, 1 to {}",
                gpu_mlp::cpu::pool::MAX_THREADS
            ))
        })?;
    gpu_mlp::cpu::pool::set_threads(n).map_err(|e| Error::Usage(format!("$GPU_MLP_THREADS: {e}")))
}
