// Builds a batch from a data set (or a window of it) on the GPU:
// x[r][j] = (feature j of example order[start + r] − shift[j]) · scale[j];
// y[r] = its target words (`stride` of them: a class index or values, and a
// weight where the split has them). The subtraction then the multiplication, in f32, exactly as
// the CPU gather computes them: both paths see bit-identical inputs.
// features: every example's `width` features back to back; bytes packed four per
// u32 (little endian), so 60k 28×28 images take 47 MB instead of 188 MB of f32,
// or f32 values stored as their bits.
// norm: shift[0..width], then scale[0..width]. x: batch×width, y: batch×stride.

struct GatherParams {
    batch: u32,
    width: u32,
    start: u32,   // first position in `order`
    floats: u32,  // 1: features are f32 bits; 0: packed bytes
    stride: u32,  // target words per example
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> features: array<u32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> norm: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let row = gid.y;
    if row >= p.batch {
        return;
    }
    let example = order[p.start + row];
    // The first `stride` invocations of a row copy its target words (dispatched
    // over max(width, stride) columns).
    if j < p.stride {
        y[row * p.stride + j] = targets[example * p.stride + j];
    }
    if j >= p.width {
        return;
    }
    let index = example * p.width + j;
    var value: f32;
    if p.floats == 1u {
        value = bitcast<f32>(features[index]);
    } else {
        value = f32((features[index >> 2u] >> ((index & 3u) * 8u)) & 0xffu);
    }
    x[row * p.width + j] = (value - norm[j]) * norm[p.width + j];
}
