//! The command line: the arguments the subcommands share and the helpers they use
//! (validation, data loading, backend construction). Each subcommand lives in its
//! own module; none of them touches GPU buffers.

/// `println!` that a closed or full stdout cannot turn into a panic (`out.rs`).
macro_rules! say {
    () => { $crate::cli::out::stdout(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*), true) };
}

/// `print!`, likewise.
macro_rules! say_part {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*), false) };
}

/// `eprintln!`, likewise for stderr.
macro_rules! tell {
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!($($arg)*)) };
}

pub(crate) mod bench;
pub(crate) mod download;
pub(crate) mod eval;
pub(crate) mod export;
pub(crate) mod network;
pub(crate) mod observer;
pub(crate) mod out;
pub(crate) mod outputs;
pub(crate) mod paths;
pub(crate) mod signals;
pub(crate) mod train;

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use gpu_mlp::backend::TrainSetup;
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::cpu::kernel::CpuKernel;
use gpu_mlp::cpu::CpuBackend;
use gpu_mlp::data::normalize::{InputTransform, Normalize};
use gpu_mlp::data::{self, Dataset, Format, LoadOptions};
use gpu_mlp::gpu::context::{describe_adapter, software_only};
use gpu_mlp::gpu::matmul::MatmulVariant;
use gpu_mlp::gpu::{list_adapters, BackendChoice, GpuBackend, GpuContext, GpuOptions};
use gpu_mlp::network::Architecture;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::profile::Measured;
use gpu_mlp::rng::Rng;
use gpu_mlp::Error;
pub(crate) use network::NetworkArgs;

#[derive(Parser)]
#[command(
    name = "gpu-mlp",
    version,
    about = "Train multi-layer perceptrons on MNIST-format data on the GPU (wgpu/WGSL) or the CPU"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train a network and report loss and accuracy per epoch.
    Train(train::TrainArgs),
    /// Measure training throughput (or one matmul with --matmul) on the GPU or the CPU.
    Bench(bench::BenchArgs),
    /// Evaluate a saved network on the test (or train) split: loss, accuracy, per-class accuracy, confusion matrix.
    Eval(eval::EvalArgs),
    /// Classify 28×28 grayscale PNG images (or test example --index) with a saved network.
    Predict(eval::PredictArgs),
    /// Write a saved network as an ONNX model (onnxruntime, TensorRT, onnxruntime-web).
    Export(export::ExportArgs),
    /// Fetch mnist or fashion-mnist (four IDX files, SHA-256 verified) into the cache.
    Download(download::DownloadArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// List every GPU adapter wgpu can see.
    Devices {
        /// Only adapters of this backend.
        #[arg(long, value_parser = choice::<BackendChoice>(), default_value = "auto")]
        backend: BackendChoice,
    },
}

/// A flag whose values are a library `Choice`: --help lists the names, aliases are
/// accepted, and a wrong value is clap's usual error.
#[derive(Clone)]
pub(crate) struct ChoiceParser<T>(PhantomData<T>);

pub(crate) fn choice<T: Choice>() -> ChoiceParser<T> {
    ChoiceParser(PhantomData)
}

impl<T: Choice + Send + Sync> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let names =
            clap::builder::PossibleValuesParser::new(self.possible_values().into_iter().flatten());
        let name = names.parse_ref(cmd, arg, value)?;
        T::from_name(&name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::ALL.iter().map(|v| {
            PossibleValue::new(v.name()).aliases(v.aliases().iter().copied())
        })))
    }
}

/// Where the math runs.
#[derive(Args, Clone)]
#[command(next_help_heading = "Device")]
pub(crate) struct DeviceArgs {
    /// Run on the CPU reference path instead of the GPU.
    #[arg(long, conflicts_with_all = ["backend", "adapter"])]
    pub(crate) cpu: bool,
    /// Graphics API for the GPU path; auto prefers a real GPU, and runs on the CPU path when
    /// the only adapter is a software one (name a backend to use it anyway).
    #[arg(long, value_parser = choice::<BackendChoice>(), default_value = "auto")]
    pub(crate) backend: BackendChoice,
    /// Use the adapter whose name contains this text (case-insensitive); see `gpu-mlp devices`.
    #[arg(long, value_name = "SUBSTRING")]
    pub(crate) adapter: Option<String>,
}

