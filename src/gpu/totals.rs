//! A batch's totals (summed loss, correct count) into its slot (shaders/totals.wgsl):
//! the GPU's side of `report::Totals`.

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/totals.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct TotalsParams {
    pub rows: u32,
    pub slot: u32,
    pub _pad: [u32; 2],
}

impl TotalsParams {
    pub fn new(rows: usize, slot: usize) -> Self {
        TotalsParams {
            rows: rows as u32,
            slot: slot as u32,
            _pad: [0; 2],
        }
    }
}

bindings! {
    /// What the batch's sums read and write.
    TotalsBindings {
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
    let module = shader_module(ctx, "totals.wgsl", SOURCE)?;
    Ok(Kernel::new::<TotalsParams>(
        ctx,
        &module,
        "batch_totals",
        TotalsBindings::ACCESS,
    ))
}
