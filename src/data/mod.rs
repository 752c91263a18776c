//! Data sets: examples of u8 or f32 features with class or value targets, read from IDX
//! directories, CIFAR binary directories, NumPy `.npz` archives or CSV tables
//! (`load` tells them apart), every header treated as untrusted.

mod arrange;
pub mod cifar;
pub mod class_names;
pub mod idx;
mod load;
pub mod normalize;
pub mod npz;
mod split;
pub mod table;

use std::path::PathBuf;

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::task::Task;

pub use arrange::{arrangement_error, Arrangement};
pub(crate) use load::Loaded;
pub use load::{
    apply_limits, detect, is_data_dir, is_table, label_outside, load, load_dir, DataSource, Format,
    LoadOptions,
};
pub use split::{Dtype, Features, Row, Split, Targets};

/// How an example's features are arranged: what `predict` can turn a file into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// An image, one channel plane after another (IDX, CIFAR binary: C×H×W).
    Planes,
    /// An image, the channels of each pixel together (Keras `.npz`: H×W×C).
    Interleaved,
    /// A row of a table (CSV): no image.
    Table,
}

impl Choice for Layout {
    const ALL: &'static [Self] = &[Layout::Planes, Layout::Interleaved, Layout::Table];
    const WHAT: &'static str = "input layout";
    fn name(self) -> &'static str {
        match self {
            Layout::Planes => "planes",
            Layout::Interleaved => "interleaved",
            Layout::Table => "table",
        }
    }
}

/// A data set: training, test and optional validation splits of equal-sized examples.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it was read from (or the name given to `Dataset::from_memory`).
    pub dir: PathBuf,
    /// The examples trained on.
    pub train: Split,
    /// The examples reported as test figures.
    pub test: Split,
    /// Held-out examples for model selection (`--val-split`, `--val-data`).
    pub val: Option<Split>,
    /// Image height (1 for a table).
    pub rows: usize,
    /// Image width (the feature count for a table).
    pub cols: usize,
    /// Colour channels (1 gray, 3 RGB; 1 for a table).
    pub channels: usize,
    /// How the features of an example are arranged.
    pub layout: Layout,
    /// What the targets are: class indices (classify, binary) or values
    /// (multilabel, regress).
    pub task: Task,
    /// Classes (classify; 2 for binary), labels (multilabel) or target values per
    /// example (regress); every class index is below it.
    pub classes: usize,
    /// The classes' names (classify, binary), the labels' (multilabel) or the
    /// target columns' (regress), where the data names them (or the caller did).
    pub class_names: Option<Vec<String>>,
    /// How it was read from files (None for one's own arrays).
    pub source: Option<DataSource>,
}

impl Dataset {
    /// A data set held in memory (one's own, not files): examples of `rows`×`cols`
    /// features (a gray image; `(1, n)` for a table row), u8 or f32, labels below
    /// `classes` (or, for `Targets::Values`, `classes` values each: a regression;
    /// `with_task` makes it another task), checked as the file readers check
    /// files. `name` stands where a directory would in messages and metrics.
    ///
    /// ```
    /// use gpu_mlp::{Dataset, Device, Split, Trainer};
    ///
    /// // 2×2 images: class 0 is bright on the left, class 1 on the right.
    /// let images = [[255, 0, 255, 0], [0, 255, 0, 255]].repeat(50).concat();
    /// let labels: Vec<u32> = [0, 1].repeat(50);
    /// let train = Split::new(images.clone(), labels.clone(), 4)?;
    /// let test = Split::new(images, labels, 4)?;
    /// let data = Dataset::from_memory("sides", train, test, (2, 2), 2)?;
    ///
    /// let model = Trainer::new(&[4]).epochs(20).device(Device::Cpu).fit(data)?;
    /// assert_eq!(model.predict(&[0, 255, 0, 255])?, 1);
    /// # Ok::<(), gpu_mlp::Error>(())
    /// ```
    pub fn from_memory(
        name: &str,
        train: Split,
        test: Split,
        (rows, cols): (usize, usize),
        classes: usize,
    ) -> Result<Dataset> {
        let layout = if rows == 1 && train.features.dtype() == Dtype::F32 {
            Layout::Table
        } else {
            Layout::Planes
        };
        let task = match train.targets {
            Targets::Classes(_) => Task::Classify,
            Targets::Values { .. } => Task::Regress,
        };
        let ds = Dataset {
            task,
            dir: PathBuf::from(name),
            train,
            test,
            val: None,
            rows,
            cols,
            channels: 1,
            layout,
            classes,
            class_names: None,
            source: None,
        };
        ds.check().map_err(|e| match e {
            Error::Data { problem, .. } => Error::Usage(problem),
            e => e,
        })?;
        Ok(ds)
    }

