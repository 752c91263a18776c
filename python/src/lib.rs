//! `gpu_mlp._core`: the compiled half of the Python package. It turns NumPy
//! arrays into a [`gpu_mlp::Dataset`], trains with [`gpu_mlp::Trainer`] with the
//! GIL released, and hands back a [`net::Net`] (a trained [`gpu_mlp::Model`]) that
//! predicts, saves and exports. The estimators (`gpu_mlp/_estimators.py`) are
//! small Python classes over these few calls: nothing here is a second
//! implementation of training.

mod arrays;
mod fit;
mod net;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A library error as the Python exception a caller expects: a bad setting or
/// bad data is a `ValueError`, a file the system refused an `OSError`, the GPU or
/// a diverged run a `RuntimeError`; each with the library's message.
pub(crate) fn to_py(e: gpu_mlp::Error) -> PyErr {
    use gpu_mlp::Error::*;
    let message = e.to_string();
    match e {
        Usage(_) | Setting { .. } | Data { .. } => PyValueError::new_err(message),
        Io { .. } | Output { .. } => PyOSError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// Sets how many threads the CPU path uses in this process (default: every
/// core). Only before the first training or prediction on the CPU: the pool
/// starts once per process. `GPU_MLP_THREADS` in the environment does the same.
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    gpu_mlp::cpu::pool::set_threads(n).map_err(to_py)
}

/// Threads the CPU path uses (starting none).
#[pyfunction]
fn threads() -> usize {
    gpu_mlp::cpu::pool::threads()
}

/// The GPU adapters wgpu finds, as "name (backend, kind)".
#[pyfunction]
fn adapters(py: Python<'_>) -> Vec<String> {
    use gpu_mlp::gpu::context::{describe_adapter, list_adapters};
    py.detach(|| {
        list_adapters(gpu_mlp::BackendChoice::Auto)
            .iter()
            .map(describe_adapter)
            .collect()
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<net::Net>()?;
    m.add_function(wrap_pyfunction!(fit::train, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
