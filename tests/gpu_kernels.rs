//! Each WGSL kernel against the CPU reference on random inputs and ragged shapes.
//! Runs on whatever adapter `common::gpu()` finds (lavapipe in CI); fails without one.

mod common;

use common::{assert_close, gpu, random_f32};
use gpu_mlp::backend::TargetWords;
use gpu_mlp::choice::Choice;
use gpu_mlp::cpu::activation::{activate, derivative_from_output};
use gpu_mlp::cpu::loss::head_forward_backward;
use gpu_mlp::cpu::matmul::matmul_naive;
use gpu_mlp::cpu::optimizer::optimizer_update;
use gpu_mlp::gpu::gather::{self, GatherParams};
use gpu_mlp::gpu::kernel::run_once;
use gpu_mlp::gpu::loss::{self, LossParams};
use gpu_mlp::gpu::matmul::{self, MatmulKernels, MatmulParams, MatmulVariant, Product};
use gpu_mlp::gpu::optimizer::{self, OptimizerParams};
use gpu_mlp::gpu::reduce::{self, ReduceParams};
use gpu_mlp::gpu::totals::{self, TotalsParams};
use gpu_mlp::network::Activation;
use gpu_mlp::optimizer::{Optimizer, OptimizerKind, OptimizerState};
use gpu_mlp::rng::Rng;
use gpu_mlp::task::{Head, Loss, Task};

/// Matmul: |gpu − exact| ≤ 1e-5·Σ_k|a_ik·b_kj| for K ≤ 1024. The f32 rounding error
/// of a K-term dot product grows like √K·ε·Σ|a·b| for random data (ε = 6e-8, so
/// 2e-6 at K = 1024): 5× margin, yet a wrong index or a dropped term fails by orders
/// of magnitude.
const MATMUL_REL: f64 = 1e-5;
/// What the GPU's exp may add to a sigmoid/tanh output (WGSL allows exp a few ULP
/// per unit of |x|; outputs lie in [-1, 1]).
const EXP_ABS: f64 = 2e-6;

const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 5, 7),
    (64, 64, 64),
    (65, 1, 130),
    (257, 129, 65),
    (100, 784, 128),
    (9, 1024, 10),
];

/// C = A·B exactly (f64) and Σ|A|·|B| (the error scale) for strided operands.
fn exact(
    a: &[f32],
    a_s: (usize, usize),
    b: &[f32],
    b_s: (usize, usize),
    m: usize,
    k: usize,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    (
        matmul_naive(a, a_s, b, b_s, m, k, n),
        matmul_naive(&abs(a), a_s, &abs(b), b_s, m, k, n),
    )
}

fn check(what: &str, got: &[f32], want: &[f64], bound: impl Fn(usize) -> f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let b = bound(i);
        assert!(
            (g as f64 - w).abs() <= b,
            "{what}: element {i} is {g}, reference {w} (bound {b:e})"
        );
    }
}

/// Every variant at every tile size it has: 64×64 outputs per workgroup, and 32×32
/// for the register-blocked and texture kernels (forced here, whatever the shape).
fn every_kernel(ctx: &gpu_mlp::gpu::GpuContext) -> Vec<MatmulKernels> {
    let mut all = Vec::new();
    for &variant in MatmulVariant::ALL {
        let k = || MatmulKernels::variant(ctx, variant).unwrap();
        all.push(k().with_workers(0));
        if variant.has_small_tile() {
            all.push(k().with_workers(u32::MAX));
        }
    }
    all
}

fn name(k: &MatmulKernels) -> String {
    let small = k.small.is_some() && k.workers == u32::MAX;
    format!(
        "{} ({})",
        k.variant.name(),
        if small {
            "32×32 tiles"
        } else {
            "64×64 tiles"
        }
    )
}

#[test]
fn matmul_matches_reference_on_ragged_shapes() {
    let Some(ctx) = gpu() else { return };
    for k in every_kernel(&ctx) {
        matmul_matches_reference(&ctx, &k);
    }
}

