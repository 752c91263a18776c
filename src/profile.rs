//! What a backend can tell about its own speed, for `bench`: host/device traffic and
//! time per kernel. Kept apart from `backend::Backend`, which training needs alone.

use crate::backend::Backend;

/// A backend that benchmarks can look inside.
pub trait Measured: Backend {
    /// Host/device traffic so far (zero where it does not apply).
    fn counters(&self) -> Counters {
        Counters::default()
    }
    /// Starts timing every kernel (GPU) or phase (CPU); false when the device cannot.
    fn enable_profiling(&mut self) -> bool;
    /// Time per kernel since `enable_profiling`, by kernel name.
    fn profile(&self) -> Vec<(&'static str, KernelTime)>;
}

/// What a GPU backend's host side has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub submits: u64,
    pub readbacks: u64,
    /// Seconds spent recording dispatches (parameters, bookkeeping).
    pub record_seconds: f64,
    /// Seconds spent inside `write_buffer` + encoding + `queue.submit`.
    pub submit_seconds: f64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;

    fn sub(self, before: Counters) -> Counters {
        Counters {
            submits: self.submits - before.submits,
            readbacks: self.readbacks - before.readbacks,
            record_seconds: self.record_seconds - before.record_seconds,
            submit_seconds: self.submit_seconds - before.submit_seconds,
        }
    }
}

/// Calls, time and arithmetic of one kernel in a profile.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    pub calls: u64,
    pub seconds: f64,
    /// Arithmetic done (for matmuls; 0 elsewhere).
    pub flops: f64,
}
