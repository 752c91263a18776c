//! Reading a data set from files: which format a path holds, the options of
//! `--data` and friends, and the one entry point `load` that every format goes
//! through (classes, names and splits settled the same way for all).

use std::path::{Path, PathBuf};

use super::{cifar, class_names, idx, npz, table, Dataset, Layout, Split};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::task::Task;

/// Mixed into the seed of `--test-split`'s shuffle, which must differ from both
/// the validation and the training streams.
const TEST_STREAM: u64 = 0x7465_7374_5f73_706c;

/// The file formats `load` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A directory of MNIST-style IDX files.
    Idx,
    /// A directory of CIFAR-10 or CIFAR-100 binary batches.
    Cifar,
    /// A NumPy `.npz` archive with Keras's keys.
    Npz,
    /// A CSV table with a header row.
    Csv,
}

impl Choice for Format {
    const ALL: &'static [Self] = &[Format::Idx, Format::Cifar, Format::Npz, Format::Csv];
    const WHAT: &'static str = "data format";
    fn name(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Cifar => "cifar",
            Format::Npz => "npz",
            Format::Csv => "csv",
        }
    }
}

/// How `load` reads a data set; the defaults read any format with its own classes.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The format; None detects it from what the path is.
    pub format: Option<Format>,
    /// A separate test file (CSV).
    pub test_data: Option<PathBuf>,
    /// Hold out this fraction of a CSV's rows as the test split (seeded by `seed`).
    pub test_split: Option<f64>,
    /// The seed of `test_split`'s shuffle.
    pub seed: u64,
    /// The CSV column(s) holding the targets, comma-separated (default: `label`,
    /// `target` or `class`, else the last column).
    pub label_column: Option<String>,
    /// The CSV column holding each example's weight (training split only).
    pub weight_column: Option<String>,
    /// The task; None takes it from the targets (a CSV column of numbers that are
    /// not all written as integers, or several columns: regress; else classify).
    pub task: Option<Task>,
    /// CIFAR-100: train on the 20 coarse labels instead of the 100 fine ones.
    pub coarse_labels: bool,
    /// The class count; None takes it from the data (its class names, else the
    /// largest label + 1).
    pub classes: Option<usize>,
    /// Class names, overriding what the data says.
    pub class_names: Option<Vec<String>>,
}

/// How a data set was read from files: what a checkpoint records so that `eval`,
/// `predict` and `--resume` read the same data when no `--data` is given.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSource {
    /// The data's path, absolute.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// A CSV's target column(s), where named.
    pub label_column: Option<String>,
    /// A CSV's weight column, where named.
    pub weight_column: Option<String>,
    /// A CSV's separate test table, absolute.
    pub test_data: Option<PathBuf>,
    /// The fraction of a CSV's rows held out as its test split.
    pub test_split: Option<f64>,
    /// CIFAR-100's coarse labels.
    pub coarse_labels: bool,
    /// A CSV's feature columns by name, in the network's input order: another
    /// table is read by these names, whatever its column order.
    pub feature_names: Option<Vec<String>>,
}

impl DataSource {
    /// The reading options that read this source again (with `seed`, which picks
    /// a test split's rows).
    pub fn options(&self, seed: u64) -> LoadOptions {
        LoadOptions {
            format: Some(self.format),
            test_data: self.test_data.clone(),
            test_split: self.test_split,
            seed,
            label_column: self.label_column.clone(),
            weight_column: self.weight_column.clone(),
            coarse_labels: self.coarse_labels,
            classes: None,
            class_names: None,
            task: None,
        }
    }
}

/// Reads the data set at `path` in any supported format (see `Format`), validated.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    let format = match options.format {
        Some(f) => f,
        None => detect(path)?,
    };
    if format != Format::Csv {
        for (flag, given) in [
            ("test_data", options.test_data.is_some()),
            ("test_split", options.test_split.is_some()),
            ("label_column", options.label_column.is_some()),
            ("weight_column", options.weight_column.is_some()),
        ] {
            if given {
                return Err(Error::setting(
                    flag,
                    format!(
                        "applies to CSV tables; {} is {} data with a test split of its own",
                        path.display(),
                        format.name()
                    ),
                ));
            }
        }
    }
    if options.coarse_labels && format != Format::Cifar {
        return Err(Error::setting(
            "label",
            "coarse labels exist in CIFAR-100 only",
        ));
    }
    let loaded = match format {
        Format::Idx => idx::load_dir(path)?,
        Format::Cifar => cifar::load_dir(path, options.coarse_labels)?,
        Format::Npz => npz::load(path, options.task)?,
        Format::Csv => table::load(path, options)?,
    };
    let feature_names = loaded.feature_names.clone();
    let mut ds = loaded.into_dataset(path, options)?;
    if let (Some(fraction), Format::Csv) = (options.test_split, format) {
        let (train, test) =
            ds.train
                .hold_out(fraction, options.seed ^ TEST_STREAM, "test_split")?;
        ds.train = train;
        ds.test = test;
    }
    ds.check()?;
    if let Some(task) = options.task.filter(|&t| t != ds.task) {
        ds = ds.with_task(task)?;
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    ds.source = Some(DataSource {
        path: absolute(path),
        format,
        label_column: options.label_column.clone(),
        weight_column: options.weight_column.clone(),
        test_data: options.test_data.as_deref().map(absolute),
        test_split: options.test_split,
        coarse_labels: options.coarse_labels,
        feature_names,
    });
    Ok(ds)
}

