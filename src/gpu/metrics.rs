//! Per-batch loss and accuracy sums into metric slots (shaders/metrics.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/metrics.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MetricsParams {
    pub rows: u32,
    pub slot: u32,
    pub _pad: [u32; 2],
}

impl MetricsParams {
    pub fn new(rows: usize, slot: usize) -> Self {
        MetricsParams {
            rows: rows as u32,
            slot: slot as u32,
            _pad: [0; 2],
        }
    }
}

bindings! {
    /// What the batch's sums read and write.
    MetricsBindings {
        /// Each row's loss.
        row_loss: Read,
        /// Each row's correctness (0 or 1).
        row_correct: Read,
        /// One (loss sum, correct count) slot per step.
        slots: ReadWrite,
    }
}

/// Dispatched as one workgroup.
pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "metrics.wgsl", SOURCE)?;
    Ok(Kernel::new::<MetricsParams>(
        ctx,
        &module,
        "batch_metrics",
        MetricsBindings::ACCESS,
    ))
}
