// C (m×n) = A (m×k) · B (k×n), with A and B read through (row, column) strides so
// that the three products of a dense layer need no transposed copies:
//   matmul_forward          z  = a · w + bias, then the activation   a: batch×in, w: in×out
//   matmul_backward_weight  dw = aᵀ · dz                             (k = batch)
//   matmul_backward_input   da = (dz · wᵀ) ⊙ act'(a)
// C is always written row-major with row stride n. Each output is summed by one
// invocation in a fixed k order, so results are deterministic.
//
// Three variants, each with all three epilogues (the host picks one per adapter, and
// a tile size per product shape: see src/gpu/matmul/mod.rs):
//   *_forward, *_backward_*         register-blocked: WG×WG invocations (8×8, or 4×4
//                                   for small products), each owning an 8×8 block
//                                   (64 FMAs per 16 loads), no workgroup memory.
//   *_tiled                         16×16 invocations, each owning 4×4 outputs, with
//                                   64×16 / 16×64 tiles of A and B staged in 8 KiB of
//                                   workgroup memory: each loaded element is reused 64
//                                   times, the shape real GPUs reward.
//   *_texture                       as register-blocked, with both operands read from
//                                   textures (see "texture operands" below). Fastest on
//                                   lavapipe, whose barriers cost more than shared tiles
//                                   save and whose buffer loads run lane by lane.
// All own strided blocks (rows ly + WG·i, columns lx + WG·j) so that neighbouring
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

const BLOCK: u32 = 8u;             // outputs per invocation along each axis
// Invocations per workgroup along each axis, set per pipeline: 8 (64×64 outputs per
// workgroup), or 4 (32×32) for products too small to give every worker a workgroup
// of 64×64 (the host picks per product shape, see src/gpu/matmul/mod.rs).
override WG: u32 = 8u;
override TILE: u32 = BLOCK * WG;   // outputs per workgroup along each axis

fn row_of(wid: vec3<u32>, lid: vec3<u32>, i: u32) -> u32 {
    return wid.y * TILE + lid.y + WG * i;
}

fn col_of(wid: vec3<u32>, lid: vec3<u32>, j: u32) -> u32 {
    return wid.x * TILE + lid.x + WG * j;
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
        case EPILOGUE_BIAS_ACT: {
            c[p.c_off + idx] = activate(p.act, v + aux[p.aux_off + col]);
        }
        case EPILOGUE_ACT_GRAD: {
            c[p.c_off + idx] = v * activation_derivative(p.act, aux[p.aux_off + idx]);
        }
        case EPILOGUE_NONE, default: {
            c[p.c_off + idx] = v;
        }
    }
}

// The 8×8 accumulators as 16 vec4s: acc[2i + h] holds row i, columns 4h..4h+3 of
// the invocation's block. Every access below uses a constant index, spelled out
// rather than looped: an accumulator indexed by a loop counter the driver does not
// unroll is kept in memory instead of registers (on lavapipe that alone cost ~4×).
alias Acc = array<vec4<f32>, 16>;

// acc += a ⊗ b for a = rows 0..3 (a0) and 4..7 (a1), b = columns 0..3 (b0) and 4..7 (b1).
fn outer_product(acc: ptr<function, Acc>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
    (*acc)[0] = fma(vec4(a0.x), b0, (*acc)[0]);
    (*acc)[1] = fma(vec4(a0.x), b1, (*acc)[1]);
    (*acc)[2] = fma(vec4(a0.y), b0, (*acc)[2]);
    (*acc)[3] = fma(vec4(a0.y), b1, (*acc)[3]);
    (*acc)[4] = fma(vec4(a0.z), b0, (*acc)[4]);
    (*acc)[5] = fma(vec4(a0.z), b1, (*acc)[5]);
    (*acc)[6] = fma(vec4(a0.w), b0, (*acc)[6]);
    (*acc)[7] = fma(vec4(a0.w), b1, (*acc)[7]);
    (*acc)[8] = fma(vec4(a1.x), b0, (*acc)[8]);
    (*acc)[9] = fma(vec4(a1.x), b1, (*acc)[9]);
    (*acc)[10] = fma(vec4(a1.y), b0, (*acc)[10]);
    (*acc)[11] = fma(vec4(a1.y), b1, (*acc)[11]);
    (*acc)[12] = fma(vec4(a1.z), b0, (*acc)[12]);
    (*acc)[13] = fma(vec4(a1.z), b1, (*acc)[13]);
    (*acc)[14] = fma(vec4(a1.w), b0, (*acc)[14]);
    (*acc)[15] = fma(vec4(a1.w), b1, (*acc)[15]);
}

