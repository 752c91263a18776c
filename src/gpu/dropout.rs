//! Inverted dropout on the GPU (shaders/dropout.wgsl), its mask the one
//! cpu/dropout.rs computes.

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, grid_1d, shader_module, Kernel};
use crate::dropout::DropoutMask;
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/dropout.wgsl");
const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct DropoutParams {
    pub count: u32,
    pub groups_x: u32,
    pub threshold: u32,
    pub scale: f32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub step: u32,
    pub layer: u32,
}

impl DropoutParams {
    /// `mask` over `count` elements; None is evaluation: every unit kept, unscaled.
    pub fn new(count: usize, mask: Option<&DropoutMask>) -> Self {
        let (threshold, scale, seed, step, layer) = match mask {
            Some(m) => (m.threshold(), m.scale(), m.seed, m.step, m.layer),
            None => (0, 1.0, 0, 0, 0),
        };
        DropoutParams {
            count: count as u32,
            groups_x: grid_1d(count, WG)[0],
            threshold,
            scale,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
            step,
            layer,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        grid_1d(self.count as usize, WG)
    }
}

bindings! {
    /// What both entry points read and write.
    DropoutBindings {
        /// The layer's output (dropout_forward reads it; dropout_backward ignores it).
        source: Read,
        /// dropout_forward: the output after dropout; dropout_backward: the
        /// gradient, masked in place.
        target: ReadWrite,
    }
}

/// dropout_forward and dropout_backward.
pub fn kernels(ctx: &GpuContext) -> Result<(Kernel, Kernel)> {
    let module = shader_module(ctx, "dropout.wgsl", SOURCE)?;
    let make = |entry| Kernel::new::<DropoutParams>(ctx, &module, entry, DropoutBindings::ACCESS);
    Ok((make("dropout_forward"), make("dropout_backward")))
}