    /// Features per example.
    pub fn width(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// The features' element type.
    pub fn dtype(&self) -> Dtype {
        self.train.features.dtype()
    }

    /// The split of that kind; the test split stands in for a validation split
    /// the data set does not have (callers check `val` first where it matters).
    pub fn split(&self, kind: SplitKind) -> &Split {
        match self.present(kind) {
            SplitKind::Train => &self.train,
            SplitKind::Val => self.val.as_ref().unwrap_or(&self.test),
            SplitKind::Test => &self.test,
        }
    }

    /// The split that stands for `kind`: itself, except that a data set without a
    /// validation split is validated on its test split. The one place that rule
    /// lives; a backend's device splits follow it too.
    pub fn present(&self, kind: SplitKind) -> SplitKind {
        match (kind, &self.val) {
            (SplitKind::Val, None) => SplitKind::Test,
            _ => kind,
        }
    }

    /// Every split with its name, for checks and sizes.
    pub fn splits(&self) -> impl Iterator<Item = (&'static str, &Split)> {
        [
            ("training", Some(&self.train)),
            ("test", Some(&self.test)),
            ("validation", self.val.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, s)| Some((name, s?)))
    }

    /// Every split there is, to change in place (training, test, validation).
    pub(crate) fn splits_mut(&mut self) -> impl Iterator<Item = &mut Split> {
        [
            Some(&mut self.train),
            Some(&mut self.test),
            self.val.as_mut(),
        ]
        .into_iter()
        .flatten()
    }

    /// Checks what every reader guarantees: splits of the same width and element
    /// type, targets of the task (class indices below `classes`; `classes` values
    /// each, 0 or 1 for multilabel), class names (if any) one per class.
    pub fn check(&self) -> Result<()> {
        let min = if self.task.has_classes() { 2 } else { 1 };
        if !(min..=MAX_CLASSES).contains(&self.classes) {
            return Err(Error::data(
                &self.dir,
                format!(
                    "{} {}; between {min} and {MAX_CLASSES} are supported",
                    self.classes,
                    self.target_word()
                ),
            ));
        }
        if self.task == Task::Binary && self.classes != 2 {
            return Err(Error::data(
                &self.dir,
                format!(
                    "{} classes; a binary task has 2 (use --task classify)",
                    self.classes
                ),
            ));
        }
        if let Some(names) = &self.class_names {
            check_class_names(names).map_err(|p| Error::data(&self.dir, p))?;
        }
        for (what, split) in self.splits() {
            self.check_split(what, split)?;
        }
        if let Some(names) = &self.class_names {
            if names.len() != self.classes {
                return Err(Error::data(
                    &self.dir,
                    format!(
                        "{} names for {} {}",
                        names.len(),
                        self.classes,
                        self.target_word()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What `classes` counts, in messages.
    fn target_word(&self) -> &'static str {
        match self.task {
            Task::Classify | Task::Binary => "classes",
            Task::Multilabel => "labels",
            Task::Regress => "target values",
        }
    }

    fn check_split(&self, what: &str, split: &Split) -> Result<()> {
        let bad = |problem: String| Err(Error::data(&self.dir, format!("{what} {problem}")));
        if split.width != self.width() {
            return bad(format!(
                "examples have {} features; {}×{}×{} examples have {}",
                split.width,
                self.channels,
                self.rows,
                self.cols,
                self.width()
            ));
        }
        if split.features.dtype() != self.dtype() {
            return bad(format!(
                "features are {}, training features {}",
                split.features.dtype().name(),
                self.dtype().name()
            ));
        }
        match (&split.targets, self.task.has_classes()) {
            (Targets::Classes(labels), true) => {
                if let Some(problem) = label_outside(labels, self.classes) {
                    return bad(problem);
                }
            }
            (Targets::Values { values, width }, false) => {
                if *width != self.classes {
                    return bad(format!(
                        "examples have {width} target values, not {}",
                        self.classes
                    ));
                }
                if self.task == Task::Multilabel {
                    if let Some(i) = values.iter().position(|&v| v != 0.0 && v != 1.0) {
                        return bad(format!(
                            "label {} of example {} is {}; multilabel targets are 0 or 1",
                            i % width,
                            i / width,
                            values[i]
                        ));
                    }
                }
            }
            (Targets::Classes(_), false) => {
                return bad(format!(
                    "targets are class indices; the {} task takes values",
                    self.task.name()
                ))
            }
            (Targets::Values { .. }, true) => {
                return bad(format!(
                    "targets are values; the {} task takes class indices",
                    self.task.name()
                ))
            }
        }
        Ok(())
    }

    /// The same data for another task: a 2-class one as `binary`, values of 0 and
    /// 1 as `multilabel`, class indices back as `classify`; anything else is an
    /// error naming what the targets are.
    pub fn with_task(mut self, task: Task) -> Result<Dataset> {
        let values = !self.task.has_classes();
        let fits = match task {
            Task::Classify | Task::Binary => !values,
            Task::Multilabel | Task::Regress => values,
        };
        if !fits {
            return Err(Error::data(
                &self.dir,
                format!(
                    "its targets are {}; the {} task takes {}",
                    match values {
                        true => "values",
                        false => "class indices",
                    },
                    task.name(),
                    match task.has_classes() {
                        true => "class indices (one string or integer target column)",
                        false => "values (number target columns)",
                    }
                ),
            ));
        }
        self.task = task;
        self.check()?;
        Ok(self)
    }

    /// A table's features in the order of `names` (a model's columns), matched by
    /// the header's names: a table with its columns in another order is read as
    /// the model's; a missing or extra column is an error naming it. Data that
    /// does not name its features (images, arrays) is left as it is.
    pub fn order_features(&mut self, names: &[String]) -> Result<()> {
        let Some(have) = self.source.as_ref().and_then(|s| s.feature_names.clone()) else {
            return Ok(());
        };
        if have == names {
            return Ok(());
        }
        let at = table::feature_order(
            &have,
            names,
            std::path::Path::new("the model's training table"),
        )
        .map_err(|p| Error::data(&self.dir, p))?;
        for split in self.splits_mut() {
            if let Features::F32(values) = &mut split.features {
                *values = table::reordered(values, split.width, &at);
            }
        }
        if let Some(source) = self.source.as_mut() {
            source.feature_names = Some(names.to_vec());
        }
        Ok(())
    }

    /// Weighs each training example by its class (`ClassWeight`), times the
    /// weight it has; classify and binary only.
    pub fn weigh_classes(&mut self, weights: &crate::task::ClassWeight) -> Result<()> {
        let Some(labels) = self.train.targets.classes() else {
            return Err(Error::setting(
                "class_weight",
                format!(
                    "weighs classes; a {} task has none (use a weight column)",
                    self.task.name()
                ),
            ));
        };
        let per_class = weights.per_class(labels, self.classes)?;
        let own = self.train.weights.take();
        let w: Vec<f32> = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| per_class[l as usize] * own.as_ref().map_or(1.0, |o| o[i]))
            .collect();
        self.train = std::mem::replace(&mut self.train, Split::placeholder()).with_weights(w)?;
        Ok(())
    }

    /// The network's output width for this data (1 for a binary task).
    pub fn outputs(&self) -> usize {
        self.task.outputs(self.classes)
    }

    /// Holds out ⌈fraction·N⌉ training examples as the validation split: the
    /// training split is shuffled once with a stream of its own seeded by `seed`
    /// (so the split never depends on how training shuffles), and its last
    /// examples become the validation set. Not stratified: a class's share of the
    /// validation set varies by chance, as with PyTorch's `random_split`.
    pub fn hold_out_validation(&mut self, fraction: f64, seed: u64) -> Result<()> {
        let (train, val) = self
            .train
            .hold_out(fraction, seed ^ VALIDATION_STREAM, "val_split")?;
        self.train = train;
        self.val = Some(val);
        Ok(())
    }
}

/// Class names are one line each (a checkpoint stores them a line per name) and
/// not empty: a name that breaks that could never be read back.
pub fn check_class_names(names: &[String]) -> std::result::Result<(), String> {
    match names
        .iter()
        .find(|n| n.is_empty() || n.contains(['\n', '\r']))
    {
        Some(bad) => Err(format!(
            "class name \"{}\" is empty or holds a line break; a class name is one line of text",
            bad.escape_debug()
        )),
        None => Ok(()),
    }
}

/// The most classes (labels, target values) a data set may have. Labels are u32
/// on both paths; the bound keeps the softmax head (one invocation per example,
/// three passes over its classes) and a class-name list within reason.
pub const MAX_CLASSES: usize = 1 << 16;

/// Mixed into the seed of the validation shuffle, so that it differs from the
/// stream that initialises and shuffles training.
const VALIDATION_STREAM: u64 = 0x7661_6c69_6461_7465;

/// Which split of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    /// The training split.
    Train,
    /// The test split.
    Test,
    /// The validation split (the test split where there is none).
    Val,
}
