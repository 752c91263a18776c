//! The `gpu-mlp` command line: parses flags, calls the library, prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use std::io::IsTerminal;

use gpu_mlp::bench::{self, Length};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::cpu::{cpu_threads, CpuBackend};
use gpu_mlp::data::{self, Dataset};
use gpu_mlp::files;
use gpu_mlp::gpu::context::describe_adapter;
use gpu_mlp::gpu::{list_adapters, BackendChoice, GpuBackend, GpuContext};
use gpu_mlp::metrics::MetricsWriter;
use gpu_mlp::model::{Activation, Architecture, Loss, Optimizer, OptimizerKind};
use gpu_mlp::rng::Rng;
use gpu_mlp::train::{self, Backend, TrainConfig, EVAL_BATCH};
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
    /// Measure training throughput (or one matmul with --matmul) on the GPU or the CPU.
    Bench(BenchArgs),
    /// Evaluate a saved network on the test set: loss, accuracy, per-class accuracy, confusion matrix.
    Eval(EvalArgs),
    /// Classify 28×28 grayscale PNG images (or test example --index) with a saved network.
    Predict(PredictArgs),
    /// Fetch mnist or fashion-mnist (four IDX files, SHA-256 verified) into the cache.
    Download(DownloadArgs),
    /// List every GPU adapter wgpu can see.
    Devices {
        /// Only adapters of this backend.
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
    },
}

/// Where the math runs.
#[derive(Args)]
struct DeviceArgs {
    /// Run on the CPU reference path instead of the GPU.
    #[arg(long, conflicts_with_all = ["backend", "adapter"])]
    cpu: bool,
    /// Graphics API for the GPU path; auto prefers a real GPU, then a software adapter.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive); see `gpu-mlp devices`.
    #[arg(long, value_name = "SUBSTRING")]
    adapter: Option<String>,
}

/// The network and how it learns.
#[derive(Args)]
struct NetworkArgs {
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
    /// Optimizer: plain SGD, heavy-ball momentum (PyTorch's form) or Adam.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Learning rate [default: 0.1 for sgd, 0.01 for momentum, 0.001 for adam].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Momentum coefficient (--optimizer momentum).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    momentum: f32,
    /// Examples per step [default: 100, or the checkpoint's with --resume].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of classes; every label must be below it.
    #[arg(long, default_value_t = 10)]
    classes: usize,
}

impl NetworkArgs {
    fn architecture(&self, inputs: usize) -> Result<Architecture, Error> {
        Architecture::new(
            inputs,
            &self.hidden,
            self.classes,
            self.activation,
            self.loss,
        )
    }
}

/// Which data.
#[derive(Args)]
struct DataArgs {
    /// Directory with the four IDX files (raw or .gz), or `mnist` / `fashion-mnist`
    /// for a data set fetched by `gpu-mlp download`. Default: $GPU_MLP_DATA,
    /// ./data/mnist, /usr/share/datasets/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Use the first N training examples only.
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Use the first N test examples only.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    net: NetworkArgs,
    /// Epochs to train (more epochs, with --resume).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Write one JSON object per epoch to FILE (rewritten atomically each epoch).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Save the trained network, optimizer state and RNG position (safetensors).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Also save every N epochs during training (needs --save).
    #[arg(long, value_name = "N", requires = "save")]
    checkpoint_every: Option<usize>,
    /// Continue training a checkpoint: its network, optimizer state and RNG position
    /// (give the data flags again; --lr and --batch-size may change).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["hidden", "activation", "loss", "optimizer", "momentum", "seed", "classes"]
    )]
    resume: Option<PathBuf>,
    /// Draw train loss, test loss and test accuracy per epoch into a PNG.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Print only the final result (no progress bar, no per-epoch lines).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    net: NetworkArgs,
    /// Time N training steps after the warm-up [default: one epoch].
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    steps: Option<usize>,
    /// Time N whole epochs after the warm-up.
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Untimed steps first (the first one also compiles shaders on lazy drivers).
    #[arg(long, default_value_t = 20, value_name = "N")]
    warmup: usize,
    /// Benchmark on N random 28×28 examples instead of data files.
    #[arg(long, value_name = "N", conflicts_with = "data")]
    synthetic: Option<usize>,
    /// GPU: time every kernel with timestamp queries and print a table.
    #[arg(long)]
    profile: bool,
    /// Time one matmul C = A·B of this shape instead of training: the GPU kernels
    /// (register-blocked and the simple one) and the CPU GEMM.
    #[arg(long, value_name = "M,K,N", value_parser = parse_shape)]
    matmul: Option<[usize; 3]>,
}