fn matmul_matches_reference(ctx: &gpu_mlp::gpu::GpuContext, k: &MatmulKernels) {
    for (m, kk, n) in SHAPES {
        let mut rng = Rng::new((m + 31 * kk + 977 * n) as u64);
        let a = random_f32(&mut rng, m * kk, 1.0);
        let w = random_f32(&mut rng, kk * n, 1.0);
        let dz = random_f32(&mut rng, m * n, 1.0);
        let zero_bias = vec![0.0f32; n];
        let tag = format!("{} {m}×{kk}×{n}", name(k));

        // Forward, linear epilogue with zero bias: z = a·w.
        let p = MatmulParams::forward(m, kk, n, 0, 0, 0);
        let z = matmul::run(ctx, k, Product::Forward, &p, &a, &w, &zero_bias).unwrap();
        let (want, scale) = exact(&a, (kk, 1), &w, (n, 1), m, kk, n);
        check(&format!("a·w {tag}"), &z, &want, |i| MATMUL_REL * scale[i]);

        // Weight gradient: dw = aᵀ·dz (k×n), a read transposed in place.
        let p = MatmulParams::backward_weight(m, kk, n, 0);
        let dw = matmul::run(ctx, k, Product::BackwardWeight, &p, &a, &dz, &[0.0]).unwrap();
        let (want, scale) = exact(&a, (1, kk), &dz, (n, 1), kk, m, n);
        check(&format!("aᵀ·dz {tag}"), &dw, &want, |i| {
            MATMUL_REL * scale[i]
        });

        // Input gradient with the identity derivative (act code 0): da = dz·wᵀ.
        let p = MatmulParams::backward_input(m, kk, n, 0, 0);
        let ones = vec![1.0f32; m * kk];
        let da = matmul::run(ctx, k, Product::BackwardInput, &p, &dz, &w, &ones).unwrap();
        let (want, scale) = exact(&dz, (n, 1), &w, (1, n), m, n, kk);
        check(&format!("dz·wᵀ {tag}"), &da, &want, |i| {
            MATMUL_REL * scale[i]
        });
    }
}

#[test]
fn fast_matmuls_match_the_simple_kernel() {
    // The one-output-per-invocation kernel is the GPU-side oracle for the fast ones.
    let Some(ctx) = gpu() else { return };
    for k in every_kernel(&ctx) {
        fast_matches_simple(&ctx, &k);
    }
}

fn fast_matches_simple(ctx: &gpu_mlp::gpu::GpuContext, k: &MatmulKernels) {
    for (m, kk, n) in [(1, 1, 1), (3, 5, 7), (257, 129, 65), (100, 784, 128)] {
        let mut rng = Rng::new((m * kk * n) as u64 + 1);
        let a = random_f32(&mut rng, m * kk, 1.0);
        let w = random_f32(&mut rng, kk * n, 1.0);
        let dz = random_f32(&mut rng, m * n, 1.0);
        let cases = [
            (
                Product::Forward,
                MatmulParams::forward(m, kk, n, 0, 0, 0),
                &a,
                &w,
                vec![0.0f32; n],
                (kk, 1),
                (n, 1),
                (m, kk, n),
            ),
            (
                Product::BackwardWeight,
                MatmulParams::backward_weight(m, kk, n, 0),
                &a,
                &dz,
                vec![0.0],
                (1, kk),
                (n, 1),
                (kk, m, n),
            ),
            (
                Product::BackwardInput,
                MatmulParams::backward_input(m, kk, n, 0, 0),
                &dz,
                &w,
                vec![1.0; m * kk],
                (n, 1),
                (1, n),
                (m, n, kk),
            ),
        ];
        for (product, p, x, y, aux, xs, ys, (em, ek, en)) in cases {
            let fast = matmul::run(ctx, k, product, &p, x, y, &aux).unwrap();
            let simple = matmul::run(ctx, k, Product::Reference, &p, x, y, &aux).unwrap();
            let (_, scale) = exact(x, xs, y, ys, em, ek, en);
            let simple64: Vec<f64> = simple.iter().map(|&v| v as f64).collect();
            check(
                &format!("{} vs simple, {m}×{kk}×{n}", name(k)),
                &fast,
                &simple64,
                |i| 2.0 * MATMUL_REL * scale[i],
            );
        }
    }
}

#[test]
fn matmul_reads_operands_at_offsets() {
    // Layers after the first read W and b at offsets into the one parameter buffer.
    let Some(ctx) = gpu() else { return };
    for k in every_kernel(&ctx) {
        reads_operands_at_offsets(&ctx, &k);
    }
}

