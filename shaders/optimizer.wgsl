// Optimizer updates over the flat parameter array, one invocation per parameter.
// For sgd, momentum and adam, g = grad + wd·p (L2 weight decay, PyTorch's form).
//   sgd:       p -= lr·g
//   momentum:  v = μ·v + g;  p -= lr·v                (PyTorch's form)
//   adam:      m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
//              p -= lr·(m·c1) / (sqrt(v·c2) + ε),  c1 = 1/(1−β1^t), c2 = 1/(1−β2^t)
//   adamw:     p *= decay (= 1 − lr·wd), then adam's step with g = grad
// The host computes c1, c2 and decay for each step, exactly as the CPU reference does.
// Dispatched as a 2-D grid when there are more than 65535 workgroups of parameters.

struct OptimizerParams {
    count: u32,
    groups_x: u32,   // workgroups along x, to flatten the 2-D grid
    _pad0: u32,
    _pad1: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
    weight_decay: f32,
    decay: f32,
    _pad2: u32,
    _pad3: u32,
    _pad4: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: OptimizerParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

// Optimizer state below the smallest normal f32 becomes zero, as on the CPU path
// (cpu/optimizer.rs says why).
fn flush(x: f32) -> f32 {
    return select(x, 0.0, abs(x) < 1.17549435e-38);
}

fn flat_index(gid: vec3<u32>) -> u32 {
    return gid.y * p.groups_x * WG + gid.x;
}

@compute @workgroup_size(256)
fn sgd_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_index(gid);
    if i >= p.count {
        return;
    }
    let g = grads[i] + p.weight_decay * params[i];
    params[i] -= p.lr * g;
}

@compute @workgroup_size(256)
fn momentum_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_index(gid);
    if i >= p.count {
        return;
    }
    let g = grads[i] + p.weight_decay * params[i];
    let vel = flush(p.momentum * m[i] + g);
    m[i] = vel;
    params[i] -= p.lr * vel;
}

@compute @workgroup_size(256)
fn adam_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_index(gid);
    if i >= p.count {
        return;
    }
    let g = grads[i] + p.weight_decay * params[i];
    let m1 = flush(p.beta1 * m[i] + (1.0 - p.beta1) * g);
    let v1 = flush(p.beta2 * v[i] + (1.0 - p.beta2) * g * g);
    m[i] = m1;
    v[i] = v1;
    params[i] -= p.lr * (m1 * p.c1) / (sqrt(v1 * p.c2) + p.eps);
}

@compute @workgroup_size(256)
fn adamw_update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_index(gid);
    if i >= p.count {
        return;
    }
    let g = grads[i];
    let m1 = flush(p.beta1 * m[i] + (1.0 - p.beta1) * g);
    let v1 = flush(p.beta2 * v[i] + (1.0 - p.beta2) * g * g);
    m[i] = m1;
    v[i] = v1;
    let decayed = params[i] * p.decay;
    params[i] = decayed - p.lr * (m1 * p.c1) / (sqrt(v1 * p.c2) + p.eps);
}
