// Inverted dropout on a hidden layer's output, forward and backward side by side.
// The mask is a counter-based hash of (seed, step, layer, element): no RNG state,
// the same bits as the CPU reference (src/cpu/dropout.rs), and the same mask in the
// backward pass without storing it.
//   dropout_forward:   kept = a · (keep ? scale : 0)      a, kept: batch×width
//   dropout_backward:  dz  = dz · (keep ? scale : 0)      in place
// keep = hash ≥ threshold (threshold = p·2³², scale = 1/(1−p), both from the host).
// Evaluation runs dropout_forward with threshold 0 and scale 1: a copy.

struct DropoutParams {
    count: u32,       // elements: batch × width
    groups_x: u32,    // workgroups along x, to flatten the 2-D grid
    threshold: u32,
    scale: f32,
    seed_lo: u32,
    seed_hi: u32,
    step: u32,        // the optimizer step being taken (1-based)
    layer: u32,
}

@group(0) @binding(0) var<uniform> p: DropoutParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// lowbias32 (Chris Wellons' integer hash): a bijection on u32 with good avalanche.
fn mix(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn factor(i: u32) -> f32 {
    let h = mix(mix(mix(mix(i ^ mix(p.layer)) ^ p.step) ^ p.seed_lo) ^ p.seed_hi);
    return select(0.0, p.scale, h >= p.threshold);
}

@compute @workgroup_size(256)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.groups_x * WG + gid.x;
    if i >= p.count {
        return;
    }
    out[i] = a[i] * factor(i);
}

@compute @workgroup_size(256)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * p.groups_x * WG + gid.x;
    if i >= p.count {
        return;
    }
    out[i] = out[i] * factor(i);
}
