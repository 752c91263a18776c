//! The flags the subcommands share: where the math runs (`DeviceArgs`), which data
//! (`DataArgs`), and how a library `Choice` becomes a flag (`choice`).

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::Args;

use super::env::gpu_options_from_env;
use super::paths;
use gpu_mlp::backend::TrainSetup;
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data::{self, Dataset, Format, LoadOptions};
use gpu_mlp::gpu::context::software_only;
use gpu_mlp::gpu::BackendChoice;
use gpu_mlp::network::Architecture;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::profile::Measured;
use gpu_mlp::task::Task;
use gpu_mlp::{Device, Error};

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
    /// The library's device for these flags (resolved first: `--backend auto` with
    /// only a software adapter has become `--cpu`).
    pub(crate) fn device(&self) -> Device {
        match self.cpu {
            true => Device::Cpu,
            false => Device::Gpu(self.backend, self.adapter.clone()),
        }
    }

    /// The device to run on: as the flags say, except that `--backend auto` on a
    /// machine whose only adapters are software ones (lavapipe: a CPU posing as a
    /// GPU, several times slower than the CPU path) trains on the CPU path instead,
    /// saying so in one line. `--backend vulkan` still forces the software adapter.
    pub(crate) fn resolved(&self, quiet: bool) -> DeviceArgs {
        if self.cpu || self.backend != BackendChoice::Auto || self.adapter.is_some() {
            return self.clone();
        }
        let Some(adapters) = software_only() else {
            return self.clone();
        };
        let note = match adapters.first() {
            Some(a) => format!(
                "{} is a software adapter, slower than the CPU path, which runs instead \
                 (--backend vulkan uses the adapter anyway)",
                a.name
            ),
            None => "no GPU adapter here: running on the CPU path".to_string(),
        };
        if !quiet {
            tell!("{}", super::out::wrapped("note: ", &note, 80));
        }
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
    /// CSV: the target column(s), comma-separated [default: label, target or
    /// class, else the last].
    #[arg(long, visible_alias = "target", value_name = "NAME[,NAME…]")]
    pub(crate) label_column: Option<String>,
    /// CSV: a column of per-example weights: an example's loss counts that many
    /// times in training (not in evaluation).
    #[arg(long, value_name = "NAME")]
    pub(crate) weight_column: Option<String>,
    /// What the targets are: classify (one class of many), binary (one logit),
    /// multilabel (several 0/1 columns), regress (values) [default: from the
    /// data: several target columns, or numbers not all integers, regress;
    /// otherwise classify; or the model's].
    #[arg(long, value_parser = choice::<Task>())]
    pub(crate) task: Option<Task>,
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
    let classes = model.map_or(classes, |m| Some(m.settings.arch.classes()));
    // Without --data, a model reads the data it was trained on, as it was read.
    let source = model.and_then(|m| m.settings.source.as_ref());
    let (path, mut options) = match (&args.data, source) {
        (None, Some(source)) => {
            let mut options = source.options(seed);
            args.override_options(&mut options, classes)?;
            log::info!(
                "reading {} as the model was trained on it",
                source.path.display()
            );
            (source.path.clone(), options)
        }
        _ => (
            paths::resolve_data_dir(args.data.as_deref())?,
            args.load_options(classes, seed)?,
        ),
    };
    match (
        &options.class_names,
        model.and_then(|m| m.settings.class_names.as_ref()),
    ) {
        (None, Some(theirs)) => options.class_names = Some(theirs.clone()),
        // The names decide which label is which class: other names than the
        // model's would swap its classes without a word.
        (Some(given), Some(theirs)) if given != theirs => {
            return Err(Error::Usage(format!(
                "--class-names {} conflicts with the model's classes {}: the names decide which \
                 label is which class (leave --class-names out)",
                quoted(given),
                quoted(theirs)
            )))
        }
        _ => {}
    }
    // A model reads data as its own task.
    options.task = options.task.or(model.map(|m| m.settings.arch.task()));
    let mut dataset = data::load(&path, &options).map_err(|e| match e {
        Error::Setting {
            setting: "test_data",
            ..
        } => Error::Usage(format!(
            "{} is a single table: give a test table (--test-data FILE) or hold out a \
             fraction of its rows (--test-split 0.2)",
            path.display()
        )),
        e => match model.and_then(|m| real_mismatch(&path, &options, m)) {
            Some(real) => real,
            None => e,
        },
    })?;
    if let Some(m) = model {
        order_as_model(&mut dataset, m)?;
    }
    data::apply_limits(&mut dataset, args.train_limit, args.test_limit)?;
    Ok(dataset)
}

/// Names as a list of quoted, escaped strings, for messages.
fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    names.join(",")
}

/// Data read for a model takes its inputs as the model does: a table's columns
/// by the model's names (the order of the table it was trained on), not by
/// position; colour images in the model's layout (channel planes or interleaved).
pub(crate) fn order_as_model(dataset: &mut Dataset, model: &Checkpoint) -> Result<(), Error> {
    dataset.arrange_as(model.settings.arrangement());
    match model
        .settings
        .source
        .as_ref()
        .and_then(|s| s.feature_names.as_deref())
    {
        Some(names) => dataset.order_features(names),
        None => Ok(()),
    }
}

/// When data fails to load for a model (its labels do not fit the model's classes,
/// say), the mismatch that explains it, where there is one: the data read on its
/// own terms does not have the model's features ("this model takes 4 f32
/// features"), which is what a user needs to hear first.
pub(crate) fn real_mismatch(
    path: &Path,
    options: &LoadOptions,
    model: &Checkpoint,
) -> Option<Error> {
    let own_terms = LoadOptions {
        classes: None,
        class_names: None,
        ..options.clone()
    };
    let data = data::load(path, &own_terms).ok()?;
    gpu_mlp::eval::check_data_fits(model, Path::new("the model"), &data).err()
}

impl DataArgs {
    /// `options` (a model's data source) with the flags given here in place of
    /// what they name, and the model's `classes`.
    fn override_options(
        &self,
        options: &mut LoadOptions,
        classes: Option<usize>,
    ) -> Result<(), Error> {
        let given = self.load_options(classes, options.seed)?;
        options.format = given.format.or(options.format);
        if given.test_data.is_some() || given.test_split.is_some() {
            (options.test_data, options.test_split) = (given.test_data, given.test_split);
        }
        options.label_column = given.label_column.or(options.label_column.take());
        options.weight_column = given.weight_column.or(options.weight_column.take());
        options.task = given.task.or(options.task);
        options.coarse_labels |= given.coarse_labels;
        options.classes = classes;
        options.class_names = given.class_names;
        Ok(())
    }

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
            weight_column: self.weight_column.clone(),
            task: self.task,
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
    data::check_class_names(&names).map_err(|p| Error::Usage(format!("--class-names: {p}")))?;
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

/// The backend the device flags ask for, built to train `setup` on `dataset`, with
/// the environment's GPU options.
pub(crate) fn make_backend(
    device: &DeviceArgs,
    dataset: &Arc<Dataset>,
    setup: TrainSetup,
) -> Result<Box<dyn Measured>, Error> {
    let options = gpu_options_from_env()?;
    pollster::block_on(device.device().open_measured(dataset, setup, &options))
}