impl DeviceArgs {
    /// The device to run on: as the flags say, except that `--backend auto` on a
    /// machine whose only adapters are software ones (lavapipe: a CPU posing as a
    /// GPU, several times slower than the CPU path) trains on the CPU path instead,
    /// saying so in one line. `--backend vulkan` still forces the software adapter.
    pub(crate) fn resolved(&self) -> DeviceArgs {
        if self.cpu || self.backend != BackendChoice::Auto || self.adapter.is_some() {
            return self.clone();
        }
        let Some(adapters) = software_only() else {
            return self.clone();
        };
        let found = match adapters.first() {
            Some(a) => format!("only the software adapter {}", a.name),
            None => "no GPU adapter".to_string(),
        };
        tell!(
            "note: {found} here; running on the CPU path, which is faster \
             (--backend vulkan uses the software adapter anyway)"
        );
        DeviceArgs {
            cpu: true,
            ..self.clone()
        }
    }
}

/// Which data.
#[derive(Args)]
#[command(next_help_heading = "Data")]
pub(crate) struct DataArgs {
    /// The data: a directory of IDX files (raw or .gz) or CIFAR binary batches, a
    /// Keras-style .npz, a CSV table, or the name of a downloaded set (`mnist`,
    /// `fashion-mnist`, `kmnist`, `cifar10`, `cifar100`). Default: $GPU_MLP_DATA,
    /// ./data/mnist, /usr/share/datasets/fashion-mnist.
    #[arg(long, value_name = "PATH")]
    pub(crate) data: Option<PathBuf>,
    /// Read --data as this format instead of guessing from what it is.
    #[arg(long, value_parser = choice::<Format>())]
    pub(crate) format: Option<Format>,
    /// CSV: the test table (same columns as --data).
    #[arg(long, value_name = "FILE")]
    pub(crate) test_data: Option<PathBuf>,
    /// CSV: hold out this fraction of --data's rows as the test split (seeded).
    #[arg(long, value_name = "F", conflicts_with = "test_data")]
    pub(crate) test_split: Option<f64>,
    /// CSV: the label column [default: label, target or class, else the last].
    #[arg(long, value_name = "NAME")]
    pub(crate) label_column: Option<String>,
    /// CIFAR-100: train on the 100 fine or the 20 coarse labels [default: fine].
    #[arg(long, value_name = "fine|coarse", value_parser = ["fine", "coarse"])]
    pub(crate) label: Option<String>,
    /// Class names, comma-separated, or @FILE with one per line (stored in the
    /// checkpoint; shown by eval and predict).
    #[arg(long, value_name = "A,B,..|@FILE")]
    pub(crate) class_names: Option<String>,
    /// Use the first N training examples only.
    #[arg(long, value_name = "N")]
    pub(crate) train_limit: Option<usize>,
    /// Use the first N test examples only.
    #[arg(long, value_name = "N")]
    pub(crate) test_limit: Option<usize>,
}

/// Reads the data the flags name for `model` where there is one (its classes and
/// class names decide how labels are read), else with `classes` (`--classes`);
/// `seed` is the run's (it picks --test-split's rows).
pub(crate) fn load_data(
    args: &DataArgs,
    model: Option<&Checkpoint>,
    classes: Option<usize>,
    seed: u64,
) -> Result<Dataset, Error> {
    let path = paths::resolve_data_dir(args.data.as_deref())?;
    let mut options = args.load_options(model.map_or(classes, |m| Some(m.arch.classes())), seed)?;
    if let (None, Some(m)) = (&options.class_names, model) {
        options.class_names = m.class_names.clone();
    }
    let mut dataset = data::load(&path, &options).map_err(|e| match e {
        Error::Setting {
            setting: "test_data",
            ..
        } => Error::Usage(format!(
            "{} is a single table: give a test table (--test-data FILE) or hold out a \
             fraction of its rows (--test-split 0.2)",
            path.display()
        )),
        e => e,
    })?;
    data::apply_limits(&mut dataset, args.train_limit, args.test_limit)?;
    Ok(dataset)
}

impl DataArgs {
    /// The library's reading options for these flags.
    pub(crate) fn load_options(
        &self,
        classes: Option<usize>,
        seed: u64,
    ) -> Result<LoadOptions, Error> {
        Ok(LoadOptions {
            format: self.format,
            test_data: self.test_data.clone(),
            test_split: self.test_split,
            seed,
            label_column: self.label_column.clone(),
            coarse_labels: self.label.as_deref() == Some("coarse"),
            classes,
            class_names: self
                .class_names
                .as_deref()
                .map(parse_class_names)
                .transpose()?,
        })
    }
}

