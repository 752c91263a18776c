//! Matmul forward and backward on the GPU (shaders/matmul.wgsl, with the fused
//! activation epilogues from shaders/activation.wgsl). Shapes as in cpu/matmul.rs:
//! a: m×k (batch×in), w: k×n (in×out), z: m×n, row-major.

use bytemuck::{Pod, Zeroable};

mod standalone;
mod texture;

pub use standalone::{run, seconds_per_product};
pub use texture::{stored_operands, OperandTexture, PackParams};

use super::context::GpuContext;
use super::kernel::{shader_module, Access, Binding, Kernel, Recorder};
use crate::choice::Choice;
use crate::error::Result;

pub const SOURCE: &str = concat!(
    include_str!("../../../shaders/activation.wgsl"),
    include_str!("../../../shaders/matmul.wgsl")
);

/// Outputs per workgroup along each axis: 8×8 invocations of 8×8 outputs (and the
/// tiled kernel's 16×16 of 4×4) ...
pub const TILE: u32 = 64;
/// ... or, for the register-blocked and texture kernels built with `WG` = 4, 4×4
/// invocations of 8×8 outputs: 4× the workgroups for products too small for 64.
pub const SMALL_TILE: u32 = 32;

/// `MatmulParams` in matmul.wgsl: C (m×n) = A (m×k) · B (k×n) through strides.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub act: u32,
    pub a_off: u32,
    pub a_row: u32,
    pub a_col: u32,
    pub b_off: u32,
    pub b_row: u32,
    pub b_col: u32,
    pub c_off: u32,
    pub aux_off: u32,
}

impl MatmulParams {
    /// z (m×n) = act(a (m×k) · w (k×n) + bias); `act` 0 leaves it linear.
    pub fn forward(m: usize, k: usize, n: usize, w_off: usize, bias_off: usize, act: u32) -> Self {
        MatmulParams {
            m: m as u32,
            k: k as u32,
            n: n as u32,
            act,
            a_off: 0,
            a_row: k as u32,
            a_col: 1,
            b_off: w_off as u32,
            b_row: n as u32,
            b_col: 1,
            c_off: 0,
            aux_off: bias_off as u32,
        }
    }

    /// dw (k×n) = aᵀ · dz for a: batch×k, dz: batch×n, written at `dw_off`.
    pub fn backward_weight(batch: usize, k: usize, n: usize, dw_off: usize) -> Self {
        MatmulParams {
            m: k as u32,
            k: batch as u32,
            n: n as u32,
            act: 0,
            a_off: 0,
            a_row: 1,
            a_col: k as u32,
            b_off: 0,
            b_row: n as u32,
            b_col: 1,
            c_off: dw_off as u32,
            aux_off: 0,
        }
    }

    /// da (batch×k) = (dz · wᵀ) ⊙ act'(a) for dz: batch×n, w: k×n at `w_off`.
    pub fn backward_input(batch: usize, k: usize, n: usize, w_off: usize, act: u32) -> Self {
        MatmulParams {
            m: batch as u32,
            k: n as u32,
            n: k as u32,
            act,
            a_off: 0,
            a_row: n as u32,
            a_col: 1,
            b_off: w_off as u32,
            b_row: 1,
            b_col: n as u32,
            c_off: 0,
            aux_off: 0,
        }
    }

    /// Workgroups of `tile`×`tile` outputs covering C.
    pub fn workgroups(&self, tile: u32) -> [u32; 3] {
        [self.n.div_ceil(tile), self.m.div_ceil(tile), 1]
    }

    /// Workgroups for `matmul_reference` (16×16 invocations, one output each).
    pub fn reference_workgroups(&self) -> [u32; 3] {
        [self.n.div_ceil(16), self.m.div_ceil(16), 1]
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }
}

/// Bindings of every matmul entry point: a, b, c, aux.
const BINDINGS: [Access; 4] = [Access::Read, Access::Read, Access::ReadWrite, Access::Read];

/// Which tiling of the matmul kernels to run (shaders/matmul.wgsl says how each works).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// 8×8 outputs per invocation from registers, no workgroup memory.
    Blocked,
    /// 4×4 outputs per invocation over 64×16 tiles staged in workgroup memory.
    Tiled,
    /// 8×8 outputs per invocation, operands read from rgba32float textures that a
    /// pack kernel fills from the buffers before each product.
    Texture,
}

