// Softmax with cross-entropy (loss 0) or MSE (loss 1), forward and backward in one
// pass, one invocation per example. logits, dlogits: batch×classes.
// For each row: p = softmax(z) computed stably (z − max, log-sum-exp);
//   cross-entropy: loss = lse(z) − z_y,   dz = (p − onehot)·scale
//   mse:           loss = ½‖p − onehot‖², g = p − onehot, dz = p ⊙ (g − ⟨g,p⟩)·scale
// where scale = 1/divisor averages over the batch. Also records whether the
// first maximum is the label, for accuracy.

struct LossParams {
    batch: u32,
    classes: u32,
    loss: u32,
    _pad: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_correct: array<u32>;

@compute @workgroup_size(64)
fn softmax_loss_forward_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= p.batch {
        return;
    }
    let base = row * p.classes;
    let y = labels[row];
    var max_z = logits[base];
    var argmax = 0u;
    for (var c = 1u; c < p.classes; c++) {
        let z = logits[base + c];
        if z > max_z {
            max_z = z;
            argmax = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        let e = exp(logits[base + c] - max_z);
        dlogits[base + c] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var c = 0u; c < p.classes; c++) {
        dlogits[base + c] *= inv;   // now p
    }
    var loss = 0.0;
    if p.loss == 0u {
        loss = log(sum) + max_z - logits[base + y];
        dlogits[base + y] -= 1.0;
        for (var c = 0u; c < p.classes; c++) {
            dlogits[base + c] *= p.scale;
        }
    } else {
        var gp = 0.0;
        for (var c = 0u; c < p.classes; c++) {
            let pc = dlogits[base + c];
            let g = select(pc, pc - 1.0, c == y);
            loss += g * g;
            gp += g * pc;
        }
        loss *= 0.5;
        for (var c = 0u; c < p.classes; c++) {
            let pc = dlogits[base + c];
            let g = select(pc, pc - 1.0, c == y);
            dlogits[base + c] = pc * (g - gp) * p.scale;
        }
    }
    row_loss[row] = loss;
    row_correct[row] = select(0u, 1u, argmax == y);
}