/// `--class-names a,b,c` or `--class-names @file` (one name per line).
fn parse_class_names(spec: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = match spec.strip_prefix('@') {
        Some(file) => {
            let bytes = gpu_mlp::files::read_bounded(file.as_ref(), 1 << 20)?;
            String::from_utf8(bytes)
                .map_err(|_| Error::data(file, "is not UTF-8 text"))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        }
        None => spec.split(',').map(|n| n.trim().to_string()).collect(),
    };
    if names.len() < 2 || names.iter().any(String::is_empty) {
        return Err(Error::Usage(format!(
            "--class-names {spec:?}: give at least two non-empty names"
        )));
    }
    Ok(names)
}

/// Refuses, with the reason, a network whose host-side buffers cannot fit in memory.
pub(crate) fn check_memory(
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
    let what = format!("a {} network", arch.shape_string());
    gpu_mlp::files::check_host_memory(bytes, &what)
        .map_err(|e| Error::Resources(format!("{e}; use smaller --hidden layers or --batch-size")))
}

/// A fresh network for `dataset` as the flags describe it, checked against the
/// host's memory, with initial parameters drawn from the seed: what `train` and
/// `bench` start from. Returns the seeded RNG after those draws (it shuffles next).
pub(crate) fn fresh_setup(
    net: &NetworkArgs,
    opt: Optimizer,
    device: &DeviceArgs,
    dataset: &Dataset,
) -> Result<(TrainSetup, Rng), Error> {
    let arch = net.architecture(dataset.width(), dataset.classes)?;
    let batch_size = net.batch_size();
    check_memory(device, &arch, &opt, batch_size.min(dataset.train.len()))?;
    let mut rng = Rng::new(net.seed());
    let params = arch.init_params(&mut rng);
    let setup = TrainSetup {
        arch,
        opt,
        params,
        batch_size,
        seed: net.seed(),
        input: InputTransform::fit(
            net.normalize
                .unwrap_or(Normalize::default_for(dataset.dtype())),
            &dataset.train,
        ),
    };
    Ok((setup, rng))
}

/// The GPU choices the environment makes: `GPU_MLP_MATMUL` (a matmul variant) and
/// `LP_NUM_THREADS` (lavapipe's worker threads, which decide the matmul tile).
pub(crate) fn gpu_options_from_env() -> Result<GpuOptions, Error> {
    let matmul = match std::env::var("GPU_MLP_MATMUL") {
        Ok(name) => Some(MatmulVariant::from_name(&name).ok_or_else(|| {
            Error::Usage(format!(
                "$GPU_MLP_MATMUL={name:?}: expected one of {}",
                MatmulVariant::names().join(", ")
            ))
        })?),
        Err(_) => None,
    };
    let workers = std::env::var("LP_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u32| n > 0);
    Ok(GpuOptions {
        matmul,
        workers,
        binding_budget: binding_budget_from_env()?,
    })
}

/// `GPU_MLP_BINDING_BUDGET`: plan with at most this many bytes per storage binding
/// (a number, optionally with K, M or G: powers of 1024), so that streaming can be
/// tried, and tested, with small data.
fn binding_budget_from_env() -> Result<Option<u64>, Error> {
    let text = std::env::var("GPU_MLP_BINDING_BUDGET").unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(None);
    }
    let (digits, shift) = match text.trim().char_indices().last() {
        Some((i, 'K' | 'k')) => (&text.trim()[..i], 10),
        Some((i, 'M' | 'm')) => (&text.trim()[..i], 20),
        Some((i, 'G' | 'g')) => (&text.trim()[..i], 30),
        _ => (text.trim(), 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n >= 1024)
        .map(Some)
        .ok_or_else(|| {
            Error::Usage(format!(
                "$GPU_MLP_BINDING_BUDGET={text:?}: expected a byte count of at least 1024 (suffix K, M or G allowed)"
            ))
        })
}

/// `GPU_MLP_CPU_KERNEL`: the CPU path's instruction set (default: the widest the
/// processor runs; see `cpu::kernel`).
pub(crate) fn cpu_kernel_from_env() -> Result<(), Error> {
    let Ok(name) = std::env::var("GPU_MLP_CPU_KERNEL") else {
        return Ok(());
    };
    let kernel =
        CpuKernel::parse(&name).map_err(|e| Error::Usage(format!("$GPU_MLP_CPU_KERNEL: {e}")))?;
    gpu_mlp::cpu::kernel::set_kernel(kernel)
        .map_err(|e| Error::Usage(format!("$GPU_MLP_CPU_KERNEL={name}: {e}")))
}

/// `GPU_MLP_THREADS`: how many threads the CPU path uses (default: every core).
pub(crate) fn cpu_threads_from_env() -> Result<(), Error> {
    let Some(value) = std::env::var_os("GPU_MLP_THREADS") else {
        return Ok(());
    };
    let n = value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "$GPU_MLP_THREADS={value:?}: expected a number of threads, 1 to {}",
                gpu_mlp::cpu::pool::MAX_THREADS
            ))
        })?;
    gpu_mlp::cpu::pool::set_threads(n).map_err(|e| Error::Usage(format!("$GPU_MLP_THREADS: {e}")))
}