// Texels of eight output indices that each hold four depths → one depth (t) of the
// eight, as the (0..3, 4..7) pair `outer_product` takes. t is a constant at each call.
fn depth_lo(v: array<vec4<f32>, 8>, t: u32) -> vec4<f32> {
    return vec4(v[0][t], v[1][t], v[2][t], v[3][t]);
}
fn depth_hi(v: array<vec4<f32>, 8>, t: u32) -> vec4<f32> {
    return vec4(v[4][t], v[5][t], v[6][t], v[7][t]);
}

fn store_row(epilogue: u32, row: u32, cols: array<u32, 8>, lo: vec4<f32>, hi: vec4<f32>) {
    for (var e = 0u; e < 4u; e++) {
        store(epilogue, row, cols[e], lo[e]);
        store(epilogue, row, cols[4u + e], hi[e]);
    }
}

fn store_block(epilogue: u32, rows: array<u32, 8>, cols: array<u32, 8>, acc: ptr<function, Acc>) {
    store_row(epilogue, rows[0], cols, (*acc)[0], (*acc)[1]);
    store_row(epilogue, rows[1], cols, (*acc)[2], (*acc)[3]);
    store_row(epilogue, rows[2], cols, (*acc)[4], (*acc)[5]);
    store_row(epilogue, rows[3], cols, (*acc)[6], (*acc)[7]);
    store_row(epilogue, rows[4], cols, (*acc)[8], (*acc)[9]);
    store_row(epilogue, rows[5], cols, (*acc)[10], (*acc)[11]);
    store_row(epilogue, rows[6], cols, (*acc)[12], (*acc)[13]);
    store_row(epilogue, rows[7], cols, (*acc)[14], (*acc)[15]);
}

fn blocked(wid: vec3<u32>, lid: vec3<u32>, epilogue: u32) {
    var rows: array<u32, 8>;
    var cols: array<u32, 8>;
    var a_base: array<u32, 8>;
    var b_base: array<u32, 8>;
    // Out-of-range rows and columns are clamped to the last valid one: the loads
    // stay in bounds without branches, and those results are never stored.
    for (var i = 0u; i < BLOCK; i++) {
        rows[i] = row_of(wid, lid, i);
        cols[i] = col_of(wid, lid, i);
        a_base[i] = p.a_off + min(rows[i], p.m - 1u) * p.a_row;
        b_base[i] = p.b_off + min(cols[i], p.n - 1u) * p.b_col;
    }
    var acc: Acc;
    for (var q = 0u; q < p.k; q++) {
        let aq = q * p.a_col;
        let bq = q * p.b_row;
        outer_product(
            &acc,
            vec4(a[a_base[0] + aq], a[a_base[1] + aq], a[a_base[2] + aq], a[a_base[3] + aq]),
            vec4(a[a_base[4] + aq], a[a_base[5] + aq], a[a_base[6] + aq], a[a_base[7] + aq]),
            vec4(b[b_base[0] + bq], b[b_base[1] + bq], b[b_base[2] + bq], b[b_base[3] + bq]),
            vec4(b[b_base[4] + bq], b[b_base[5] + bq], b[b_base[6] + bq], b[b_base[7] + bq])
        );
    }
    store_block(epilogue, rows, cols, &acc);
}

@compute @workgroup_size(WG, WG)
fn matmul_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_BIAS_ACT);
}

@compute @workgroup_size(WG, WG)
fn matmul_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_NONE);
}

@compute @workgroup_size(WG, WG)
fn matmul_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    blocked(wid, lid, EPILOGUE_ACT_GRAD);
}

// ---- workgroup-memory tiling ----------------------------------------------------

const T_WG: u32 = 16u;     // invocations per workgroup along each axis
const T_BLOCK: u32 = 4u;   // outputs per invocation along each axis
const T_K: u32 = 16u;      // k-slice staged per round
const T_TILE: u32 = T_WG * T_BLOCK;   // outputs per workgroup along each axis (64)
var<workgroup> tile_a: array<f32, 1024>;   // T_TILE rows × T_K, row-major
var<workgroup> tile_b: array<f32, 1024>;   // T_K × T_TILE columns, row-major

