// Builds a batch from the data set resident on the GPU: x[r][px] = pixel px of
// example order[start + r], scaled to [0, 1]; y[r] = its label.
// images: every example's `pixels` bytes back to back, four bytes per u32 (little
// endian), so 60k 28×28 images take 47 MB instead of 188 MB of f32.
// x: batch×pixels, y: batch.

struct GatherParams {
    batch: u32,
    pixels: u32,
    start: u32,   // first position in `order`
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>) {
    let px = gid.x;
    let row = gid.y;
    if row >= p.batch || px >= p.pixels {
        return;
    }
    let example = order[p.start + row];
    let byte_index = example * p.pixels + px;
    let byte = (images[byte_index >> 2u] >> ((byte_index & 3u) * 8u)) & 0xffu;
    // Multiply by the rounded constant, as the CPU path does: bit-identical inputs.
    x[row * p.pixels + px] = f32(byte) * (1.0 / 255.0);
    if px == 0u {
        y[row] = labels[example];
    }
}
