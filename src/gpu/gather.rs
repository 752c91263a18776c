//! Batch gather from the data set (or a window of it) on the GPU (shaders/gather.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{shader_module, Access, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/gather.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GatherParams {
    pub batch: u32,
    pub width: u32,
    pub start: u32,
    pub floats: u32,
}

impl GatherParams {
    pub fn new(batch: usize, width: usize, start: usize, floats: bool) -> Self {
        GatherParams {
            batch: batch as u32,
            width: width as u32,
            start: start as u32,
            floats: floats as u32,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [self.width.div_ceil(64), self.batch, 1]
    }
}

/// Bindings: features (packed u8 or f32 bits), labels, order, norm (shift, scale), x, y.
pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "gather.wgsl", SOURCE)?;
    Ok(Kernel::new::<GatherParams>(
        ctx,
        &module,
        "gather_batch",
        &[
            Access::Read,
            Access::Read,
            Access::Read,
            Access::Read,
            Access::ReadWrite,
            Access::ReadWrite,
        ],
    ))
}