fn tiled(wid: vec3<u32>, lid: vec3<u32>, flat: u32, epilogue: u32) {
    let row0 = wid.y * T_TILE;
    let col0 = wid.x * T_TILE;
    var acc: array<vec4<f32>, 4>;
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
            let bq = k0 + idx / T_TILE;
            let bc = col0 + idx % T_TILE;
            var bv = 0.0;
            if bq < p.k && bc < p.n {
                bv = b[p.b_off + bq * p.b_row + bc * p.b_col];
            }
            tile_b[idx] = bv;
        }
        workgroupBarrier();
        for (var q = 0u; q < T_K; q++) {
            // Row i of the 4×4 block is acc[i]; constant indices keep it in registers
            // (see `Acc` above).
            let bv = vec4(
                tile_b[q * T_TILE + lid.x],
                tile_b[q * T_TILE + lid.x + T_WG],
                tile_b[q * T_TILE + lid.x + 2u * T_WG],
                tile_b[q * T_TILE + lid.x + 3u * T_WG]
            );
            acc[0] = fma(vec4(tile_a[lid.y * T_K + q]), bv, acc[0]);
            acc[1] = fma(vec4(tile_a[(lid.y + T_WG) * T_K + q]), bv, acc[1]);
            acc[2] = fma(vec4(tile_a[(lid.y + 2u * T_WG) * T_K + q]), bv, acc[2]);
            acc[3] = fma(vec4(tile_a[(lid.y + 3u * T_WG) * T_K + q]), bv, acc[3]);
        }
        workgroupBarrier();
    }
    var cols: array<u32, 4>;
    for (var j = 0u; j < T_BLOCK; j++) {
        cols[j] = col0 + lid.x + T_WG * j;
    }
    store_row_4(epilogue, row0 + lid.y, cols, acc[0]);
    store_row_4(epilogue, row0 + lid.y + T_WG, cols, acc[1]);
    store_row_4(epilogue, row0 + lid.y + 2u * T_WG, cols, acc[2]);
    store_row_4(epilogue, row0 + lid.y + 3u * T_WG, cols, acc[3]);
}

