//! Whole training steps on the GPU against the CPU reference, from the same
//! parameters and batches, and GPU determinism.

mod common;

use std::sync::Arc;

use common::{gpu, synthetic_dataset, train_run};
use gpu_mlp::backend::{Backend, TrainSetup};
use gpu_mlp::choice::Choice;
use gpu_mlp::cpu::CpuBackend;
use gpu_mlp::gpu::matmul::MatmulVariant;
use gpu_mlp::gpu::{GpuBackend, GpuOptions};
use gpu_mlp::network::{Activation, Architecture, Loss};
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::profile::Measured;
use gpu_mlp::rng::Rng;

/// After one step, |p_gpu − p_cpu| ≤ PARAM_ABS + PARAM_REL·|p_cpu|. The step moves a
/// parameter by lr·g (SGD, momentum) or ≤ lr (Adam's first step ≈ lr·sign g); both
/// paths' gradients agree to ~1e-5 relative (the matmul bound), so the updates
/// agree to ~1e-5·lr ≤ 1e-6 at lr ≤ 0.1, and the old value adds 1 ULP (6e-8·|p|).
const PARAM_ABS: f64 = 2e-6;
const PARAM_REL: f64 = 1e-6;

fn one_step(activation: Activation, loss: Loss, kind: OptimizerKind) {
    for &variant in MatmulVariant::ALL {
        one_step_with(activation, loss, kind, variant, None);
    }
}

/// Two steps as `one_step_with`, with weight decay `wd` and the second step at half
/// the learning rate (a schedule's change between steps).
fn one_step_decayed(kind: OptimizerKind, wd: f32) {
    one_step_with(
        Activation::Relu,
        Loss::CrossEntropy,
        kind,
        MatmulVariant::Blocked,
        Some(wd),
    );
}

fn one_step_with(
    activation: Activation,
    loss: Loss,
    kind: OptimizerKind,
    variant: MatmulVariant,
    decay: Option<f32>,
) {
    one_step_full(activation, loss, kind, variant, decay, 0.0);
}

fn one_step_full(
    activation: Activation,
    loss: Loss,
    kind: OptimizerKind,
    variant: MatmulVariant,
    decay: Option<f32>,
    dropout: f32,
) {
    let Some(ctx) = gpu() else { return };
    let ds = Arc::new(synthetic_dataset(21, 10, 7, 37, 10));
    // Two hidden layers so that the hidden-to-hidden input gradient is covered too.
    let arch = Architecture::new(49, &[24, 13], 10, activation, loss)
        .unwrap()
        .with_dropout(dropout)
        .unwrap();
    let mut opt = Optimizer::new(kind, Some(0.05), 0.9);
    if let Some(wd) = decay {
        opt.weight_decay = wd;
    }
    let params = arch.init_params(&mut Rng::new(4));
    let mut order: Vec<u32> = (0..37).collect();
    Rng::new(5).shuffle(&mut order);
    let setup = TrainSetup {
        arch: arch.clone(),
        opt,
        params: params.clone(),
        batch_size: 37,
        seed: 6,
        input: gpu_mlp::data::normalize::InputTransform::unit_bytes(arch.inputs()),
    };
    let mut cpu = CpuBackend::new(ds.clone(), setup.clone()).unwrap();
    let options = GpuOptions {
        matmul: Some(variant),
        ..Default::default()
    };
    let mut gpu = GpuBackend::with_options(ctx, ds.clone(), setup, &options).unwrap();
    for b in [&mut cpu as &mut dyn Backend, &mut gpu] {
        b.begin_epoch(&order).unwrap();
        // A ragged batch (37 examples, not a tile multiple), then a 1-example batch.
        b.train_batch(0, 36).unwrap();
        if decay.is_some() {
            b.set_learning_rate(0.025);
        }
        b.train_batch(36, 1).unwrap();
        b.end_epoch().unwrap();
    }
    let (c, g) = (cpu.parameters().unwrap(), gpu.parameters().unwrap());
    let mut moved = 0;
    let mut worst = 0.0f64;
    for (i, ((&c, &g), &p0)) in c.iter().zip(&g).zip(&params).enumerate() {
        let bound = PARAM_ABS + PARAM_REL * (c as f64).abs();
        assert!(
            (c as f64 - g as f64).abs() <= bound,
            "{activation:?}/{loss:?}/{kind:?}/{variant:?}: parameter {i}: cpu {c}, gpu {g} (started at {p0})"
        );
        moved += usize::from(c != p0);
        worst = worst.max((c as f64 - g as f64).abs());
    }
    println!("{activation:?}/{loss:?}/{kind:?}/{variant:?}: largest |cpu − gpu| after two steps: {worst:e}");
    // Guard against a test that passes because nothing happened.
    assert!(
        moved > c.len() / 2,
        "only {moved} of {} parameters changed",
        c.len()
    );
}

