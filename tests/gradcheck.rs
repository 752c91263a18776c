//! Backpropagation against the central-difference numerical gradient, as the classic
//! tutorial checks it: dL/dθ ≈ (L(θ+h) − L(θ−h)) / 2h, for every parameter.
//!
//! Runs the CPU reference in f64, so the check measures the formulas, not f32
//! rounding. With h = 1e-5 the central difference's truncation error is O(h²·L''')
//! ≈ 1e-10 and its rounding error O(ε·L/h) ≈ 1e-11, far below the bound.

use gpu_mlp::cpu::CpuNet;
use gpu_mlp::dropout::DropoutStep;
use gpu_mlp::network::{Activation, Architecture, Loss};
use gpu_mlp::rng::Rng;

const H: f64 = 1e-5;
/// Required agreement: |analytic − numeric| ≤ REL·max(|analytic|, |numeric|) + ABS_FLOOR.
const REL: f64 = 1e-6;
/// Gradients that are truly 0 (or ~1e-12) have no meaningful relative error.
const ABS_FLOOR: f64 = 1e-10;

/// With dropout, every evaluation uses the same training step's masks: the loss is
/// then a fixed function of the parameters, whose gradient backprop must give.
const STEP: DropoutStep = DropoutStep { seed: 9, step: 4 };

fn mean_loss(net: &mut CpuNet<f64>, params: &[f64], x: &[f64], labels: &[u8]) -> f64 {
    let batch = labels.len();
    net.input_mut(batch).copy_from_slice(x);
    net.forward_training(params, batch, STEP).unwrap();
    net.loss_backward(labels, batch).loss_sum / batch as f64
}

fn check(activation: Activation, loss: Loss) {
    check_with_dropout(activation, loss, 0.0);
}

fn check_with_dropout(activation: Activation, loss: Loss, dropout: f32) {
    let arch = Architecture::new(6, &[5, 4], 3, activation, loss)
        .unwrap()
        .with_dropout(dropout)
        .unwrap();
    let batch = 7;
    let mut rng = Rng::new(42);
    let params: Vec<f64> = arch
        .init_params(&mut rng)
        .iter()
        .map(|&p| p as f64)
        .collect();
    // Non-zero biases too, so their gradients are tested away from the symmetric start.
    let params: Vec<f64> = params
        .iter()
        .map(|&p| p + 0.1 * (rng.next_f64() - 0.5))
        .collect();
    let x: Vec<f64> = (0..batch * 6).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.below(3) as u8).collect();

    let mut net = CpuNet::<f64>::new(&arch, batch);
    mean_loss(&mut net, &params, &x, &labels);
    let mut grads = vec![0.0; params.len()];
    net.backward(&params, &mut grads, batch).unwrap();

    let mut worst = 0.0f64;
    for i in 0..params.len() {
        let mut p = params.clone();
        p[i] = params[i] + H;
        let up = mean_loss(&mut net, &p, &x, &labels);
        p[i] = params[i] - H;
        let down = mean_loss(&mut net, &p, &x, &labels);
        let numeric = (up - down) / (2.0 * H);
        let analytic = grads[i];
        let err = (analytic - numeric).abs();
        let bound = REL * analytic.abs().max(numeric.abs()) + ABS_FLOOR;
        assert!(
            err <= bound,
            "{activation:?}/{loss:?}: parameter {i}: backprop {analytic:e}, numerical {numeric:e} (error {err:e} > {bound:e})"
        );
        worst = worst.max(err / (analytic.abs().max(numeric.abs()) + ABS_FLOOR));
    }
    println!("{activation:?}/{loss:?}/dropout {dropout}: worst relative error {worst:e}");
}

#[test]
fn backprop_matches_numerical_gradient_through_a_fixed_dropout_mask() {
    for activation in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
        check_with_dropout(activation, Loss::CrossEntropy, 0.3);
    }
}

#[test]
fn backprop_matches_numerical_gradient_sigmoid_cross_entropy() {
    check(Activation::Sigmoid, Loss::CrossEntropy);
}

#[test]
fn backprop_matches_numerical_gradient_relu_cross_entropy() {
    check(Activation::Relu, Loss::CrossEntropy);
}

#[test]
fn backprop_matches_numerical_gradient_tanh_cross_entropy() {
    check(Activation::Tanh, Loss::CrossEntropy);
}

#[test]
fn backprop_matches_numerical_gradient_sigmoid_mse() {
    check(Activation::Sigmoid, Loss::Mse);
}

#[test]
fn backprop_matches_numerical_gradient_relu_mse() {
    check(Activation::Relu, Loss::Mse);
}

#[test]
fn backprop_matches_numerical_gradient_tanh_mse() {
    check(Activation::Tanh, Loss::Mse);
}