impl MatmulVariant {
    /// By adapter: texture operands on CPU adapters (lavapipe: measured fastest
    /// there, see benches/README.md), workgroup-memory tiles on real GPUs, where
    /// staging in workgroup memory is the standard win (not yet measured on one).
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        match info.device_type {
            wgpu::DeviceType::Cpu => MatmulVariant::Texture,
            _ => MatmulVariant::Tiled,
        }
    }

    /// Whether the variant also comes with `SMALL_TILE` outputs per workgroup.
    pub fn has_small_tile(self) -> bool {
        self != MatmulVariant::Tiled
    }

    /// Workgroup memory the variant needs, in bytes.
    pub fn workgroup_bytes(self) -> u32 {
        match self {
            MatmulVariant::Blocked | MatmulVariant::Texture => 0,
            MatmulVariant::Tiled => 8192,
        }
    }
}

impl Choice for MatmulVariant {
    const ALL: &'static [Self] = &[
        MatmulVariant::Blocked,
        MatmulVariant::Tiled,
        MatmulVariant::Texture,
    ];
    const WHAT: &'static str = "matmul variant";

    fn name(self) -> &'static str {
        match self {
            MatmulVariant::Blocked => "blocked",
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::Texture => "texture",
        }
    }
}

/// The products of a dense layer, and the simple kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    Forward,
    BackwardWeight,
    BackwardInput,
    /// One output per invocation, no epilogue (reads buffers in every variant).
    Reference,
}

/// Bindings of the texture entry points: a and b as textures, then c, aux.
const TEXTURE_BINDINGS: [Access; 4] = [
    Access::Texture,
    Access::Texture,
    Access::ReadWrite,
    Access::Read,
];

/// The three entry points of one variant.
pub struct MatmulKernels {
    pub variant: MatmulVariant,
    pub forward: Kernel,
    pub backward_weight: Kernel,
    pub backward_input: Kernel,
    /// The same three with `SMALL_TILE` outputs per workgroup (blocked and texture).
    pub small: Option<[Kernel; 3]>,
    /// Workgroups the adapter runs at once (`parallel_workers`), which decides
    /// when a product gets the small tile (`small_tile_pays`).
    pub workers: u32,
    /// One output per invocation, no epilogue: the oracle and the baseline.
    pub reference: Kernel,
    /// Fills operand textures (the texture variant only).
    pub pack: Option<Kernel>,
}

impl MatmulKernels {
    pub fn variant(ctx: &GpuContext, variant: MatmulVariant) -> Result<Self> {
        let module = shader_module(ctx, "matmul.wgsl", SOURCE)?;
        let names = match variant {
            MatmulVariant::Blocked => [
                "matmul_forward",
                "matmul_backward_weight",
                "matmul_backward_input",
            ],
            MatmulVariant::Tiled => [
                "matmul_forward_tiled",
                "matmul_backward_weight_tiled",
                "matmul_backward_input_tiled",
            ],
            MatmulVariant::Texture => [
                "matmul_forward_texture",
                "matmul_backward_weight_texture",
                "matmul_backward_input_texture",
            ],
        };
        let bindings = match variant {
            MatmulVariant::Texture => &TEXTURE_BINDINGS,
            _ => &BINDINGS,
        };
        let [forward, backward_weight, backward_input] =
            names.map(|name| Kernel::new::<MatmulParams>(ctx, &module, name, bindings));
        let small = variant.has_small_tile().then(|| {
            let wg = [("WG", (SMALL_TILE / 8) as f64)];
            names.map(|name| {
                Kernel::with_constants::<MatmulParams>(ctx, &module, name, bindings, &wg)
            })
        });
        let pack = (variant == MatmulVariant::Texture).then(|| {
            Kernel::new::<PackParams>(
                ctx,
                &module,
                "matmul_pack_operand",
                &[Access::Read, Access::WriteTexture],
            )
        });
        Ok(MatmulKernels {
            variant,
            forward,
            backward_weight,
            backward_input,
            small,
            workers: parallel_workers(&ctx.info),
            reference: Kernel::new::<MatmulParams>(ctx, &module, "matmul_reference", &BINDINGS),
            pack,
        })
    }

