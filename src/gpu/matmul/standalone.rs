//! Running one matmul product on host data, outside training: for the tests and
//! `bench --matmul`.

use super::{
    stored_operands, BoundProduct, MatmulKernels, MatmulParams, OperandTexture, PackParams,
    Product, ProductOperands,
};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{read_f32, storage_buffer_init, Binding, Recorder};

/// One product bound to its own buffers (and, for the texture variant, operand
/// textures with their packs): for tests and the matmul benchmark. Training binds
/// its products in gpu/backend.rs.
struct Standalone {
    c: wgpu::Buffer,
    packs: Vec<(Binding, PackParams)>,
    matmul: BoundProduct,
}

impl Standalone {
    /// `contents`: a, b, c, aux.
    fn new(
        ctx: &GpuContext,
        kernels: &MatmulKernels,
        product: Product,
        params: &MatmulParams,
        arena: &wgpu::Buffer,
        contents: [&[f32]; 4],
    ) -> Result<Self> {
        let name = kernels.kernel(product).name;
        let [a, b, c, aux] =
            contents.map(|v| storage_buffer_init(ctx, name, bytemuck::cast_slice(v)));
        let (Some(pack), true) = (&kernels.pack, kernels.reads_textures(product)) else {
            let operands = ProductOperands {
                a: a.as_entire_binding(),
                b: b.as_entire_binding(),
                c: &c,
                aux: &aux,
            };
            let matmul = kernels.bind(ctx, arena, product, operands);
            return Ok(Standalone {
                c,
                packs: Vec::new(),
                matmul,
            });
        };
        let stored = stored_operands(product, params);
        let mut views = Vec::new();
        let mut packs = Vec::new();
        for (src, &(off, rows, cols)) in [&a, &b].into_iter().zip(&stored) {
            if !OperandTexture::fits(ctx, rows, cols) {
                return Err(crate::error::Error::Gpu(format!(
                    "a {rows}×{cols} operand does not fit a texture of {} (max_texture_dimension_2d {})",
                    ctx.info.name, ctx.limits.max_texture_dimension_2d
                )));
            }
            let texture = OperandTexture::new(ctx, "operand", rows, cols);
            let binding = pack.bind_resources(
                ctx,
                arena,
                &[
                    src.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&texture.view),
                ],
            );
            packs.push((binding, PackParams::new(off, rows, cols)));
            views.push(texture.view);
        }
        let operands = ProductOperands {
            a: wgpu::BindingResource::TextureView(&views[0]),
            b: wgpu::BindingResource::TextureView(&views[1]),
            c: &c,
            aux: &aux,
        };
        let matmul = kernels.bind(ctx, arena, product, operands);
        Ok(Standalone { c, packs, matmul })
    }

    fn record(&self, ctx: &GpuContext, rec: &mut Recorder, params: &MatmulParams, packs: bool) {
        if packs {
            for (binding, p) in &self.packs {
                rec.dispatch(ctx, binding, p, p.workgroups());
            }
        }
        self.matmul.record(ctx, rec, params);
    }
}

/// Runs one product on host data and returns C (m×n): for tests. `aux` is the
/// bias (forward) or the activations (backward_input).
pub fn run(
    ctx: &GpuContext,
    kernels: &MatmulKernels,
    product: Product,
    params: &MatmulParams,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Vec<f32>> {
    let c = vec![0.0f32; params.c_off as usize + (params.m * params.n) as usize];
    let mut rec = Recorder::new(ctx, 3);
    let one = Standalone::new(ctx, kernels, product, params, rec.arena(), [a, b, &c, aux])?;
    one.record(ctx, &mut rec, params, true);
    rec.submit(ctx);
    ctx.wait()?;
    let c = pollster::block_on(read_f32(ctx, &one.c, c.len()))?;
    Ok(c[params.c_off as usize..].to_vec())
}

/// Seconds per `product` on random operands sized for `params`: after a warm-up
/// (lazy drivers compile then), `reps` products in one submit, timed from submit to
/// completion. `with_packs`: the texture variant also fills both operand textures
/// each time, as training does. For the matmul benchmark.
pub fn seconds_per_product(
    ctx: &GpuContext,
    kernels: &MatmulKernels,
    product: Product,
    params: &MatmulParams,
    reps: usize,
    with_packs: bool,
) -> Result<f64> {
    let mut rng = crate::rng::Rng::new(1);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n.max(1)).map(|_| rng.next_f64() as f32 - 0.5).collect() };
    let (m, k, n) = (params.m as usize, params.k as usize, params.n as usize);
    let a = random(params.a_off as usize + m * k);
    let b = random(params.b_off as usize + k * n);
    let aux = random(params.aux_off as usize + m * n);
    let c = vec![0.0f32; params.c_off as usize + m * n];
    let reps = reps.max(1);
    let mut rec = Recorder::new(ctx, 3 * reps);
    let one = Standalone::new(
        ctx,
        kernels,
        product,
        params,
        rec.arena(),
        [&a, &b, &c, &aux],
    )?;
    one.record(ctx, &mut rec, params, true);
    rec.submit(ctx);
    ctx.wait()?;
    for _ in 0..reps {
        one.record(ctx, &mut rec, params, with_packs);
    }
    let t = std::time::Instant::now();
    rec.submit(ctx);
    ctx.wait()?;
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}