fn reads_operands_at_offsets(ctx: &gpu_mlp::gpu::GpuContext, k: &MatmulKernels) {
    let (m, kk, n, off) = (5, 6, 7, 13);
    let mut rng = Rng::new(5);
    let a = random_f32(&mut rng, m * kk, 1.0);
    let params = random_f32(&mut rng, off + kk * n + n, 1.0);
    let p = MatmulParams::forward(m, kk, n, off, off + kk * n, 0);
    let z = matmul::run(ctx, k, Product::Forward, &p, &a, &params, &params).unwrap();
    let (want, scale) = exact(&a, (kk, 1), &params[off..], (n, 1), m, kk, n);
    let bias = &params[off + kk * n..];
    let want: Vec<f64> = want
        .iter()
        .enumerate()
        .map(|(i, w)| w + bias[i % n] as f64)
        .collect();
    check(
        &format!("{}: a·W[off] + b[off]", name(k)),
        &z,
        &want,
        |i| MATMUL_REL * (scale[i] + bias[i % n].abs() as f64),
    );
}

#[test]
fn fused_bias_activation_and_activation_backward_match_reference() {
    let Some(ctx) = gpu() else { return };
    for k in every_kernel(&ctx) {
        fused_epilogues_match(&ctx, &k);
    }
}

fn fused_epilogues_match(ctx: &gpu_mlp::gpu::GpuContext, k: &MatmulKernels) {
    let (m, kk, n) = (33, 70, 45);
    for act in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
        let mut rng = Rng::new(act.code() as u64);
        let a = random_f32(&mut rng, m * kk, 1.0);
        let w = random_f32(&mut rng, kk * n, 0.5);
        let bias = random_f32(&mut rng, n, 1.0);
        let p = MatmulParams::forward(m, kk, n, 0, 0, act.code());
        let out = matmul::run(ctx, k, Product::Forward, &p, &a, &w, &bias).unwrap();
        let (z, scale) = exact(&a, (kk, 1), &w, (n, 1), m, kk, n);
        let want: Vec<f64> = z
            .iter()
            .enumerate()
            .map(|(i, z)| activate(act, z + bias[i % n] as f64))
            .collect();
        // Every activation has slope ≤ 1, so the pre-activation error passes through at most unchanged.
        check(
            &format!("{} {act:?}(a·w + b)", name(k)),
            &out,
            &want,
            |i| MATMUL_REL * (scale[i] + bias[i % n].abs() as f64) + EXP_ABS,
        );

        // da = (dz·wᵀ) ⊙ act'(y), with y a plausible activation output.
        let dz = random_f32(&mut rng, m * n, 1.0);
        let y: Vec<f32> = random_f32(&mut rng, m * kk, 3.0)
            .iter()
            .map(|&x| activate(act, x))
            .collect();
        let p = MatmulParams::backward_input(m, kk, n, 0, act.code());
        let da = matmul::run(ctx, k, Product::BackwardInput, &p, &dz, &w, &y).unwrap();
        let (g, scale) = exact(&dz, (n, 1), &w, (1, n), m, n, kk);
        let deriv: Vec<f64> = y
            .iter()
            .map(|&v| derivative_from_output(act, v as f64))
            .collect();
        let want: Vec<f64> = g.iter().zip(&deriv).map(|(g, d)| g * d).collect();
        check(
            &format!("{} dz·wᵀ ⊙ {act:?}'", k.backward_input.name),
            &da,
            &want,
            |i| MATMUL_REL * scale[i] * deriv[i].abs().max(1e-3) + 1e-7,
        );
    }
}

/// One head's batch for the kernel test: its targets as a split would carry them
/// (class indices, or values: 0/1 for a sigmoid head), weighted or not.
fn head_batch(
    head: &Head,
    rng: &mut Rng,
    batch: usize,
    outputs: usize,
    weighted: bool,
) -> TargetWords {
    use gpu_mlp::data::{Split, Targets};
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
            values: random_f32(rng, batch * outputs, 3.0),
            width: outputs,
        },
    };
    let mut split = Split::new(vec![0; batch], targets, 1).unwrap();
    if weighted {
        split = split
            .with_weights((0..batch).map(|_| rng.below(4) as f32 * 0.5).collect())
            .unwrap();
    }
    TargetWords::new(&split, head, weighted)
}

