//! The `gpu-mlp` command line: parses flags, calls the library, prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use gpu_mlp::cpu::CpuBackend;
use gpu_mlp::data;
use gpu_mlp::gpu::context::describe_adapter;
use gpu_mlp::gpu::{list_adapters, BackendChoice, GpuBackend, GpuContext};
use gpu_mlp::metrics::MetricsWriter;
use gpu_mlp::model::{Activation, Architecture, Loss, Optimizer, OptimizerKind};
use gpu_mlp::rng::Rng;
use gpu_mlp::train::{self, Backend, TrainConfig};
use gpu_mlp::Error;

#[derive(Parser)]
#[command(
    name = "gpu-mlp",
    version,
    about = "Train multi-layer perceptrons on MNIST-format data on the GPU (wgpu/WGSL) or the CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network and report loss and accuracy per epoch.
    Train(TrainArgs),
    /// List every GPU adapter wgpu can see.
    Devices {
        /// Only adapters of this backend.
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Train on the CPU reference path instead of the GPU.
    #[arg(long, conflicts_with_all = ["backend", "adapter"])]
    cpu: bool,
    /// Graphics API for the GPU path; auto prefers a real GPU, then a software adapter.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive); see `gpu-mlp devices`.
    #[arg(long, value_name = "SUBSTRING")]
    adapter: Option<String>,
    /// Directory with the four IDX files (raw or .gz). Default: $GPU_MLP_DATA,
    /// ./data/mnist, /usr/share/datasets/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Hidden layer widths, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "128",
        value_name = "N,N,..."
    )]
    hidden: Vec<usize>,
    /// Hidden-layer activation.
    #[arg(long, value_enum, default_value_t = Activation::Sigmoid)]
    activation: Activation,
    /// Output loss (after softmax).
    #[arg(long, value_enum, default_value_t = Loss::CrossEntropy)]
    loss: Loss,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Learning rate [default: 0.1 for sgd, 0.01 for momentum, 0.001 for adam].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Momentum coefficient (--optimizer momentum).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    momentum: f32,
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on the first N training examples only.
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Evaluate on the first N test examples only.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Number of classes; every label must be below it.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Write one JSON object per epoch to FILE (rewritten atomically each epoch).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Devices { backend } => {
            list_devices(backend);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // Bad flags exit 2, like clap's own usage errors; everything else 1.
            ExitCode::from(if matches!(e, Error::Config(_)) { 2 } else { 1 })
        }
    }
}

fn run_train(args: TrainArgs) -> Result<(), Error> {
    let cfg = TrainConfig {
        batch_size: args.batch_size,
        epochs: args.epochs,
    };
    cfg.validate()?;
    let opt = Optimizer::new(args.optimizer, args.lr, args.momentum);
    opt.validate()?;
    if args.classes < 2 || args.classes > 256 {
        return Err(Error::Config(format!(
            "--classes {} must be between 2 and 256 (labels are bytes)",
            args.classes
        )));
    }
    let dir = data::resolve_data_dir(args.data.as_deref())?;
    let mut dataset = data::load_dir(&dir, args.classes)?;
    data::apply_limits(&mut dataset, args.train_limit, args.test_limit)?;
    let arch = Architecture::new(
        dataset.pixels(),
        &args.hidden,
        args.classes,
        args.activation,
        args.loss,
    )?;
    let dataset = Arc::new(dataset);

    let mut rng = Rng::new(args.seed);
    let params = arch.init_params(&mut rng);
    let mut backend: Box<dyn Backend> = if args.cpu {
        Box::new(CpuBackend::new(
            Arc::clone(&dataset),
            &arch,
            opt,
            params,
            cfg.batch_size,
        ))
    } else {
        let ctx = GpuContext::new(args.backend, args.adapter.as_deref())?;
        Box::new(GpuBackend::new(
            ctx,
            Arc::clone(&dataset),
            &arch,
            opt,
            params,
            cfg.batch_size,
        )?)
    };
    println!(
        "data {} ({} train, {} test, {}×{}, {} classes) | network {} {} {}, {} parameters | {} lr {} batch {} | backend {}",
        dataset.dir.display(),
        dataset.train.len(),
        dataset.test.len(),
        dataset.rows,
        dataset.cols,
        dataset.classes,
        arch.shape_string(),
        arch.activation.name(),
        arch.loss.name(),
        arch.param_count(),
        opt.kind.name(),
        opt.lr,
        cfg.batch_size,
        backend.describe(),
    );
    let mut metrics = match &args.metrics {
        Some(p) => Some(MetricsWriter::create(p, &backend.describe())?),
        None => None,
    };
    train::train(backend.as_mut(), dataset.train.len(), &cfg, &mut rng, |r| {
        println!(
            "epoch {:>3}/{}  train_loss {:.4}  test_loss {:.4}  test_acc {:6.2}%  {:7.2} s  {:9.0} samples/s",
            r.epoch,
            cfg.epochs,
            r.train_loss,
            r.test_loss,
            100.0 * r.test_accuracy,
            r.seconds,
            r.samples_per_second
        );
        match metrics.as_mut() {
            Some(m) => m.record(r),
            None => Ok(()),
        }
    })?;
    Ok(())
}

fn list_devices(backend: BackendChoice) {
    let adapters = list_adapters(backend);
    if adapters.is_empty() {
        println!(
            "no GPU adapters found for --backend {} (install a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers`, or use --cpu)",
            backend.name()
        );
    }
    for (i, info) in adapters.iter().enumerate() {
        println!("{i}: {}", describe_adapter(info));
    }
}
