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

pub(crate) mod args;
pub(crate) mod bench;
pub(crate) mod download;
pub(crate) mod env;
pub(crate) mod eval;
pub(crate) mod export;
pub(crate) mod network;
pub(crate) mod observer;
pub(crate) mod out;
pub(crate) mod outputs;
pub(crate) mod paths;
pub(crate) mod predictions_csv;
pub(crate) mod signals;
pub(crate) mod train;

use clap::{Parser, Subcommand};

pub(crate) use args::{choice, load_data, make_backend, DataArgs, DeviceArgs};
pub(crate) use env::{
    cpu_kernel_from_env, cpu_threads_from_env, gpu_options_from_env, host_memory_from_env,
};
use gpu_mlp::choice::Choice;
use gpu_mlp::data::{self, Dataset};
use gpu_mlp::gpu::context::describe_adapter;
use gpu_mlp::gpu::{list_adapters, BackendChoice};
use gpu_mlp::network::Architecture;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::Error;
pub(crate) use network::NetworkArgs;

#[derive(Parser)]
#[command(
    name = "gpu-mlp",
    version,
    about = "Train multi-layer perceptrons on images (IDX, CIFAR, .npz) and CSV tables, on any GPU (wgpu/WGSL) or the CPU"
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
    /// Classify PNG images of the model's size, CSV rows (--csv) or a test example (--index) with a saved network.
    Predict(eval::PredictArgs),
    /// Write a saved network as an ONNX model (onnxruntime, TensorRT, onnxruntime-web).
    Export(export::ExportArgs),
    /// Fetch mnist, fashion-mnist, kmnist, cifar10 or cifar100 (checksums verified) into the cache.
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
        "data {}: {} train{val}, {} test, {}, {}\n\
         network {} {} {}, {} params{dropout}; {} lr {} batch {}\n\
         backend {backend}",
        dataset.dir.display(),
        dataset.train.len(),
        dataset.test.len(),
        example_words(dataset),
        target_words(dataset),
        arch.shape_string(),
        arch.activation.name(),
        arch.loss().name(),
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

/// What the targets are, for the run's header: "10 classes", "binary",
/// "3 labels", "2 targets to regress".
fn target_words(dataset: &Dataset) -> String {
    use gpu_mlp::task::Task;
    let n = dataset.classes;
    match dataset.task {
        Task::Classify => format!("{n} classes"),
        Task::Binary => "binary (2 classes)".into(),
        Task::Multilabel => format!("{n} labels (multilabel)"),
        Task::Regress if n == 1 => "1 target to regress".into(),
        Task::Regress => format!("{n} targets to regress"),
    }
}