#[test]
fn every_loss_head_matches_its_cpu_twin() {
    let Some(ctx) = gpu() else { return };
    let mut huber = Head::new(Task::Regress, Loss::Huber);
    huber.huber_delta = 0.7;
    let mut weighted_bce = Head::new(Task::Multilabel, Loss::Bce);
    weighted_bce.pos_weight = vec![0.5, 2.0, 3.0];
    weighted_bce.threshold = 0.3;
    let heads = [
        (
            Head::new(Task::Classify, Loss::CrossEntropy),
            vec![2, 10, 257],
        ),
        (
            Head::new(Task::Classify, Loss::SoftmaxMse),
            vec![2, 10, 257],
        ),
        (Head::new(Task::Binary, Loss::Bce), vec![1]),
        (weighted_bce, vec![3]),
        (Head::new(Task::Regress, Loss::Mse), vec![1, 3]),
        (Head::new(Task::Regress, Loss::Mae), vec![1, 3]),
        (huber, vec![1, 3]),
    ];
    for (head, widths) in heads {
        let kernel = loss::kernel(&ctx, head.task.kernel()).unwrap();
        for outputs in widths {
            for (batch, weighted) in [(1, false), (7, true), (130, false), (3, true)] {
                let mut rng = Rng::new((batch * outputs) as u64);
                // Logits to ±40: BCE's softplus must hold for large |z|.
                let logits = random_f32(&mut rng, batch * outputs, 40.0);
                let words = head_batch(&head, &mut rng, batch, outputs, weighted);
                let mut want_d = vec![0.0f32; batch * outputs];
                let want = head_forward_backward(
                    &head,
                    &logits,
                    words.batch(0..batch),
                    outputs,
                    batch,
                    &mut want_d,
                );
                let p = LossParams::new(
                    &head,
                    (batch, outputs),
                    (words.stride, words.weighted),
                    batch,
                );
                let pos_weight: Vec<f32> = (0..outputs).map(|j| head.pos_weight_of(j)).collect();
                let out = run_once(
                    &ctx,
                    &kernel,
                    &p,
                    p.workgroups(),
                    &[
                        bytemuck::cast_slice(&logits),
                        bytemuck::cast_slice(&words.words),
                        bytemuck::cast_slice(&pos_weight),
                        &vec![0u8; batch * outputs * 4],
                        &vec![0u8; batch * 4],
                        &vec![0u8; batch * 4],
                    ],
                )
                .unwrap();
                let d: Vec<f32> = bytemuck::pod_collect_to_vec(&out[3]);
                let row_loss: Vec<f32> = bytemuck::pod_collect_to_vec(&out[4]);
                let correct: Vec<u32> = bytemuck::pod_collect_to_vec(&out[5]);
                // Every head goes through exp/log (or none): a few ULP of each value,
                // relative to the loss for the loss.
                let tag = format!(
                    "{:?} {:?} {batch}×{outputs} weighted {weighted}",
                    head.task, head.loss
                );
                assert_close(
                    &format!("dlogits {tag}"),
                    &d,
                    &want_d,
                    1e-6 / batch as f64,
                    1e-5,
                );
                let loss_sum: f64 = row_loss.iter().map(|&l| l as f64).sum();
                assert!(
                    (loss_sum - want.loss_sum as f64).abs()
                        <= 1e-5 * want.loss_sum.abs() as f64 + 1e-6,
                    "{tag}: loss {loss_sum} vs {}",
                    want.loss_sum
                );
                assert_eq!(
                    correct.iter().sum::<u32>() as usize,
                    want.correct,
                    "{tag}: correct count"
                );
            }
        }
    }
}

#[test]
fn bias_gradient_column_sums_match_reference() {
    let Some(ctx) = gpu() else { return };
    let kernel = reduce::kernel(&ctx).unwrap();
    for (rows, cols) in [(1, 1), (100, 128), (7, 65), (500, 3)] {
        let mut rng = Rng::new((rows * cols) as u64);
        let dz = random_f32(&mut rng, rows * cols, 1.0);
        let mut want = vec![0.0f32; cols];
        gpu_mlp::cpu::matmul::bias_backward(&dz, &mut want, rows, cols);
        let dst_off = 3;
        let p = ReduceParams::bias_backward(rows, cols, dst_off);
        let out = run_once(
            &ctx,
            &kernel,
            &p,
            p.workgroups(),
            &[bytemuck::cast_slice(&dz), &vec![0u8; (dst_off + cols) * 4]],
        )
        .unwrap();
        let got: Vec<f32> = bytemuck::pod_collect_to_vec(&out[1]);
        // Same additions in the same order as the CPU: equal up to the last bit on
        // IEEE adapters; 1e-6 relative leaves room for a driver that fuses or reorders.
        assert_close(
            &format!("db {rows}×{cols}"),
            &got[dst_off..],
            &want,
            1e-7,
            1e-6,
        );
        assert!(
            got[..dst_off].iter().all(|&v| v == 0.0),
            "wrote before dst_off"
        );
    }
}

