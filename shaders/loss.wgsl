// The loss heads, forward and backward in one pass, one invocation per example
// (the CPU twins are in src/cpu/loss.rs, with the same names). Each writes the
// gradient of the batch's mean loss at the outputs (dlogits, batch×outputs), the
// example's loss (weighted) and whether it is right (for accuracy).
//
// targets: `stride` u32 words per example: its target (a class index, or the f32
// bits of each output's value), then, where the batch is weighted, its weight.
// A weighted example's loss and gradient count w times: the batch loss is
// Σ wᵢ·lᵢ / batch, as Keras's sample weights.
//
// softmax_loss_forward_backward (classify), p = softmax(z) computed stably:
//   cross-entropy (loss 0): loss = lse(z) − z_y,    dz = (p − onehot)·scale
//   softmax-mse (loss 1):   loss = ½‖p − onehot‖², g = p − onehot, dz = p ⊙ (g − ⟨g,p⟩)·scale
// sigmoid_bce_forward_backward (binary, multilabel), per output j with target t,
// positive weight pw, softplus(x) = max(x, 0) + log(1 + e^−|x|) (never overflows):
//   loss_j = pw·t·softplus(−z) + (1 − t)·softplus(z)   (= −[pw·t·log σ + (1 − t)·log(1 − σ)])
//   dz_j = (pw·t·(σ − 1) + (1 − t)·σ)·scale/outputs
// regression_loss_forward_backward (regress), d = z − t per output:
//   mse (loss 0): ½d², dz = d;  mae (loss 1): |d|, dz = sign(d);
//   huber (loss 2): ½d² where |d| < δ, else δ(|d| − ½δ); dz = clamp(d, −δ, δ)
//   each averaged over the outputs, dz·scale/outputs.
// where scale = 1/divisor averages over the batch.

struct LossParams {
    batch: u32,
    outputs: u32,
    loss: u32,
    stride: u32,      // target words per example
    scale: f32,
    huber_delta: f32,
    threshold_logit: f32,   // an output is positive above this logit
    weighted: u32,    // 1: the word after the targets is the example's weight
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> pos_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> row_correct: array<u32>;

// The example's weight (1 unless the batch is weighted).
fn weight_of(row: u32, width: u32) -> f32 {
    if p.weighted == 1u {
        return bitcast<f32>(targets[row * p.stride + width]);
    }
    return 1.0;
}

fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

@compute @workgroup_size(64)
fn softmax_loss_forward_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= p.batch {
        return;
    }
    let base = row * p.outputs;
    let y = targets[row * p.stride];
    let w = weight_of(row, 1u);
    let scale = p.scale * w;
    var max_z = logits[base];
    var argmax = 0u;
    for (var c = 1u; c < p.outputs; c++) {
        let z = logits[base + c];
        if z > max_z {
            max_z = z;
            argmax = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < p.outputs; c++) {
        let e = exp(logits[base + c] - max_z);
        dlogits[base + c] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var c = 0u; c < p.outputs; c++) {
        dlogits[base + c] *= inv;   // now p
    }
    var loss = 0.0;
    if p.loss == 0u {
        loss = log(sum) + max_z - logits[base + y];
        dlogits[base + y] -= 1.0;
        for (var c = 0u; c < p.outputs; c++) {
            dlogits[base + c] *= scale;
        }
    } else {
        var gp = 0.0;
        for (var c = 0u; c < p.outputs; c++) {
            let pc = dlogits[base + c];
            let g = select(pc, pc - 1.0, c == y);
            loss += g * g;
            gp += g * pc;
        }
        loss *= 0.5;
        for (var c = 0u; c < p.outputs; c++) {
            let pc = dlogits[base + c];
            let g = select(pc, pc - 1.0, c == y);
            dlogits[base + c] = pc * (g - gp) * scale;
        }
    }
    row_loss[row] = loss * w;
    row_correct[row] = select(0u, 1u, argmax == y);
}

@compute @workgroup_size(64)
fn sigmoid_bce_forward_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= p.batch {
        return;
    }
    let base = row * p.outputs;
    let w = weight_of(row, p.outputs);
    let per_output = 1.0 / f32(p.outputs);
    let scale = p.scale * w * per_output;
    var loss = 0.0;
    var right = 1u;
    for (var j = 0u; j < p.outputs; j++) {
        let z = logits[base + j];
        let t = bitcast<f32>(targets[row * p.stride + j]);
        let pw = pos_weight[j];
        loss += pw * t * softplus(-z) + (1.0 - t) * softplus(z);
        let s = 1.0 / (1.0 + exp(-z));
        dlogits[base + j] = (pw * t * (s - 1.0) + (1.0 - t) * s) * scale;
        if (z > p.threshold_logit) != (t > 0.5) {
            right = 0u;
        }
    }
    row_loss[row] = loss * per_output * w;
    row_correct[row] = right;
}

@compute @workgroup_size(64)
fn regression_loss_forward_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= p.batch {
        return;
    }
    let base = row * p.outputs;
    let w = weight_of(row, p.outputs);
    let per_output = 1.0 / f32(p.outputs);
    let scale = p.scale * w * per_output;
    let delta = p.huber_delta;
    var loss = 0.0;
    for (var j = 0u; j < p.outputs; j++) {
        let d = logits[base + j] - bitcast<f32>(targets[row * p.stride + j]);
        var l = 0.5 * d * d;
        var g = d;
        if p.loss == 1u {
            l = abs(d);
            g = sign(d);
        } else if p.loss == 2u && abs(d) >= delta {
            l = delta * (abs(d) - 0.5 * delta);
            g = sign(d) * delta;
        }
        loss += l;
        dlogits[base + j] = g * scale;
    }
    row_loss[row] = loss * per_output * w;
    row_correct[row] = 0u;
}