/// The backend the device flags ask for, built to train `setup` on `dataset`.
pub(crate) fn make_backend(
    device: &DeviceArgs,
    dataset: &Arc<Dataset>,
    setup: TrainSetup,
) -> Result<Box<dyn Measured>, Error> {
    Ok(if device.cpu {
        Box::new(CpuBackend::new(Arc::clone(dataset), setup)?)
    } else {
        let ctx = GpuContext::new(device.backend, device.adapter.as_deref())?;
        let options = gpu_options_from_env()?;
        Box::new(GpuBackend::with_options(
            ctx,
            Arc::clone(dataset),
            setup,
            &options,
        )?)
    })
}

/// What one example is: "28×28", "3×32×32", "13 f32 features".
fn example_words(dataset: &Dataset) -> String {
    let dtype = match dataset.dtype() {
        data::Dtype::U8 => "",
        data::Dtype::F32 => " f32",
    };
    match (dataset.layout, dataset.channels) {
        (data::Layout::Table, _) => format!("{}{dtype} features", dataset.width()),
        (_, 1) => format!("{}×{}{dtype}", dataset.rows, dataset.cols),
        (_, c) => format!("{c}×{}×{}{dtype}", dataset.rows, dataset.cols),
    }
}

pub(crate) fn describe_run(
    dataset: &Dataset,
    arch: &Architecture,
    opt: &Optimizer,
    batch: usize,
    backend: &str,
) -> String {
    // Three lines of at most ~80 columns (the data path aside).
    let val = match &dataset.val {
        Some(v) => format!(", {} val", v.len()),
        None => String::new(),
    };
    let dropout = match arch.dropout {
        p if p > 0.0 => format!(", dropout {p}"),
        _ => String::new(),
    };
    format!(
        "data {}: {} train{val}, {} test, {}, {} classes\n\
         network {} {} {}, {} params{dropout}; {} lr {} batch {}\n\
         backend {backend}",
        dataset.dir.display(),
        dataset.train.len(),
        dataset.test.len(),
        example_words(dataset),
        dataset.classes,
        arch.shape_string(),
        arch.activation.name(),
        arch.loss.name(),
        arch.param_count(),
        opt.kind.name(),
        opt.lr,
        batch,
    )
}

/// `gpu-mlp completions SHELL`: the completion script on stdout, e.g.
/// `gpu-mlp completions bash > ~/.local/share/bash-completion/completions/gpu-mlp`.
pub(crate) fn print_completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gpu-mlp", &mut script);
    say_part!("{}", String::from_utf8_lossy(&script));
}

pub(crate) fn class_label(names: &Option<Vec<String>>, c: usize) -> String {
    match names {
        Some(n) => format!("{c} {}", printable(&n[c])),
        None => c.to_string(),
    }
}

/// Text from a file, safe to print: control characters (a terminal's escape
/// sequences among them) are shown escaped, not sent to the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|ch| match ch.is_control() {
            true => ch.escape_default().to_string(),
            false => ch.to_string(),
        })
        .collect()
}

pub(crate) fn list_devices(backend: BackendChoice) {
    let adapters = list_adapters(backend);
    if adapters.is_empty() {
        say!(
            "no GPU adapters found for --backend {} (install a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers`, or use --cpu)",
            backend.name()
        );
    }
    for (i, info) in adapters.iter().enumerate() {
        say!("{i}: {}", describe_adapter(info));
    }
}

/// An error as the command line words it: a library setting by its flag.
pub(crate) fn describe_error(e: &Error) -> String {
    match e {
        Error::Setting { setting, problem } => format!("{} {problem}", flag_for(setting)),
        e => e.to_string(),
    }
}

/// The flag that sets a library setting.
fn flag_for(setting: &str) -> String {
    match setting {
        "step_every" => "--lr-step-every".into(),
        "gamma" => "--lr-gamma".into(),
        "min_lr" => "--lr-min".into(),
        "span" => "--lr-span".into(),
        s => format!("--{}", s.replace('_', "-")),
    }
}