#[derive(Args)]
struct DownloadArgs {
    /// mnist or fashion-mnist.
    #[arg(value_name = "DATASET")]
    dataset: String,
    /// Directory to fill [default: $GPU_MLP_DATA, else the cache: $GPU_MLP_CACHE,
    /// $XDG_CACHE_HOME/gpu-mlp or ~/.cache/gpu-mlp, then the data set's name, where
    /// `--data DATASET` finds it].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Base URL to fetch from instead of the built-in mirrors (repeat for fallbacks).
    #[arg(long, value_name = "URL")]
    mirror: Vec<String>,
}

#[derive(Args)]
struct EvalArgs {
    /// The network, as written by `train --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// The network, as written by `train --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// PNG images of the network's input size (28×28 for MNIST), any colour type.
    #[arg(value_name = "FILE", required_unless_present = "index")]
    images: Vec<PathBuf>,
    /// Classify test example I instead, shown as text beside its true label.
    #[arg(long, value_name = "I", conflicts_with = "images")]
    index: Option<usize>,
    /// Data directory for --index.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// How many classes to list per image.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Invert the images first (for dark digits on a light background; MNIST is light on dark).
    #[arg(long)]
    invert: bool,
}

fn main() -> ExitCode {
    // RUST_LOG=debug shows our adapter limits, buffer sizes and timings (a bare level
    // applies to gpu-mlp only: wgpu and naga at debug drown them); full env_logger
    // syntax (RUST_LOG=wgpu_core=debug,...) passes through unchanged.
    let filter = match std::env::var("RUST_LOG") {
        Ok(level) if !level.contains(['=', ',']) && !level.is_empty() => {
            format!("warn,gpu_mlp={level}")
        }
        Ok(spec) if !spec.is_empty() => spec,
        _ => "warn".to_string(),
    };
    env_logger::Builder::new().parse_filters(&filter).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Bench(args) => run_bench(args),
        Command::Eval(args) => run_eval(args),
        Command::Download(args) => run_download(args),
        Command::Predict(args) => run_predict(args),
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

/// Checks the flags that need no data, so that mistakes fail before loading anything.
fn validate(net: &NetworkArgs) -> Result<Optimizer, Error> {
    let opt = Optimizer::new(net.optimizer, net.lr, net.momentum);
    opt.validate()?;
    if net.batch_size == Some(0) {
        return Err(Error::Config("--batch-size must be at least 1".into()));
    }
    if !(2..=256).contains(&net.classes) {
        return Err(Error::Config(format!(
            "--classes {} must be between 2 and 256 (labels are bytes)",
            net.classes
        )));
    }
    Ok(opt)
}

fn load_data(args: &DataArgs, classes: usize) -> Result<Dataset, Error> {
    let dir = data::resolve_data_dir(args.data.as_deref())?;
    let mut dataset = data::load_dir(&dir, classes)?;
    data::apply_limits(&mut dataset, args.train_limit, args.test_limit)?;
    Ok(dataset)
}

/// Refuses, with the reason, a network whose host-side buffers cannot fit in memory.
fn check_memory(
    device: &DeviceArgs,
    arch: &Architecture,
    opt: &Optimizer,
    batch: usize,
) -> Result<(), Error> {
    let bytes = if device.cpu {
        gpu_mlp::cpu::memory_needed(arch, opt, batch)
    } else {
        // The GPU path keeps one host copy of the parameters; the device checks the rest.
        4 * arch.param_count() as u64
    };
    gpu_mlp::cpu::check_host_memory(bytes, &format!("a {} network", arch.shape_string()))
}

fn make_backend(
    device: &DeviceArgs,
    dataset: &Arc<Dataset>,
    arch: &Architecture,
    opt: Optimizer,
    params: Vec<f32>,
    batch_size: usize,
) -> Result<Box<dyn Backend>, Error> {
    Ok(if device.cpu {
        Box::new(CpuBackend::new(
            Arc::clone(dataset),
            arch,
            opt,
            params,
            batch_size,
        ))
    } else {
        let ctx = GpuContext::new(device.backend, device.adapter.as_deref())?;
        Box::new(GpuBackend::new(
            ctx,
            Arc::clone(dataset),
            arch,
            opt,
            params,
            batch_size,
        )?)
    })
}

fn describe_run(
    dataset: &Dataset,
    arch: &Architecture,
    opt: &Optimizer,
    batch: usize,
    backend: &str,
) -> String {
    format!(
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
        batch,
        backend,
    )
}

fn run_train(args: TrainArgs) -> Result<(), Error> {
    let mut opt = validate(&args.net)?;
    if args.epochs == 0 {
        return Err(Error::Config("--epochs must be at least 1".into()));
    }
    if args.checkpoint_every == Some(0) {
        return Err(Error::Config(
            "--checkpoint-every must be at least 1".into(),
        ));
    }
    let resumed = match &args.resume {
        Some(p) => Some(Checkpoint::load(p)?),
        None => None,
    };
    // Fail on an unwritable output before training, not after.
    for path in [&args.save, &args.metrics, &args.plot]
        .into_iter()
        .flatten()
    {
        files::check_writable(path)?;
    }
    let net = &args.net;
    let classes = resumed.as_ref().map_or(net.classes, |c| c.arch.classes());
    let dataset = load_data(&args.data, classes)?;
    let (arch, params, mut rng, seed, start_epoch) = match &resumed {
        Some(c) => {
            if (dataset.rows, dataset.cols) != (c.image_rows, c.image_cols) {
                return Err(Error::Config(format!(
                    "--resume {}: the network takes {}×{} images, the data has {}×{}",
                    args.resume.as_ref().unwrap().display(),
                    c.image_rows,
                    c.image_cols,
                    dataset.rows,
                    dataset.cols
                )));
            }
            opt = Optimizer {
                lr: net.lr.unwrap_or(c.opt.lr),
                ..c.opt
            };
            (
                c.arch.clone(),
                c.params.clone(),
                Rng::from_state(c.rng_state),
                c.seed,
                c.epochs_trained,
            )
        }
        None => {
            let arch = net.architecture(dataset.pixels())?;
            check_memory(
                &args.device,
                &arch,
                &opt,
                net.batch_size.unwrap_or(100).min(dataset.train.len()),
            )?;
            let mut rng = Rng::new(net.seed);
            let params = arch.init_params(&mut rng);
            (arch, params, rng, net.seed, 0)
        }
    };
    let cfg = TrainConfig {
        batch_size: net
            .batch_size
            .or(resumed.as_ref().map(|c| c.batch_size))
            .unwrap_or(100),
        epochs: args.epochs,
        start_epoch,
    };
    let dataset = Arc::new(dataset);
    let mut backend = make_backend(&args.device, &dataset, &arch, opt, params, cfg.batch_size)?;
    if let Some(c) = &resumed {
        backend.set_optimizer_state(&c.state)?;
    }
    let describe = backend.describe();
    if !args.quiet {
        println!(
            "{}",
            describe_run(&dataset, &arch, &opt, cfg.batch_size, &describe)
        );
        if let (Some(p), Some(c)) = (&args.resume, &resumed) {
            println!("resuming {} after {} epochs", p.display(), c.epochs_trained);
        }
    }
    let mut observer = TrainObserver {
        quiet: args.quiet,
        batch_size: cfg.batch_size,
        total_epochs: start_epoch + args.epochs,
        progress: None,
        metrics: match &args.metrics {
            Some(p) => Some(MetricsWriter::create(p, &describe)?),
            None => None,
        },
        save: args.save.clone(),
        every: args.checkpoint_every,
        last_epoch: start_epoch + args.epochs,
        snapshot: CheckpointInfo {
            arch: arch.clone(),
            opt,
            seed,
            batch_size: cfg.batch_size,
            rows: dataset.rows,
            cols: dataset.cols,
            class_names: match &resumed {
                Some(c) => c.class_names.clone(),
                None => gpu_mlp::checkpoint::class_names_for(&dataset.dir, arch.classes()),
            },
        },
        history: Vec::new(),
        plot: args.plot.clone(),
    };
    let reports = train::train(
        backend.as_mut(),
        dataset.train.len(),
        &cfg,
        &mut rng,
        &mut observer,
    )?;
    let last = reports.last().expect("at least one epoch");
    if args.quiet {
        println!(
            "epoch {} test_loss {:.4} test_acc {:.2}%",
            last.epoch,
            last.test_loss,
            100.0 * last.test_accuracy
        );
    }
    Ok(())
}

/// What a checkpoint needs besides the backend's parameters and optimizer state.
struct CheckpointInfo {
    arch: Architecture,
    opt: Optimizer,
    seed: u64,
    batch_size: usize,
    rows: usize,
    cols: usize,
    class_names: Option<Vec<String>>,
}

/// Prints progress and epochs, writes metrics, checkpoints and the plot.
struct TrainObserver {
    quiet: bool,
    batch_size: usize,
    total_epochs: usize,
    progress: Option<indicatif::ProgressBar>,
    metrics: Option<MetricsWriter>,
    save: Option<PathBuf>,
    every: Option<usize>,
    last_epoch: usize,
    snapshot: CheckpointInfo,
    history: Vec<train::EpochReport>,
    plot: Option<PathBuf>,
}

impl TrainObserver {
    fn save(
        &self,
        path: &std::path::Path,
        epoch: usize,
        backend: &mut dyn Backend,
        rng: &Rng,
    ) -> Result<(), Error> {
        let s = &self.snapshot;
        Checkpoint {
            arch: s.arch.clone(),
            opt: s.opt,
            params: backend.parameters()?,
            state: backend.optimizer_state()?,
            epochs_trained: epoch,
            seed: s.seed,
            rng_state: rng.state(),
            batch_size: s.batch_size,
            image_rows: s.rows,
            image_cols: s.cols,
            class_names: s.class_names.clone(),
        }
        .save(path)?;
        log::info!("saved {} after epoch {epoch}", path.display());
        Ok(())
    }
}

impl train::Observer for TrainObserver {
    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, running_loss: Option<f64>) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = self.progress.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:25}] {pos}/{len} batches, eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        let rate = (done * self.batch_size) as f64 / bar.elapsed().as_secs_f64().max(1e-6);
        let loss = match (running_loss, self.history.last()) {
            (Some(l), _) => format!(" loss {l:.4}"),
            (None, Some(r)) => format!(" (last epoch's loss {:.4})", r.train_loss),
            (None, None) => String::new(),
        };
        bar.set_message(format!(
            "epoch {epoch}/{}{loss} {rate:.0} samples/s",
            self.total_epochs
        ));
        bar.set_position(done as u64);
    }

    fn epoch_done(
        &mut self,
        r: &train::EpochReport,
        backend: &mut dyn Backend,
        rng: &Rng,
    ) -> Result<(), Error> {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            println!(
                "epoch {:>3}/{}  train_loss {:.4}  test_loss {:.4}  test_acc {:6.2}%  {:7.2} s  {:9.0} samples/s",
                r.epoch, self.total_epochs, r.train_loss, r.test_loss, 100.0 * r.test_accuracy, r.seconds, r.samples_per_second
            );
        }
        if let Some(m) = self.metrics.as_mut() {
            m.record(r)?;
        }
        self.history.push(r.clone());
        if let Some(p) = &self.plot {
            gpu_mlp::plot::draw_curves(p, &self.history)?;
        }
        if let Some(path) = self.save.clone() {
            let due = self.every.is_some_and(|n| r.epoch % n == 0);
            if due || r.epoch == self.last_epoch {
                self.save(&path, r.epoch, backend, rng)?;
            }
        }
        Ok(())
    }
}

