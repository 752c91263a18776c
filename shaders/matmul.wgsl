// C (m×n) = A (m×k) · B (k×n), with A and B read through (row, column) strides so
// that the three products of a dense layer need no transposed copies:
//   matmul_forward          z  = a · w + bias, then the activation   a: batch×in, w: in×out
//   matmul_backward_weight  dw = aᵀ · dz                             (k = batch)
//   matmul_backward_input   da = (dz · wᵀ) ⊙ act'(a)
// C is always written row-major with row stride n. Each output is summed by one
// invocation in a fixed k order, so results are deterministic.
//
// Two tilings of the same 64×64 output tile per workgroup, each with all three
// epilogues (the host picks one per adapter, see src/gpu/matmul.rs):
//   *_forward, *_backward_*         register-blocked: 8×8 invocations, each owning an
//                                   8×8 block (64 FMAs per 16 loads), no workgroup
//                                   memory. Fastest on lavapipe, whose barriers cost
//                                   more than shared tiles save (NOTES-wgpu.md).
//   *_tiled                         16×16 invocations, each owning 4×4 outputs, with
//                                   64×16 / 16×64 tiles of A and B staged in 8 KiB of
//                                   workgroup memory: each loaded element is reused 64
//                                   times, the shape real GPUs reward.
// Both own strided blocks (rows ly + WG·i, columns lx + WG·j) so that neighbouring
// invocations touch neighbouring columns: loads of B and stores of C coalesce.

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

const EPILOGUE_BIAS_ACT: u32 = 0u;   // c = act(v + bias[col])
const EPILOGUE_NONE: u32 = 1u;       // c = v
const EPILOGUE_ACT_GRAD: u32 = 2u;   // c = v · act'(aux[row][col])

fn store(epilogue: u32, row: u32, col: u32, v: f32) {
    if row >= p.m || col >= p.n {
        return;
    }
    let idx = row * p.n + col;
    switch epilogue {
        case 0u: {
            c[p.c_off + idx] = activate(p.act, v + aux[p.aux_off + col]);
        }
        case 2u: {
            c[p.c_off + idx] = v * activation_derivative(p.act, aux[p.aux_off + idx]);
        }
        default: {
            c[p.c_off + idx] = v;
        }
    }
}

fn blocked(wid: vec3<u32>, lid: vec3<u32>, epilogue: u32) {
    let acc = accumulate(wid, lid);
    for (var i = 0u; i < BLOCK; i++) {
        for (var j = 0u; j < BLOCK; j++) {
            store(epilogue, row_of(wid, lid, i), col_of(wid, lid, j), acc[i][j]);
        }
    }
}

@compute @workgroup_size(8, 8)
fn matmul_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_BIAS_ACT);
}

@compute @workgroup_size(8, 8)
fn matmul_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_NONE);
}

@compute @workgroup_size(8, 8)
fn matmul_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_ACT_GRAD);
}

// ---- workgroup-memory tiling ----------------------------------------------------

const T_WG: u32 = 16u;     // invocations per workgroup along each axis
const T_BLOCK: u32 = 4u;   // outputs per invocation along each axis
const T_K: u32 = 16u;      // k-slice staged per round
var<workgroup> tile_a: array<f32, 1024>;   // TILE rows × T_K, row-major
var<workgroup> tile_b: array<f32, 1024>;   // T_K × TILE columns, row-major

fn tiled(wid: vec3<u32>, lid: vec3<u32>, flat: u32, epilogue: u32) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < p.k; k0 += T_K) {
        // 256 invocations stage 1024 elements of each tile, 4 each; zeros past the edges.
        for (var e = 0u; e < 4u; e++) {
            let idx = flat + e * 256u;
            let ar = row0 + idx / T_K;
            let aq = k0 + idx % T_K;
            var av = 0.0;
            if ar < p.m && aq < p.k {
                av = a[p.a_off + ar * p.a_row + aq * p.a_col];
            }
            tile_a[idx] = av;
            let bq = k0 + idx / TILE;
            let bc = col0 + idx % TILE;
            var bv = 0.0;
            if bq < p.k && bc < p.n {
                bv = b[p.b_off + bq * p.b_row + bc * p.b_col];
            }
            tile_b[idx] = bv;
        }
        workgroupBarrier();
        for (var q = 0u; q < T_K; q++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < T_BLOCK; i++) {
                av[i] = tile_a[(lid.y + T_WG * i) * T_K + q];
            }
            for (var j = 0u; j < T_BLOCK; j++) {
                bv[j] = tile_b[q * TILE + lid.x + T_WG * j];
            }
            for (var i = 0u; i < T_BLOCK; i++) {
                for (var j = 0u; j < T_BLOCK; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < T_BLOCK; i++) {
        for (var j = 0u; j < T_BLOCK; j++) {
            store(epilogue, row0 + lid.y + T_WG * i, col0 + lid.x + T_WG * j, acc[i][j]);
        }
    }
}

@compute @workgroup_size(16, 16)
fn matmul_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) flat: u32) {
    tiled(wid, lid, flat, EPILOGUE_BIAS_ACT);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_weight_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) flat: u32) {
    tiled(wid, lid, flat, EPILOGUE_NONE);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_input_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) flat: u32) {
    tiled(wid, lid, flat, EPILOGUE_ACT_GRAD);
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