fn store_row_4(epilogue: u32, row: u32, cols: array<u32, 4>, v: vec4<f32>) {
    for (var e = 0u; e < 4u; e++) {
        store(epilogue, row, cols[e], v[e]);
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

// ---- texture operands -----------------------------------------------------------
//
// The same 64×64 output tile and 8×8 outputs per invocation, with both operands read
// from rgba32float textures: texel (x, y) of an operand holds elements 4x..4x+3 of
// row y of the matrix as stored (zero past its last column; `matmul_pack_operand`
// fills it, with zero rows up to a multiple of 4). Each textureLoad brings four
// floats, so a 4-deep step of the sum costs 16 loads for 256 FMAs. Measured the
// fastest kernel on lavapipe, whose storage-buffer loads at varying addresses run
// lane by lane while texel fetches do not (benches/README.md); texture fetches go
// through the texture cache on real GPUs too, but there the choice stays measured.
//
// Which axis of an operand the texel's four floats run along depends on the product:
//   forward          a (m×k): along k, the sum     w (k×n): along n, the output columns
//   backward_weight  a (k×m): along m, the rows    dz (k×n): along n, the columns
//   backward_input  dz (m×k): along k, the sum     w (n×k): along k, the sum
// An output axis read along texels is owned in runs of four (see `grouped`); one read
// across texels in single steps of WG, as in the buffer kernels (row_of, col_of).

@group(0) @binding(1) var a_tex: texture_2d<f32>;
@group(0) @binding(2) var b_tex: texture_2d<f32>;

// Output index i (0..8) of an invocation at `l` in workgroup `w` along an axis
// owned in runs of four (the other axes use row_of / col_of).
fn grouped(w: u32, l: u32, i: u32) -> u32 {
    return w * TILE + 4u * (l + WG * (i / 4u)) + i % 4u;
}

// Texel column of the run of four holding `grouped(w, l, 4h)`, clamped into `size`.
fn group_texel(w: u32, l: u32, h: u32, size: u32) -> u32 {
    return min(grouped(w, l, 4u * h), size - 1u) / 4u;
}

fn texel(t: texture_2d<f32>, x: u32, y: u32) -> vec4<f32> {
    return textureLoad(t, vec2<u32>(x, y), 0);
}

// c = a · w + epilogue: a along the sum, w along the output columns.
@compute @workgroup_size(WG, WG)
fn matmul_forward_texture(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var rows: array<u32, 8>;
    var cols: array<u32, 8>;
    var a_y: array<u32, 8>;
    for (var i = 0u; i < BLOCK; i++) {
        rows[i] = row_of(wid, lid, i);
        cols[i] = grouped(wid.x, lid.x, i);
        a_y[i] = min(rows[i], p.m - 1u);
    }
    let b0 = group_texel(wid.x, lid.x, 0u, p.n);
    let b1 = group_texel(wid.x, lid.x, 1u, p.n);
    var acc: Acc;
    for (var q = 0u; q < p.k; q += 4u) {
        var av: array<vec4<f32>, 8>;
        for (var i = 0u; i < BLOCK; i++) {
            av[i] = texel(a_tex, q / 4u, a_y[i]);
        }
        // Rows q + 1.. past k are the zero rows the pack adds.
        outer_product(&acc, depth_lo(av, 0u), depth_hi(av, 0u), texel(b_tex, b0, q), texel(b_tex, b1, q));
        outer_product(&acc, depth_lo(av, 1u), depth_hi(av, 1u), texel(b_tex, b0, q + 1u), texel(b_tex, b1, q + 1u));
        outer_product(&acc, depth_lo(av, 2u), depth_hi(av, 2u), texel(b_tex, b0, q + 2u), texel(b_tex, b1, q + 2u));
        outer_product(&acc, depth_lo(av, 3u), depth_hi(av, 3u), texel(b_tex, b0, q + 3u), texel(b_tex, b1, q + 3u));
    }
    store_block(EPILOGUE_BIAS_ACT, rows, cols, &acc);
}

// dw = aᵀ · dz, summed over the batch: both operands along the output axes.
@compute @workgroup_size(WG, WG)
fn matmul_backward_weight_texture(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var rows: array<u32, 8>;
    var cols: array<u32, 8>;
    for (var i = 0u; i < BLOCK; i++) {
        rows[i] = grouped(wid.y, lid.y, i);
        cols[i] = grouped(wid.x, lid.x, i);
    }
    let a0 = group_texel(wid.y, lid.y, 0u, p.m);
    let a1 = group_texel(wid.y, lid.y, 1u, p.m);
    let b0 = group_texel(wid.x, lid.x, 0u, p.n);
    let b1 = group_texel(wid.x, lid.x, 1u, p.n);
    var acc: Acc;
    for (var q = 0u; q < p.k; q++) {
        outer_product(&acc, texel(a_tex, a0, q), texel(a_tex, a1, q), texel(b_tex, b0, q), texel(b_tex, b1, q));
    }
    store_block(EPILOGUE_NONE, rows, cols, &acc);
}

// da = (dz · wᵀ) ⊙ act'(a): both operands along the sum.
@compute @workgroup_size(WG, WG)
fn matmul_backward_input_texture(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var rows: array<u32, 8>;
    var cols: array<u32, 8>;
    var a_y: array<u32, 8>;
    var b_y: array<u32, 8>;
    for (var i = 0u; i < BLOCK; i++) {
        rows[i] = row_of(wid, lid, i);
        cols[i] = col_of(wid, lid, i);
        a_y[i] = min(rows[i], p.m - 1u);
        b_y[i] = min(cols[i], p.n - 1u);
    }
    var acc: Acc;
    for (var q = 0u; q < p.k; q += 4u) {
        var av: array<vec4<f32>, 8>;
        var bv: array<vec4<f32>, 8>;
        for (var i = 0u; i < BLOCK; i++) {
            av[i] = texel(a_tex, q / 4u, a_y[i]);
            bv[i] = texel(b_tex, q / 4u, b_y[i]);
        }
        // Lanes past k are zero in both operands.
        outer_product(&acc, depth_lo(av, 0u), depth_hi(av, 0u), depth_lo(bv, 0u), depth_hi(bv, 0u));
        outer_product(&acc, depth_lo(av, 1u), depth_hi(av, 1u), depth_lo(bv, 1u), depth_hi(bv, 1u));
        outer_product(&acc, depth_lo(av, 2u), depth_hi(av, 2u), depth_lo(bv, 2u), depth_hi(bv, 2u));
        outer_product(&acc, depth_lo(av, 3u), depth_hi(av, 3u), depth_lo(bv, 3u), depth_hi(bv, 3u));
    }
    store_block(EPILOGUE_ACT_GRAD, rows, cols, &acc);
}

// Fills an operand texture from a row-major matrix in a storage buffer:
// texel (x, y) = src[off + y*cols + 4x .. +4], zero past the last column and for
// rows from `rows` up to the texture rows being filled (a multiple of 4).
struct PackParams {
    off: u32,
    rows: u32,
    cols: u32,
    padded_rows: u32,
}

@group(0) @binding(0) var<uniform> pack: PackParams;
@group(0) @binding(1) var<storage, read> pack_src: array<f32>;
@group(0) @binding(2) var pack_dst: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(8, 8)
fn matmul_pack_operand(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    if x >= (pack.cols + 3u) / 4u || y >= pack.padded_rows {
        return;
    }
    var v = vec4<f32>(0.0);
    if y < pack.rows {
        let base = pack.off + y * pack.cols + 4u * x;
        for (var e = 0u; e < 4u; e++) {
            if 4u * x + e < pack.cols {
                v[e] = pack_src[base + e];
            }
        }
    }
    textureStore(pack_dst, vec2<u32>(x, y), v);
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