macro_rules! step_tests {
    ($($name:ident: $act:ident, $loss:ident, $opt:ident;)*) => {$(
        #[test]
        fn $name() {
            one_step(Activation::$act, Loss::$loss, OptimizerKind::$opt);
        }
    )*};
}

step_tests! {
    step_matches_cpu_sigmoid_sgd: Sigmoid, CrossEntropy, Sgd;
    step_matches_cpu_relu_sgd: Relu, CrossEntropy, Sgd;
    step_matches_cpu_tanh_sgd: Tanh, CrossEntropy, Sgd;
    step_matches_cpu_sigmoid_momentum: Sigmoid, CrossEntropy, Momentum;
    step_matches_cpu_relu_momentum: Relu, CrossEntropy, Momentum;
    step_matches_cpu_tanh_momentum: Tanh, CrossEntropy, Momentum;
    step_matches_cpu_sigmoid_adam: Sigmoid, CrossEntropy, Adam;
    step_matches_cpu_relu_adam: Relu, CrossEntropy, Adam;
    step_matches_cpu_tanh_adam: Tanh, CrossEntropy, Adam;
    step_matches_cpu_sigmoid_mse_sgd: Sigmoid, SoftmaxMse, Sgd;
    step_matches_cpu_relu_mse_adam: Relu, SoftmaxMse, Adam;
    step_matches_cpu_sigmoid_adamw: Sigmoid, CrossEntropy, AdamW;
}

#[test]
fn dropout_training_steps_match_the_cpu() {
    for activation in [Activation::Sigmoid, Activation::Relu] {
        for &variant in MatmulVariant::ALL {
            one_step_full(
                activation,
                Loss::CrossEntropy,
                OptimizerKind::AdamW,
                variant,
                None,
                0.3,
            );
        }
    }
}

#[test]
fn weight_decay_and_a_changed_lr_match_the_cpu_for_every_optimizer() {
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
    ] {
        one_step_decayed(kind, 0.05);
    }
    one_step_decayed(OptimizerKind::AdamW, 0.01);
    one_step_decayed(OptimizerKind::AdamW, 0.5);
}

/// Ten steps: each "epoch" is one full batch, so each epoch's training loss is one
/// step's loss. The paths drift apart only by rounding, which training does not
/// amplify much over ten steps: 1e-4 relative.
#[test]
fn ten_step_loss_sequences_agree() {
    let Some(ctx) = gpu() else { return };
    let ds = Arc::new(synthetic_dataset(22, 10, 8, 64, 50));
    let arch = Architecture::new(64, &[32], 10, Activation::Sigmoid, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Momentum, Some(0.05), 0.9);
    let (cpu, _) = train_run(&ds, &arch, opt, 64, 10, 1, None);
    let (gpu, _) = train_run(&ds, &arch, opt, 64, 10, 1, Some(ctx));
    for (c, g) in cpu.iter().zip(&gpu) {
        for (what, a, b) in [
            ("train", c.train_loss, g.train_loss),
            ("test", c.test_loss.unwrap(), g.test_loss.unwrap()),
        ] {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs(),
                "step {}: {what} loss cpu {a}, gpu {b}",
                c.epoch
            );
        }
    }
    assert!(
        cpu[9].train_loss < cpu[0].train_loss,
        "the loss should fall over ten steps"
    );
}