fn class_label(names: &Option<Vec<String>>, c: usize) -> String {
    match names {
        Some(n) => format!("{c} {}", n[c]),
        None => c.to_string(),
    }
}

fn run_download(args: DownloadArgs) -> Result<(), Error> {
    let known = gpu_mlp::download::known(&args.dataset).ok_or_else(|| {
        Error::Config(format!(
            "unknown data set {:?}: expected mnist or fashion-mnist",
            args.dataset
        ))
    })?;
    // Like train's data lookup: --dir, else $GPU_MLP_DATA (the data directory itself),
    // else the cache, where `--data NAME` finds it.
    let dir = args
        .dir
        .or_else(|| std::env::var_os(data::DATA_ENV).map(PathBuf::from))
        .unwrap_or_else(|| gpu_mlp::download::cache_root().join(known.name));
    let mirrors: Vec<String> = if args.mirror.is_empty() {
        known.mirrors.iter().map(|m| m.to_string()).collect()
    } else {
        args.mirror
            .iter()
            .map(|m| {
                if m.ends_with('/') {
                    m.clone()
                } else {
                    format!("{m}/")
                }
            })
            .collect()
    };
    gpu_mlp::download::fetch_files(&dir, &mirrors, &known.files, |line| eprintln!("{line}"))?;
    // The files must also be valid IDX data, not merely the expected bytes.
    data::load_dir(&dir, 10)?;
    println!("{}", dir.display());
    Ok(())
}

