// Loss and accuracy accumulation: one workgroup sums a batch's per-example losses
// and correct flags into slots[2·slot] and slots[2·slot + 1]. Each invocation
// adds a fixed stride of rows, then a fixed tree combines them — no float atomics,
// so the same inputs give the same bits. The host adds the slots in order, in f64.

struct TotalsParams {
    rows: u32,
    slot: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: TotalsParams;
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> row_correct: array<u32>;
@group(0) @binding(3) var<storage, read_write> slots: array<f32>;

var<workgroup> loss_part: array<f32, WG>;
var<workgroup> correct_part: array<u32, WG>;

@compute @workgroup_size(256)
fn batch_totals(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var loss = 0.0;
    var correct = 0u;
    for (var r = t; r < p.rows; r += WG) {
        loss += row_loss[r];
        correct += row_correct[r];
    }
    loss_part[t] = loss;
    correct_part[t] = correct;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if t < stride {
            loss_part[t] += loss_part[t + stride];
            correct_part[t] += correct_part[t + stride];
        }
        workgroupBarrier();
    }
    if t == 0u {
        slots[2u * p.slot] = loss_part[0];
        // Exact: a batch holds far fewer than 2^24 examples.
        slots[2u * p.slot + 1u] = f32(correct_part[0]);
    }
}
