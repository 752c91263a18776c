//! Per-batch loss and accuracy sums into metric slots (shaders/metrics.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{shader_module, Access, Kernel};
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

/// Bindings: row_loss, row_correct, metrics. Dispatched as one workgroup.
pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "metrics.wgsl", SOURCE)?;
    Ok(Kernel::new::<MetricsParams>(
        ctx,
        &module,
        "batch_metrics",
        &[Access::Read, Access::Read, Access::ReadWrite],
    ))
}