#[test]
fn gather_builds_batches_bit_identical_to_the_cpu() {
    use gpu_mlp::data::normalize::{InputTransform, Normalize};
    use gpu_mlp::data::Split;
    let Some(ctx) = gpu() else { return };
    let kernel = gather::kernel(&ctx).unwrap();
    // 15 features: byte examples straddle u32 words, so the unpacking is exercised.
    let (n, width) = (11, 15);
    let mut rng = Rng::new(8);
    let bytes: Vec<u8> = (0..n * width).map(|_| rng.below(256) as u8).collect();
    let floats: Vec<f32> = (0..n * width)
        .map(|_| (rng.below(1 << 20) as f32 - 5e5) * 1.37e-3)
        .collect();
    let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    rng.shuffle(&mut order);
    let (start, batch) = (3, 6);
    let byte_split = Split::new(bytes, labels.clone(), width).unwrap();
    let float_split = Split::from_f32(floats, labels.clone(), width).unwrap();
    // Bytes ÷ 255, and floats standardized with per-feature statistics that round.
    let cases = [
        (&byte_split, Normalize::Unit),
        (&byte_split, Normalize::Standard),
        (&float_split, Normalize::Standard),
        (&float_split, Normalize::Unit),
    ];
    for (split, kind) in cases {
        let input = InputTransform::fit(kind, split);
        let floats = split.features.dtype() == gpu_mlp::data::Dtype::F32;
        let mut raw = split.features.raw_bytes().to_vec();
        raw.resize(raw.len().next_multiple_of(4), 0);
        let norm = [input.shift.as_slice(), input.scale.as_slice()].concat();
        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let p = GatherParams::new(batch, width, start, floats, 1);
        let out = run_once(
            &ctx,
            &kernel,
            &p,
            p.workgroups(),
            &[
                &raw,
                bytemuck::cast_slice(&labels32),
                bytemuck::cast_slice(&order),
                bytemuck::cast_slice(&norm),
                &vec![0u8; batch * width * 4],
                &vec![0u8; batch * 4],
            ],
        )
        .unwrap();
        let x: Vec<f32> = bytemuck::pod_collect_to_vec(&out[4]);
        let y: Vec<u32> = bytemuck::pod_collect_to_vec(&out[5]);
        let mut cpu = gpu_mlp::cpu::CpuNet::<f32>::new(
            &gpu_mlp::network::Architecture::new(
                width,
                &[2],
                10,
                Activation::Relu,
                Loss::SoftmaxMse,
            )
            .unwrap(),
            batch,
        );
        let idx = &order[start..start + batch];
        cpu.gather(split, idx, &input).unwrap();
        let want = cpu.input_mut(batch).to_vec();
        assert!(
            x.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{kind:?} of {:?} features: gathered values differ from the CPU's",
            split.features.dtype()
        );
        let want_y: Vec<u32> = idx.iter().map(|&i| labels32[i as usize]).collect();
        assert_eq!(y, want_y);
    }
}

#[test]
fn optimizer_updates_match_reference() {
    let Some(ctx) = gpu() else { return };
    let count = 1000;
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
    ] {
        let kernel = optimizer::kernel(&ctx, kind).unwrap();
        let opt = Optimizer::new(kind, Some(0.05), 0.9);
        let mut rng = Rng::new(kind as u64 + 1);
        let mut params = random_f32(&mut rng, count, 1.0);
        let mut state = OptimizerState::<f32>::new(opt.kind, count);
        // Three steps: momentum and Adam carry state, Adam's bias correction changes with t.
        let mut m = vec![0.0f32; count];
        let mut v = vec![0.0f32; count];
        let mut gpu_params = params.clone();
        for t in 1..=3u64 {
            let grads = random_f32(&mut rng, count, 0.1);
            optimizer_update(&opt, &mut state, &mut params, &grads);
            let p = OptimizerParams::new(&opt, count, t);
            let out = run_once(
                &ctx,
                &kernel,
                &p,
                p.workgroups(),
                &[
                    bytemuck::cast_slice(&gpu_params),
                    bytemuck::cast_slice(&grads),
                    bytemuck::cast_slice(&m),
                    bytemuck::cast_slice(&v),
                ],
            )
            .unwrap();
            gpu_params = bytemuck::pod_collect_to_vec(&out[0]);
            m = bytemuck::pod_collect_to_vec(&out[2]);
            v = bytemuck::pod_collect_to_vec(&out[3]);
        }
        // A few elementwise f32 operations, each rounded once (or fused): a few ULP of |p|.
        assert_close(
            &format!("{kind:?} params"),
            &gpu_params,
            &params,
            1e-7,
            1e-6,
        );
    }
}

