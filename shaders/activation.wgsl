// Activations and their derivatives, shared by the matmul epilogues (this file is
// prepended to matmul.wgsl: bias + activation are fused into `matmul_forward`,
// the derivative into `matmul_backward_input`). Codes match model::Activation::code:
// 0 = identity (the output layer's logits), 1 = sigmoid, 2 = relu, 3 = tanh.

fn activate(code: u32, x: f32) -> f32 {
    switch code {
        case 1u: {
            // exp(-x) overflows to +inf for x < -88, giving exactly 0: no NaN.
            return 1.0 / (1.0 + exp(-x));
        }
        case 2u: {
            return max(x, 0.0);
        }
        case 3u: {
            // tanh from exp(-2|x|), which never overflows: some drivers' built-in
            // tanh returns NaN for large |x|.
            let e = exp(-2.0 * abs(x));
            return sign(x) * (1.0 - e) / (1.0 + e);
        }
        default: {
            return x;
        }
    }
}

// d act / dz written in terms of the activation's output y = act(z), which is
// what the forward pass keeps.
fn activation_derivative(code: u32, y: f32) -> f32 {
    switch code {
        case 1u: {
            return y * (1.0 - y);
        }
        case 2u: {
            return select(0.0, 1.0, y > 0.0);
        }
        case 3u: {
            return 1.0 - y * y;
        }
        default: {
            return 1.0;
        }
    }
}