fn run_eval(args: EvalArgs) -> Result<(), Error> {
    let model = Checkpoint::load(&args.model)?;
    let dataset = load_data(&args.data, model.arch.classes())?;
    if dataset.pixels() != model.arch.inputs() {
        return Err(Error::Config(format!(
            "--model {} takes {} inputs, the data has {}×{} = {} pixels",
            args.model.display(),
            model.arch.inputs(),
            dataset.rows,
            dataset.cols,
            dataset.pixels()
        )));
    }
    let dataset = Arc::new(dataset);
    let classes = model.arch.classes();
    let mut backend = make_backend(
        &args.device,
        &dataset,
        &model.arch,
        model.opt,
        model.params.clone(),
        EVAL_BATCH,
    )?;
    let r = gpu_mlp::eval::evaluate(backend.as_mut(), &dataset.test.labels, classes)?;
    if args.json {
        let json = serde_json::json!({
            "model": args.model.display().to_string(),
            "data": dataset.dir.display().to_string(),
            "backend": backend.describe(),
            "examples": r.examples,
            "loss": r.loss,
            "accuracy": r.accuracy,
            "per_class_accuracy": r.per_class_accuracy.iter().map(|&a| if a.is_nan() { None } else { Some(a) }).collect::<Vec<_>>(),
            "confusion": r.confusion,
        });
        println!("{json}");
        return Ok(());
    }
    println!(
        "model {} ({} {}, trained {} epochs) on {} ({} test examples) | backend {}",
        args.model.display(),
        model.arch.shape_string(),
        model.arch.activation.name(),
        model.epochs_trained,
        dataset.dir.display(),
        r.examples,
        backend.describe()
    );
    println!(
        "test loss {:.4}  accuracy {:.2}%\n",
        r.loss,
        100.0 * r.accuracy
    );
    let names: Vec<String> = (0..classes)
        .map(|c| class_label(&model.class_names, c))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(5);
    println!("{:<width$}  accuracy  examples", "class");
    for (c, name) in names.iter().enumerate() {
        let n: u64 = r.confusion[c].iter().sum();
        let acc = r.per_class_accuracy[c];
        let acc = if acc.is_nan() {
            "     -".to_string()
        } else {
            format!("{:6.2}%", 100.0 * acc)
        };
        println!("{name:<width$}  {acc:>8}  {n:>8}");
    }
    let cell = r
        .confusion
        .iter()
        .flatten()
        .max()
        .map_or(1, |m| m.to_string().len())
        .max(classes.to_string().len())
        + 1;
    println!("\nconfusion matrix (rows: true class, columns: predicted)");
    print!("{:>4}", "");
    for c in 0..classes {
        print!("{c:>cell$}");
    }
    println!();
    for (c, row) in r.confusion.iter().enumerate() {
        print!("{c:>4}");
        for v in row {
            print!("{v:>cell$}");
        }
        println!();
    }
    Ok(())
}

