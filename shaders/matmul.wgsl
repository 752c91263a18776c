// C (m×n) = A (m×k) · B (k×n), with A and B read through (row, column) strides so
// that the three products of a dense layer need no transposed copies:
//   matmul_forward          z  = a · w + bias, then the activation   a: batch×in, w: in×out
//   matmul_backward_weight  dw = aᵀ · dz                             (k = batch)
//   matmul_backward_input   da = (dz · wᵀ) ⊙ act'(a)
// C is always written row-major with row stride n.
//
// Register blocking: each invocation owns an 8×8 block of C and does 64 FMAs per
// 16 loads. The block is strided (rows ly + 8·i, columns lx + 8·j) so that, for
// each i and j, neighbouring invocations touch neighbouring columns: loads of B and
// stores of C coalesce on real GPUs. No workgroup memory: on lavapipe its barriers
// cost more than they save (see NOTES-wgpu.md); tiling it is the performance issue's job.
// Each output is summed by one invocation in a fixed k order, so results are
// deterministic.

struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    act: u32,       // activation code (activation.wgsl) for the epilogue
    a_off: u32,
    a_row: u32,     // A[i][p] = a[a_off + i*a_row + p*a_col]
    a_col: u32,
    b_off: u32,
    b_row: u32,     // B[p][j] = b[b_off + p*b_row + j*b_col]
    b_col: u32,
    c_off: u32,
    aux_off: u32,   // forward: the bias; backward_input: the layer input a (m×n)
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;

const BLOCK: u32 = 8u;          // outputs per invocation along each axis
const WG: u32 = 8u;             // invocations per workgroup along each axis
const TILE: u32 = BLOCK * WG;   // outputs per workgroup along each axis (64)

fn row_of(wid: vec3<u32>, lid: vec3<u32>, i: u32) -> u32 {
    return wid.y * TILE + lid.y + WG * i;
}

fn col_of(wid: vec3<u32>, lid: vec3<u32>, j: u32) -> u32 {
    return wid.x * TILE + lid.x + WG * j;
}

fn accumulate(wid: vec3<u32>, lid: vec3<u32>) -> array<array<f32, 8>, 8> {
    var acc: array<array<f32, 8>, 8>;
    var a_base: array<u32, 8>;
    var b_base: array<u32, 8>;
    // Out-of-range rows and columns are clamped to the last valid one: the loads
    // stay in bounds without branches, and those results are never stored.
    for (var i = 0u; i < BLOCK; i++) {
        a_base[i] = p.a_off + min(row_of(wid, lid, i), p.m - 1u) * p.a_row;
    }
    for (var j = 0u; j < BLOCK; j++) {
        b_base[j] = p.b_off + min(col_of(wid, lid, j), p.n - 1u) * p.b_col;
    }
    for (var q = 0u; q < p.k; q++) {
        var av: array<f32, 8>;
        var bv: array<f32, 8>;
        for (var i = 0u; i < BLOCK; i++) {
            av[i] = a[a_base[i] + q * p.a_col];
        }
        for (var j = 0u; j < BLOCK; j++) {
            bv[j] = b[b_base[j] + q * p.b_row];
        }
        for (var i = 0u; i < BLOCK; i++) {
            for (var j = 0u; j < BLOCK; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    return acc;
}

@compute @workgroup_size(8, 8)
fn matmul_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = accumulate(wid, lid);
    for (var i = 0u; i < BLOCK; i++) {
        let row = row_of(wid, lid, i);
        for (var j = 0u; j < BLOCK; j++) {
            let col = col_of(wid, lid, j);
            if row < p.m && col < p.n {
                c[p.c_off + row * p.n + col] = activate(p.act, acc[i][j] + aux[p.aux_off + col]);
            }
        }
    }
}

@compute @workgroup_size(8, 8)
fn matmul_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = accumulate(wid, lid);
    for (var i = 0u; i < BLOCK; i++) {
        let row = row_of(wid, lid, i);
        for (var j = 0u; j < BLOCK; j++) {
            let col = col_of(wid, lid, j);
            if row < p.m && col < p.n {
                c[p.c_off + row * p.n + col] = acc[i][j];
            }
        }
    }
}

@compute @workgroup_size(8, 8)
fn matmul_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = accumulate(wid, lid);
    for (var i = 0u; i < BLOCK; i++) {
        let row = row_of(wid, lid, i);
        for (var j = 0u; j < BLOCK; j++) {
            let col = col_of(wid, lid, j);
            if row < p.m && col < p.n {
                let idx = row * p.n + col;
                c[p.c_off + idx] = acc[i][j] * activation_derivative(p.act, aux[p.aux_off + idx]);
            }
        }
    }
}

// The simple kernel: one output per invocation, C = A·B with no epilogue. It is the
// GPU oracle the tests hold the blocked kernels to, and the benchmark's baseline.
@compute @workgroup_size(16, 16)
fn matmul_reference(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    if row >= p.m || col >= p.n {
        return;
    }
    var acc = 0.0;
    for (var q = 0u; q < p.k; q++) {
        acc = fma(a[p.a_off + row * p.a_row + q * p.a_col], b[p.b_off + q * p.b_row + col * p.b_col], acc);
    }
    c[p.c_off + row * p.n + col] = acc;
}