#[test]
fn metrics_sum_losses_and_correct_counts_in_a_fixed_order() {
    let Some(ctx) = gpu() else { return };
    let kernel = totals::kernel(&ctx).unwrap();
    for rows in [1, 255, 256, 257, 1000] {
        let mut rng = Rng::new(rows as u64);
        let losses: Vec<f32> = (0..rows).map(|_| rng.next_f64() as f32 * 3.0).collect();
        let correct: Vec<u32> = (0..rows).map(|_| rng.below(2) as u32).collect();
        let slot = 2;
        let p = TotalsParams::new(rows, slot);
        let inputs: [&[u8]; 3] = [
            bytemuck::cast_slice(&losses),
            bytemuck::cast_slice(&correct),
            &[0u8; 24],
        ];
        let first = run_once(&ctx, &kernel, &p, [1, 1, 1], &inputs).unwrap();
        let again = run_once(&ctx, &kernel, &p, [1, 1, 1], &inputs).unwrap();
        assert_eq!(first[2], again[2], "two runs on the same input differ");
        let m: Vec<f32> = bytemuck::pod_collect_to_vec(&first[2]);
        let want: f64 = losses.iter().map(|&l| l as f64).sum();
        // A tree sum of ≤ 1000 non-negative f32 terms: relative error ≤ ~10·ε.
        assert!(
            (m[4] as f64 - want).abs() <= 1e-6 * want,
            "{rows} rows: loss sum {} vs {want}",
            m[4]
        );
        assert_eq!(
            m[5] as u32,
            correct.iter().sum::<u32>(),
            "{rows} rows: correct count"
        );
    }
}

/// Dropout: the GPU's masks are the CPU's to the bit (the same counter-based hash),
/// forward and backward, for several rates, seeds, steps and layers; and the share
/// of dropped units is the rate.
#[test]
fn dropout_masks_are_bit_identical_to_the_cpu() {
    use gpu_mlp::cpu::dropout::{dropout_backward, dropout_forward};
    use gpu_mlp::dropout::DropoutMask;
    use gpu_mlp::gpu::dropout::{kernels, DropoutParams};
    let Some(ctx) = gpu() else { return };
    let (forward, backward) = kernels(&ctx).unwrap();
    let n = 70_001;
    let mut rng = Rng::new(12);
    let a = random_f32(&mut rng, n, 2.0);
    for (p, seed, step, layer) in [
        (0.2, 0u64, 1u32, 0u32),
        (0.5, 7, 12345, 1),
        (0.9, u64::MAX, u32::MAX, 3),
    ] {
        let mask = DropoutMask {
            p,
            seed,
            step,
            layer,
        };
        let params = DropoutParams::new(n, Some(&mask));
        let zeros = vec![0u8; n * 4];
        let out = run_once(
            &ctx,
            &forward,
            &params,
            params.workgroups(),
            &[bytemuck::cast_slice(&a), &zeros],
        )
        .unwrap();
        let gpu_kept: Vec<f32> = bytemuck::pod_collect_to_vec(&out[1]);
        let mut cpu_kept = vec![0.0f32; n];
        dropout_forward(&a, &mut cpu_kept, &mask);
        assert!(
            gpu_kept
                .iter()
                .zip(&cpu_kept)
                .all(|(g, c)| g.to_bits() == c.to_bits()),
            "forward p {p}"
        );
        let dropped = cpu_kept.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        assert!(
            (dropped - p as f64).abs() < 0.01,
            "p {p}: dropped {dropped}"
        );
        let out = run_once(
            &ctx,
            &backward,
            &params,
            params.workgroups(),
            &[&zeros, bytemuck::cast_slice(&a)],
        )
        .unwrap();
        let gpu_grad: Vec<f32> = bytemuck::pod_collect_to_vec(&out[1]);
        let mut cpu_grad = a.clone();
        dropout_backward(&mut cpu_grad, &mask);
        assert!(
            gpu_grad
                .iter()
                .zip(&cpu_grad)
                .all(|(g, c)| g.to_bits() == c.to_bits()),
            "backward p {p}"
        );
    }
}
