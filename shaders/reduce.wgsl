// Column sums: the bias gradient db = Σ_rows dz. src: rows×cols, dst[dst_off + col].
// One invocation per column adds the rows in order: deterministic, and the same
// order as the CPU reference.

struct ReduceParams {
    rows: u32,
    cols: u32,
    dst_off: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn bias_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if col >= p.cols {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        sum += src[r * p.cols + col];
    }
    dst[p.dst_off + col] = sum;
}