    pub fn kernel(&self, product: Product) -> &Kernel {
        match product {
            Product::Forward => &self.forward,
            Product::BackwardWeight => &self.backward_weight,
            Product::BackwardInput => &self.backward_input,
            Product::Reference => &self.reference,
        }
    }

    /// The small-tile kernel of `product`, where the variant has one.
    pub fn small_kernel(&self, product: Product) -> Option<&Kernel> {
        let small = self.small.as_ref()?;
        match product {
            Product::Forward => Some(&small[0]),
            Product::BackwardWeight => Some(&small[1]),
            Product::BackwardInput => Some(&small[2]),
            Product::Reference => None,
        }
    }

    /// Overrides how many workgroups count as enough (tests: 0 forces 64×64 tiles,
    /// `u32::MAX` 32×32 ones wherever the variant has them).
    pub fn with_workers(mut self, workers: u32) -> Self {
        self.workers = workers;
        self
    }

    /// Binds `product` to its operands at every tile size it has.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        product: Product,
        operands: ProductOperands,
    ) -> BoundProduct {
        let resources = &operands.in_binding_order();
        BoundProduct {
            product,
            large: self.kernel(product).bind_resources(ctx, arena, resources),
            small: self
                .small_kernel(product)
                .map(|k| k.bind_resources(ctx, arena, resources)),
            workers: self.workers,
        }
    }

    /// Whether `product` reads its operands from textures.
    pub fn reads_textures(&self, product: Product) -> bool {
        self.variant == MatmulVariant::Texture && product != Product::Reference
    }
}

/// What a product binds (matmul.wgsl's bindings 1–4): `c = a·b` with an
/// auxiliary input. a and b are storage buffers, or the texture variant's
/// operand textures.
///
/// | product | a | b | c | aux |
/// |---|---|---|---|---|
/// | forward | layer input | params (W) | layer output | params (its bias) |
/// | backward weight | layer input | dz | grads (dW) | layer input (unused) |
/// | backward input | dz | params (W) | dz of the layer below | the input's activation (act') |
pub struct ProductOperands<'a> {
    pub a: wgpu::BindingResource<'a>,
    pub b: wgpu::BindingResource<'a>,
    pub c: &'a wgpu::Buffer,
    pub aux: &'a wgpu::Buffer,
}

impl<'a> ProductOperands<'a> {
    fn in_binding_order(self) -> [wgpu::BindingResource<'a>; 4] {
        [
            self.a,
            self.b,
            self.c.as_entire_binding(),
            self.aux.as_entire_binding(),
        ]
    }
}

/// One product bound to its operands, at both tile sizes where the variant has two;
/// `record` picks one per shape.
pub struct BoundProduct {
    product: Product,
    large: Binding,
    small: Option<Binding>,
    workers: u32,
}

impl BoundProduct {
    pub fn record(&self, ctx: &GpuContext, rec: &mut Recorder, params: &MatmulParams) {
        let large = match self.product {
            Product::Reference => params.reference_workgroups(),
            _ => params.workgroups(TILE),
        };
        match &self.small {
            Some(small) if small_tile_pays(params, self.workers) => rec.dispatch_counted(
                ctx,
                small,
                params,
                params.workgroups(SMALL_TILE),
                params.flops(),
            ),
            _ => rec.dispatch_counted(ctx, &self.large, params, large, params.flops()),
        }
    }
}

/// Whether 32×32 tiles should replace 64×64 ones for a product of this shape: only
/// when all four times as many workgroups still find idle workers. A small tile
/// does about half the work per workgroup-second of a large one (measured on
/// lavapipe: 1 workgroup of 64×64 on 2 cores beat 4 of 32×32 by 1.6×), so it pays
/// only where the large tile leaves most workers idle.
pub fn small_tile_pays(params: &MatmulParams, workers: u32) -> bool {
    let [x, y, _] = params.workgroups(TILE);
    (x * y).saturating_mul(4) <= workers
}

/// Workgroups one dispatch needs to occupy the adapter: lavapipe runs workgroups on
/// `LP_NUM_THREADS` threads, by default every core (the command line passes
/// `LP_NUM_THREADS` itself through `GpuOptions::workers`); a real GPU is taken to
/// need 128, about the multiprocessor count of a large one (not measured: see
/// benches/README.md).
pub fn parallel_workers(info: &wgpu::AdapterInfo) -> u32 {
    if info.device_type != wgpu::DeviceType::Cpu {
        return 128;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
