//! Backpropagation against the central-difference numerical gradient, as the classic
//! tutorial checks it: dL/dθ ≈ (L(θ+h) − L(θ−h)) / 2h, for every parameter.
//!
//! Runs the CPU reference in f64, so the check measures the formulas, not f32
//! rounding. With h = 1e-5 the central difference's truncation error is O(h²·L''')
//! ≈ 1e-10 and its rounding error O(ε·L/h) ≈ 1e-11, far below the bound.

use gpu_mlp::backend::TargetWords;
use gpu_mlp::cpu::CpuNet;
use gpu_mlp::data::{Split, Targets};
use gpu_mlp::dropout::DropoutStep;
use gpu_mlp::network::{Activation, Architecture};
use gpu_mlp::rng::Rng;
use gpu_mlp::task::{Head, Loss, Task};

const H: f64 = 1e-5;
/// Required agreement: |analytic − numeric| ≤ REL·max(|analytic|, |numeric|) + ABS_FLOOR.
const REL: f64 = 1e-6;
/// Gradients that are truly 0 (or ~1e-12) have no meaningful relative error.
const ABS_FLOOR: f64 = 1e-10;

/// With dropout, every evaluation uses the same training step's masks: the loss is
/// then a fixed function of the parameters, whose gradient backprop must give.
const STEP: DropoutStep = DropoutStep { seed: 9, step: 4 };

fn mean_loss(net: &mut CpuNet<f64>, params: &[f64], x: &[f64], targets: &TargetWords) -> f64 {
    let batch = targets.words.len() / targets.stride;
    net.input_mut(batch).copy_from_slice(x);
    net.forward_training(params, batch, STEP).unwrap();
    net.loss_backward(targets.batch(0..batch), batch).loss_sum / batch as f64
}

fn check(activation: Activation, loss: Loss) {
    check_with_dropout(activation, loss, 0.0);
}

fn check_with_dropout(activation: Activation, loss: Loss, dropout: f32) {
    check_head(
        activation,
        Head::new(Task::Classify, loss),
        3,
        (dropout, 1.0),
    );
}

/// Targets of `head`'s task for `batch` examples of `outputs` outputs, with weights.
fn targets_for(head: &Head, rng: &mut Rng, batch: usize, outputs: usize) -> TargetWords {
    let targets = match head.task {
        Task::Classify => Targets::Classes(
            (0..batch)
                .map(|_| rng.below(outputs as u64) as u32)
                .collect(),
        ),
        Task::Binary => Targets::Classes((0..batch).map(|_| rng.below(2) as u32).collect()),
        Task::Multilabel => Targets::Values {
            values: (0..batch * outputs).map(|_| rng.below(2) as f32).collect(),
            width: outputs,
        },
        Task::Regress => Targets::Values {
            values: (0..batch * outputs)
                .map(|_| (rng.next_f64() * 4.0 - 2.0) as f32)
                .collect(),
            width: outputs,
        },
    };
    let weights = (0..batch)
        .map(|_| 0.5 + rng.below(3) as f32 * 0.5)
        .collect();
    let split = Split::new(vec![0; batch], targets, 1)
        .unwrap()
        .with_weights(weights)
        .unwrap();
    TargetWords::new(&split, head, true)
}

/// Every parameter's backprop gradient of `head`'s weighted mean loss against the
/// central difference; `scale` multiplies the parameters (large logits).
fn check_head(activation: Activation, head: Head, outputs: usize, (dropout, scale): (f32, f64)) {
    let arch = Architecture::with_head(6, &[5, 4], outputs, activation, head.clone())
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
        .map(|&p| scale * (p + 0.1 * (rng.next_f64() - 0.5)))
        .collect();
    let x: Vec<f64> = (0..batch * 6).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    let targets = targets_for(&head, &mut rng, batch, outputs);

    let mut net = CpuNet::<f64>::new(&arch, batch);
    mean_loss(&mut net, &params, &x, &targets);
    let mut grads = vec![0.0; params.len()];
    net.backward(&params, &mut grads, batch).unwrap();

    let what = format!("{activation:?}/{:?}/{:?}", head.task, head.loss);
    let mut worst = 0.0f64;
    for i in 0..params.len() {
        let mut p = params.clone();
        p[i] = params[i] + H;
        let up = mean_loss(&mut net, &p, &x, &targets);
        p[i] = params[i] - H;
        let down = mean_loss(&mut net, &p, &x, &targets);
        let numeric = (up - down) / (2.0 * H);
        let analytic = grads[i];
        let err = (analytic - numeric).abs();
        let bound = REL * analytic.abs().max(numeric.abs()) + ABS_FLOOR;
        assert!(
            err <= bound,
            "{what}: parameter {i}: backprop {analytic:e}, numerical {numeric:e} (error {err:e} > {bound:e})"
        );
        worst = worst.max(err / (analytic.abs().max(numeric.abs()) + ABS_FLOOR));
    }
    println!("{what}/dropout {dropout}: worst relative error {worst:e}");
}

#[test]
fn backprop_matches_numerical_gradient_of_every_new_head() {
    let mut pos = Head::new(Task::Multilabel, Loss::Bce);
    pos.pos_weight = vec![0.5, 3.0];
    // δ = 0.3 puts some differences on each side of Huber's kink.
    let mut huber = Head::new(Task::Regress, Loss::Huber);
    huber.huber_delta = 0.3;
    let heads = [
        (Head::new(Task::Binary, Loss::Bce), 1),
        (pos, 2),
        (Head::new(Task::Regress, Loss::Mse), 3),
        (Head::new(Task::Regress, Loss::Mae), 2),
        (huber, 3),
    ];
    for (head, outputs) in heads {
        for activation in [Activation::Sigmoid, Activation::Tanh] {
            check_head(activation, head.clone(), outputs, (0.0, 1.0));
        }
    }
}

#[test]
fn bce_gradient_holds_for_large_logits() {
    // Parameters ×8 push the logits to tens: softplus must neither overflow nor
    // lose the gradient there.
    let mut pos = Head::new(Task::Multilabel, Loss::Bce);
    pos.pos_weight = vec![2.0, 0.25];
    check_head(Activation::Relu, pos, 2, (0.0, 8.0));
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
    check(Activation::Sigmoid, Loss::SoftmaxMse);
}

#[test]
fn backprop_matches_numerical_gradient_relu_mse() {
    check(Activation::Relu, Loss::SoftmaxMse);
}

#[test]
fn backprop_matches_numerical_gradient_tanh_mse() {
    check(Activation::Tanh, Loss::SoftmaxMse);
}