#[test]
fn same_seed_gives_bit_identical_gpu_weights() {
    let Some(ctx) = gpu() else { return };
    let ds = Arc::new(synthetic_dataset(23, 10, 6, 300, 40));
    let arch = Architecture::new(36, &[20], 10, Activation::Relu, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Adam, None, 0.9);
    let (ra, a) = train_run(&ds, &arch, opt, 32, 2, 7, Some(ctx));
    let (rb, b) = train_run(&ds, &arch, opt, 32, 2, 7, gpu());
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "weights differ between two runs"
    );
    assert_eq!(
        ra.last().unwrap().train_loss.to_bits(),
        rb.last().unwrap().train_loss.to_bits()
    );
}

/// Host traffic is part of the design: an epoch of S steps is ceil(S / 64) submits
/// (the last one carrying the metrics copy) and exactly one read-back.
#[test]
fn an_epoch_costs_one_submit_per_64_steps_and_one_readback() {
    if gpu().is_none() {
        return;
    }
    let ds = Arc::new(synthetic_dataset(24, 10, 4, 300, 20));
    let arch = Architecture::new(16, &[8], 10, Activation::Sigmoid, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Sgd, None, 0.9);
    // 150 steps; exactly two chunks (the lazy flush must not add a third); one step.
    for (batch, steps) in [(2, 150), (1, 128), (300, 1)] {
        let setup = TrainSetup {
            arch: arch.clone(),
            opt,
            params: arch.init_params(&mut Rng::new(1)),
            batch_size: batch,
            seed: 1,
            input: gpu_mlp::data::normalize::InputTransform::unit_bytes(arch.inputs()),
        };
        let mut b = GpuBackend::new(gpu().unwrap(), ds.clone(), setup).unwrap();
        let order: Vec<u32> = (0..300).collect();
        let before = b.counters();
        b.begin_epoch(&order).unwrap();
        for s in 0..steps {
            let start = s * batch;
            b.train_batch(start, batch.min(300 - start)).unwrap();
        }
        b.end_epoch().unwrap();
        let after = b.counters();
        assert_eq!(
            after.submits - before.submits,
            steps.div_ceil(64) as u64,
            "batch {batch}: submits"
        );
        assert_eq!(
            after.readbacks - before.readbacks,
            1,
            "batch {batch}: read-backs"
        );
    }
}

/// The texture matmul is only chosen when every operand fits a texture: wider
/// inputs than four texels per float times the adapter's largest texture fall back
/// to a buffer kernel, and still train.
#[test]
fn networks_too_wide_for_textures_fall_back_to_buffers() {
    let Some(ctx) = gpu() else { return };
    // An input row of more than 4 × max_texture_dimension_2d floats.
    let texels = ctx.limits.max_texture_dimension_2d as usize;
    let side = ((4 * texels + 1) as f64).sqrt().ceil() as usize;
    let ds = Arc::new(synthetic_dataset(25, 2, side, 3, 2));
    let arch = Architecture::new(
        side * side,
        &[4],
        2,
        Activation::Sigmoid,
        Loss::CrossEntropy,
    )
    .unwrap();
    let opt = Optimizer::new(OptimizerKind::Sgd, None, 0.9);
    let params = arch.init_params(&mut Rng::new(3));
    let setup = TrainSetup {
        arch: arch.clone(),
        opt,
        params: params.clone(),
        batch_size: 3,
        seed: 3,
        input: gpu_mlp::data::normalize::InputTransform::unit_bytes(arch.inputs()),
    };
    let mut b = GpuBackend::new(ctx, ds, setup).unwrap();
    assert!(
        !b.describe().contains("texture"),
        "{}: chose textures for {side}×{side} inputs",
        b.describe()
    );
    b.begin_epoch(&[2, 0, 1]).unwrap();
    b.train_batch(0, 3).unwrap();
    let totals = b.end_epoch().unwrap();
    assert!(totals.loss_sum.is_finite() && totals.count == 3);
    assert_ne!(b.parameters().unwrap(), params, "the step changed nothing");
}