fn run_predict(args: PredictArgs) -> Result<(), Error> {
    let model = Checkpoint::load(&args.model)?;
    let (rows, cols) = (model.image_rows, model.image_cols);
    let classes = model.arch.classes();
    if args.top == 0 {
        return Err(Error::Config("--top must be at least 1".into()));
    }
    let show = |pixels: &[u8], what: &str, truth: Option<usize>| {
        let pixels: Vec<u8> = if args.invert {
            pixels.iter().map(|&p| 255 - p).collect()
        } else {
            pixels.to_vec()
        };
        let probs = gpu_mlp::eval::class_probabilities(&model, &pixels);
        let mut ranked: Vec<usize> = (0..classes).collect();
        ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let mut lines: Vec<String> = vec![what.to_string()];
        if let Some(t) = truth {
            lines.push(format!("true:      {}", class_label(&model.class_names, t)));
        }
        for (i, &c) in ranked.iter().take(args.top).enumerate() {
            let lead = if i == 0 { "predicted:" } else { "          " };
            lines.push(format!(
                "{lead} {} ({:.1}%)",
                class_label(&model.class_names, c),
                100.0 * probs[c]
            ));
        }
        if truth.is_some() {
            let art = gpu_mlp::eval::ascii_art(&pixels, cols);
            for (i, row) in art.iter().enumerate() {
                println!("{row}  {}", lines.get(i).map_or("", String::as_str));
            }
            for l in lines.iter().skip(art.len()) {
                println!("{:w$}  {l}", "", w = 2 * cols);
            }
        } else {
            for l in lines {
                println!("{l}");
            }
        }
    };
    if let Some(i) = args.index {
        let dir = data::resolve_data_dir(args.data.as_deref())?;
        let dataset = data::load_dir(&dir, classes)?;
        if (dataset.rows, dataset.cols) != (rows, cols) {
            return Err(Error::Config(format!(
                "--model takes {rows}×{cols} images, {} has {}×{}",
                dir.display(),
                dataset.rows,
                dataset.cols
            )));
        }
        if i >= dataset.test.len() {
            return Err(Error::Config(format!(
                "--index {i} is out of range: the test set has {} examples",
                dataset.test.len()
            )));
        }
        show(
            dataset.test.image(i),
            &format!("test example {i} of {}", dir.display()),
            Some(dataset.test.labels[i] as usize),
        );
        return Ok(());
    }
    for path in &args.images {
        let pixels = gpu_mlp::eval::read_png_gray(path, rows, cols)?;
        show(&pixels, &path.display().to_string(), None);
    }
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<(), Error> {
    let opt = validate(&args.net)?;
    if let Some(shape) = &args.matmul {
        return bench_matmul(&args.device, shape);
    }
    if args.steps == Some(0) || args.epochs == Some(0) {
        return Err(Error::Config(
            "--steps and --epochs must be at least 1".into(),
        ));
    }
    let dataset = match args.synthetic {
        Some(0) => return Err(Error::Config("--synthetic must be at least 1".into())),
        Some(n) => bench::synthetic_dataset(n, args.net.seed),
        None => load_data(&args.data, args.net.classes)?,
    };
    let net = &args.net;
    let arch = net.architecture(dataset.pixels())?;
    check_memory(
        &args.device,
        &arch,
        &opt,
        net.batch_size.unwrap_or(100).min(dataset.train.len()),
    )?;
    let dataset = Arc::new(dataset);
    let params = arch.init_params(&mut Rng::new(net.seed));
    let length = match (args.steps, args.epochs) {
        (Some(s), _) => Length::Steps(s),
        (None, Some(e)) => Length::Epochs(e),
        (None, None) => Length::Epochs(1),
    };
    let batch = net.batch_size.unwrap_or(100);
    let (backend, r) = bench::run(
        || make_backend(&args.device, &dataset, &arch, opt, params, batch),
        &arch,
        dataset.train.len(),
        batch,
        args.warmup.max(1),
        length,
        args.profile,
    )?;
    println!(
        "{}",
        describe_run(&dataset, &arch, &opt, batch, &backend.describe())
    );
    println!(
        "timed {} steps ({} samples, {} epoch pass{}) after {} warm-up steps",
        r.steps,
        r.samples,
        r.epochs_timed,
        if r.epochs_timed == 1 { "" } else { "es" },
        args.warmup.max(1)
    );
    println!("samples/s        {:.0}", r.samples_per_second());
    println!("ms per step      {:.3}", r.ms_per_step());
    println!(
        "GFLOP/s          {:.1} (matmul arithmetic actually done: forward, weight and input gradients, none for the input layer)",
        r.matmul_flops / r.seconds / 1e9
    );
    println!(
        "GFLOP/s (6·P·N)  {:.1} (the customary 6 × parameters × samples estimate of forward + backward)",
        r.customary_flops / r.seconds / 1e9
    );
    println!(
        "time to 1st step {:.3} s (backend setup, uploads, pipelines, first step)",
        r.first_step_seconds
    );
    match bench::peak_rss_bytes() {
        Some(b) => println!(
            "peak memory      {:.1} MiB (process peak RSS, data set included)",
            b as f64 / 1048576.0
        ),
        None => println!("peak memory      n/a on this OS"),
    }
    if args.device.cpu {
        let threads = cpu_threads();
        match bench::cpu_peak_gflops(threads) {
            Some(peak) => println!(
                "CPU FP32 peak    {peak:.1} GFLOP/s measured ({threads} threads of 8-wide FMA chains); this run: {:.0} % of it",
                100.0 * r.matmul_flops / r.seconds / 1e9 / peak
            ),
            None => println!("CPU FP32 peak    n/a (needs x86-64 with AVX2 and FMA)"),
        }
    } else {
        let c = &r.counters;
        println!(
            "host             {:.1} µs per step recording dispatches ({:.2} % of the time); {:.1} % inside write_buffer+encode+submit",
            1e6 * c.record_seconds / r.steps as f64,
            100.0 * c.record_seconds / r.seconds,
            100.0 * c.submit_seconds / r.seconds
        );
        println!(
            "                 {} submits, {} read-backs in {} epoch pass{} of {} steps each",
            r.counters.submits,
            r.counters.readbacks,
            r.epochs_timed,
            if r.epochs_timed == 1 { "" } else { "es" },
            dataset.train.len().div_ceil(batch),
        );
    }
    if !r.profile.is_empty() {
        print_profile(&r.profile);
    }
    Ok(())
}

fn print_profile(profile: &[(&'static str, gpu_mlp::train::KernelTime)]) {
    let total: f64 = profile.iter().map(|(_, k)| k.seconds).sum();
    let mut rows = profile.to_vec();
    rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    println!("\ntime per kernel (GPU: timestamp queries, and profiling waits after every submit; CPU: wall time per phase):");
    println!(
        "{:<38} {:>8} {:>11} {:>7} {:>9}",
        "kernel", "calls", "total ms", "share", "GFLOP/s"
    );
    for (name, k) in rows {
        let gflops = if k.flops > 0.0 {
            format!("{:.2}", k.flops / k.seconds / 1e9)
        } else {
            "".into()
        };
        println!(
            "{:<38} {:>8} {:>11.2} {:>6.1}% {:>9}",
            name,
            k.calls,
            1e3 * k.seconds,
            100.0 * k.seconds / total,
            gflops
        );
    }
    println!("{:<38} {:>8} {:>11.2}", "total", "", 1e3 * total);
}

/// "M,K,N" → [M, K, N], each at least 1.
fn parse_shape(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [m, k, n] if m > 0 && k > 0 && n > 0 => Ok([m, k, n]),
        _ => Err("expected three sizes of at least 1, as M,K,N".into()),
    }
}

fn bench_matmul(device: &DeviceArgs, &[m, k, n]: &[usize; 3]) -> Result<(), Error> {
    let flops = 2.0 * m as f64 * k as f64 * n as f64;
    println!(
        "matmul C ({m}×{n}) = A ({m}×{k}) · B ({k}×{n}), {:.3} GFLOP per product",
        flops / 1e9
    );
    // CPU: the GEMM the CPU path uses, repeated for about half a second.
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let once = || {
        let t = std::time::Instant::now();
        gpu_mlp::cpu::matmul::matmul_forward(&a, &b, &mut c, m, k, n);
        t.elapsed().as_secs_f64()
    };
    let mut time_cpu = once;
    let first = time_cpu();
    let reps = ((0.5 / first.max(1e-6)) as usize).clamp(1, 10_000);
    let cpu_s = (0..reps).map(|_| time_cpu()).sum::<f64>() / reps as f64;
    println!(
        "{:<44} {:>10.3} ms {:>9.2} GFLOP/s",
        format!("cpu gemm ({} threads)", cpu_threads()),
        1e3 * cpu_s,
        flops / cpu_s / 1e9
    );
    if device.cpu {
        return Ok(());
    }
    let ctx = GpuContext::new(device.backend, device.adapter.as_deref())?;
    println!("adapter {}", ctx.describe());
    use gpu_mlp::gpu::matmul::{seconds_per_dispatch, MatmulKernels, MatmulParams, MatmulVariant};
    let blocked = MatmulKernels::variant(&ctx, MatmulVariant::Blocked)?;
    let tiled = MatmulKernels::variant(&ctx, MatmulVariant::Tiled)?;
    let p = MatmulParams::forward(m, k, n, 0, 0, 0);
    let mut seconds = Vec::new();
    for (name, kernel, groups) in [
        (
            "gpu matmul_forward (blocked, 8×8 per invocation)",
            &blocked.forward,
            p.workgroups(),
        ),
        (
            "gpu matmul_forward_tiled (workgroup memory)",
            &tiled.forward,
            p.workgroups(),
        ),
        (
            "gpu matmul_reference (1 per invocation)",
            &blocked.reference,
            p.reference_workgroups(),
        ),
    ] {
        let est = seconds_per_dispatch(&ctx, kernel, &p, groups, 1)?;
        let reps = ((0.5 / est.max(1e-6)) as usize).clamp(1, 1000);
        let s = seconds_per_dispatch(&ctx, kernel, &p, groups, reps)?;
        println!(
            "{:<50} {:>10.3} ms {:>9.2} GFLOP/s  ({reps} dispatch{} in one submit)",
            name,
            1e3 * s,
            flops / s / 1e9,
            if reps == 1 { "" } else { "es" }
        );
        seconds.push(s);
    }
    println!(
        "speed-up over the simple kernel: blocked {:.1}×, tiled {:.1}×; training uses {} on this adapter",
        seconds[2] / seconds[0],
        seconds[2] / seconds[1],
        MatmulVariant::for_adapter(&ctx.info)?.name()
    );
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