/// What a reader found, before classes and names are settled.
pub(crate) struct Loaded {
    pub train: Split,
    pub test: Split,
    /// (channels, rows, cols).
    pub shape: (usize, usize, usize),
    pub layout: Layout,
    /// What the targets are (class indices: classify; values: regress, or
    /// multilabel where asked).
    pub task: Task,
    /// The classes the format itself knows (CIFAR-10's 10), or the values per
    /// example, if it does.
    pub classes: Option<usize>,
    pub class_names: Option<Vec<String>>,
    /// Where the training and the test labels were read from, for messages.
    pub label_files: [PathBuf; 2],
    /// A table's feature columns by name.
    pub feature_names: Option<Vec<String>>,
}

impl Loaded {
    pub(crate) fn into_dataset(self, path: &Path, options: &LoadOptions) -> Result<Dataset> {
        if !self.task.has_classes() {
            return self.values_dataset(path);
        }
        let names = options.class_names.clone().or(self.class_names.clone());
        let largest = self
            .train
            .labels()
            .iter()
            .chain(self.test.labels())
            .copied()
            .max()
            .unwrap_or(0) as usize;
        // Names given for data read on its own terms (no model) must cover every
        // class its labels show; more names than that make classes the network
        // never sees, which is allowed (a subset), but said.
        if let (Some(given), None) = (&options.class_names, options.classes) {
            let seen = self.classes.unwrap_or(largest + 1);
            if given.len() < seen {
                return Err(Error::setting(
                    "class_names",
                    format!(
                        "{} names for the {seen} classes of {} (labels 0 to {}): give one name \
                         per class",
                        given.len(),
                        path.display(),
                        seen - 1
                    ),
                ));
            }
            if given.len() > seen {
                log::warn!(
                    "{} class names for the {seen} classes the labels of {} show: the network \
                     gets {} outputs, and classes {seen} to {} never appear in the data",
                    given.len(),
                    path.display(),
                    given.len(),
                    given.len() - 1
                );
            }
        }
        let classes = options
            .classes
            .or(names.as_ref().map(Vec::len))
            .or(self.classes)
            .unwrap_or((largest + 1).max(2));
        for (split, file) in [
            (&self.train, &self.label_files[0]),
            (&self.test, &self.label_files[1]),
        ] {
            if let Some(problem) = label_outside(split.labels(), classes) {
                return Err(Error::data(file, problem));
            }
        }
        let (channels, rows, cols) = self.shape;
        let names = names.or_else(|| class_names::class_names_for(path, classes));
        if let (Some(n), Some(_)) = (&names, &options.class_names) {
            if n.len() != classes {
                return Err(Error::setting(
                    "class_names",
                    format!(
                        "{} names for the {classes} classes of {}",
                        n.len(),
                        path.display()
                    ),
                ));
            }
        }
        Ok(Dataset {
            dir: path.to_path_buf(),
            train: self.train,
            test: self.test,
            val: None,
            rows,
            cols,
            channels,
            layout: self.layout,
            task: self.task,
            classes,
            class_names: names,
            source: None,
        })
    }

    /// A data set of value targets: as many per example as the reader found,
    /// named by its columns.
    fn values_dataset(self, path: &Path) -> Result<Dataset> {
        let (channels, rows, cols) = self.shape;
        Ok(Dataset {
            dir: path.to_path_buf(),
            classes: self.train.targets.width(),
            train: self.train,
            test: self.test,
            val: None,
            rows,
            cols,
            channels,
            layout: self.layout,
            task: self.task,
            class_names: self.class_names,
            source: None,
        })
    }
}

/// Reads a directory of MNIST-format IDX files whose labels are below `classes`.
pub fn load_dir(dir: &Path, classes: usize) -> Result<Dataset> {
    let options = LoadOptions {
        format: Some(Format::Idx),
        classes: Some(classes),
        ..Default::default()
    };
    load(dir, &options)
}

/// True when `dir` is a directory of IDX files or CIFAR batches.
pub fn is_data_dir(dir: &Path) -> bool {
    idx::is_data_dir(dir) || cifar::is_data_dir(dir)
}

/// Whether `path` is a file holding a CSV table (a name of a downloaded set, a
/// directory or an archive is not).
pub fn is_table(path: &Path) -> Result<bool> {
    Ok(path.is_file() && detect(path)? == Format::Csv)
}

/// Which format `path` holds: a directory of IDX or CIFAR files, a zip archive
/// (`.npz`), else a text table.
pub fn detect(path: &Path) -> Result<Format> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        if idx::is_data_dir(path) {
            return Ok(Format::Idx);
        }
        if cifar::is_data_dir(path) {
            return Ok(Format::Cifar);
        }
        return Err(Error::data(
            path,
            format!(
                "holds neither IDX files ({}) nor CIFAR batches (data_batch_1.bin…, train.bin)",
                idx::expected_names()
            ),
        ));
    }
    if npz::is_zip(path)? {
        return Ok(Format::Npz);
    }
    Ok(Format::Csv)
}

/// The first label not below `classes`, as a problem to report.
pub fn label_outside(labels: &[u32], classes: usize) -> Option<String> {
    let (i, l) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)?;
    Some(format!(
        "label {l} of example {i} is outside the class range 0..{classes}"
    ))
}

/// Keeps the first `train` / `test` examples of each split (`--train-limit`,
/// `--test-limit`).
pub fn apply_limits(ds: &mut Dataset, train: Option<usize>, test: Option<usize>) -> Result<()> {
    for (setting, limit, split) in [
        ("train_limit", train, &mut ds.train),
        ("test_limit", test, &mut ds.test),
    ] {
        if let Some(n) = limit {
            if n == 0 {
                return Err(Error::setting(setting, "0 must be at least 1"));
            }
            if n > split.len() {
                return Err(Error::setting(
                    setting,
                    format!(
                        "{n} is larger than the {} examples in the data",
                        split.len()
                    ),
                ));
            }
            split.truncate(n);
        }
    }
    Ok(())
}
