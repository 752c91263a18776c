//! The texture variant's operands (shaders/matmul.wgsl, "texture operands"):
//! rgba32float textures holding a matrix four floats per texel, and the pack
//! kernel's parameters that fill them from a buffer.

use bytemuck::{Pod, Zeroable};

use super::{MatmulParams, Product};
use crate::gpu::context::GpuContext;

/// `PackParams` in matmul.wgsl: rows×cols at `off` in a buffer → an operand texture.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PackParams {
    pub off: u32,
    pub rows: u32,
    pub cols: u32,
    pub padded_rows: u32,
}

impl PackParams {
    pub fn new(off: usize, rows: usize, cols: usize) -> Self {
        PackParams {
            off: off as u32,
            rows: rows as u32,
            cols: cols as u32,
            padded_rows: rows.next_multiple_of(4) as u32,
        }
    }

    /// 8×8 invocations per workgroup, one texel each.
    pub fn workgroups(&self) -> [u32; 3] {
        [
            self.cols.div_ceil(4).div_ceil(8),
            self.padded_rows.div_ceil(8),
            1,
        ]
    }
}

/// An rgba32float texture holding a row-major matrix of up to `rows`×`cols`
/// elements, four per texel along each row (layout in matmul.wgsl).
pub struct OperandTexture {
    /// The view keeps its texture alive; kernels only ever bind views.
    pub view: wgpu::TextureView,
}

impl OperandTexture {
    /// Texels wide and tall for a rows×cols matrix: rows rounded up to a multiple
    /// of 4 so that a 4-deep step of a sum over rows reads zeros past the end.
    pub fn extent(rows: usize, cols: usize) -> (usize, usize) {
        (cols.div_ceil(4).max(1), rows.next_multiple_of(4).max(4))
    }

    /// Whether the adapter can hold such a texture.
    pub fn fits(ctx: &GpuContext, rows: usize, cols: usize) -> bool {
        let (w, h) = Self::extent(rows, cols);
        let max = ctx.limits.max_texture_dimension_2d as usize;
        w <= max && h <= max
    }

    pub fn new(ctx: &GpuContext, label: &str, rows: usize, cols: usize) -> Self {
        let (w, h) = Self::extent(rows, cols);
        let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: w as u32,
                height: h as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
            view_formats: &[],
        });
        OperandTexture {
            view: texture.create_view(&Default::default()),
        }
    }
}

/// Where the two operands of `product` lie in their buffers, as stored:
/// (offset, rows, cols) of a dense row-major matrix each. The texture kernels
/// assume the orientations `MatmulParams::{forward, backward_*}` produce.
pub fn stored_operands(product: Product, p: &MatmulParams) -> [(usize, usize, usize); 2] {
    let (m, k, n) = (p.m as usize, p.k as usize, p.n as usize);
    let (a, b) = match product {
        Product::Forward | Product::Reference => ((m, k), (k, n)),
        Product::BackwardWeight => ((k, m), (k, n)),
        Product::BackwardInput => ((m, k), (n, k)),
    };
    [(p.a_off as usize, a.0, a.1), (p.b_off as usize, b.0, b.1)]
}
