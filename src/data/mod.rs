//! Data sets: examples of u8 or f32 features with byte labels, read from IDX
//! directories, CIFAR binary directories, NumPy `.npz` archives or CSV tables
//! (`load` tells them apart), every header treated as untrusted.

pub mod cifar;
pub mod class_names;
pub mod idx;
pub mod normalize;
pub mod npz;
pub mod table;

use std::path::{Path, PathBuf};

use crate::choice::Choice;
use crate::error::{Error, Result};

/// The features of a split's examples, back to back, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// Bytes (pixels: 0 black, 255 white), kept as bytes on both paths.
    U8(Vec<u8>),
    /// Floats, every one finite.
    F32(Vec<f32>),
}

/// The element type of a data set's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// Bytes.
    U8,
    /// 32-bit floats.
    F32,
}

impl Choice for Dtype {
    const ALL: &'static [Self] = &[Dtype::U8, Dtype::F32];
    const WHAT: &'static str = "feature type";
    fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "u8",
            Dtype::F32 => "f32",
        }
    }
}

impl Features {
    /// Elements held (examples × features).
    pub fn len(&self) -> usize {
        match self {
            Features::U8(v) => v.len(),
            Features::F32(v) => v.len(),
        }
    }

    /// Whether no element is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory the elements take (on the host, and resident on a GPU).
    pub fn bytes(&self) -> u64 {
        (self.len() * self.dtype().size()) as u64
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Features::U8(_) => Dtype::U8,
            Features::F32(_) => Dtype::F32,
        }
    }

    /// The bytes, where the features are bytes.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match self {
            Features::U8(v) => Some(v),
            Features::F32(_) => None,
        }
    }

    /// The elements as the little-endian bytes a GPU buffer holds.
    pub fn raw_bytes(&self) -> &[u8] {
        match self {
            Features::U8(v) => v,
            Features::F32(v) => bytemuck::cast_slice(v),
        }
    }

    /// Examples `indices` (of `width` features each), in that order.
    pub fn select(&self, width: usize, indices: &[u32]) -> Features {
        fn pick<T: Copy>(v: &[T], width: usize, indices: &[u32]) -> Vec<T> {
            let mut out = Vec::with_capacity(indices.len() * width);
            for &i in indices {
                out.extend_from_slice(&v[i as usize * width..(i as usize + 1) * width]);
            }
            out
        }
        match self {
            Features::U8(v) => Features::U8(pick(v, width, indices)),
            Features::F32(v) => Features::F32(pick(v, width, indices)),
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Features::U8(v) => v.truncate(len),
            Features::F32(v) => v.truncate(len),
        }
    }
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }
}

/// One example's features.
#[derive(Clone, Copy, Debug)]
pub enum Row<'a> {
    /// Bytes.
    U8(&'a [u8]),
    /// Floats.
    F32(&'a [f32]),
}

/// One split (train, test or validation): `len` examples of `width` features each,
/// row-major, and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Every example's features, concatenated.
    pub features: Features,
    /// One label per example, below the data set's class count.
    pub labels: Vec<u8>,
    /// Features per example (pixels × channels for images).
    pub width: usize,
}

impl Split {
    /// A split of byte features (images: `width` pixels each, concatenated,
    /// row-major) and their labels, checked to agree in count.
    pub fn new(images: Vec<u8>, labels: Vec<u8>, width: usize) -> Result<Split> {
        Self::checked(Features::U8(images), labels, width)
    }

    /// A split of float features (`width` per example, concatenated), checked to
    /// agree in count with the labels and to be finite.
    pub fn from_f32(features: Vec<f32>, labels: Vec<u8>, width: usize) -> Result<Split> {
        if let Some(i) = features.iter().position(|x| !x.is_finite()) {
            return Err(Error::Usage(format!(
                "feature {} of example {} is {} (features must be finite)",
                i % width.max(1),
                i / width.max(1),
                features[i]
            )));
        }
        Self::checked(Features::F32(features), labels, width)
    }

    fn checked(features: Features, labels: Vec<u8>, width: usize) -> Result<Split> {
        if width == 0 || labels.is_empty() || features.len() != labels.len() * width {
            return Err(Error::Usage(format!(
                "a split of {} feature values and {} labels is not {} examples of {width} features",
                features.len(),
                labels.len(),
                labels.len()
            )));
        }
        Ok(Split {
            features,
            labels,
            width,
        })
    }

    /// Examples in the split.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of example `i`.
    pub fn row(&self, i: usize) -> Row<'_> {
        let range = i * self.width..(i + 1) * self.width;
        match &self.features {
            Features::U8(v) => Row::U8(&v[range]),
            Features::F32(v) => Row::F32(&v[range]),
        }
    }

    /// The bytes of example `i`, where the features are bytes.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        match self.row(i) {
            Row::U8(v) => Some(v),
            Row::F32(_) => None,
        }
    }

    /// Keeps the first `n` examples; `n` must not exceed `len()`.
    pub fn truncate(&mut self, n: usize) {
        self.features.truncate(n * self.width);
        self.labels.truncate(n);
    }

    /// Examples `indices`, in that order, as a split of their own.
    pub fn select(&self, indices: &[u32]) -> Split {
        Split {
            features: self.features.select(self.width, indices),
            labels: indices.iter().map(|&i| self.labels[i as usize]).collect(),
            width: self.width,
        }
    }

    /// Splits off ⌈fraction·N⌉ examples, chosen by a shuffle seeded with `seed`:
    /// returns (kept, held out), both in the shuffled order.
    fn hold_out(&self, fraction: f64, seed: u64, setting: &'static str) -> Result<(Split, Split)> {
        let n = self.len();
        let held = (fraction * n as f64).ceil() as usize;
        if !(fraction > 0.0 && fraction < 1.0) || held == 0 || held >= n {
            return Err(Error::setting(
                setting,
                format!(
                    "{fraction} must be above 0 and below 1, and leave examples on both sides of {n}"
                ),
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        crate::rng::Rng::new(seed).shuffle(&mut order);
        let (keep, hold) = order.split_at(n - held);
        Ok((self.select(keep), self.select(hold)))
    }
}

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
    /// Number of classes; every label is below it.
    pub classes: usize,
    /// The classes' names, where the data names them (or the caller did).
    pub class_names: Option<Vec<String>>,
}

impl Dataset {
    /// A data set held in memory (one's own, not files): examples of `rows`×`cols`
    /// features (a gray image; `(1, n)` for a table row), u8 or f32, labels below
    /// `classes`, checked as the file readers check files. `name` stands where a
    /// directory would in messages and metrics.
    ///
    /// ```
    /// use gpu_mlp::{Dataset, Device, Split, Trainer};
    ///
    /// // 2×2 images: class 0 is bright on the left, class 1 on the right.
    /// let images = [[255, 0, 255, 0], [0, 255, 0, 255]].repeat(50).concat();
    /// let labels = [0, 1].repeat(50);
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
        let ds = Dataset {
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
        match kind {
            SplitKind::Train => &self.train,
            SplitKind::Test => &self.test,
            SplitKind::Val => self.val.as_ref().unwrap_or(&self.test),
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

    /// Checks what every reader guarantees: splits of the same width and element
    /// type, labels below `classes`, class names (if any) one per class.
    pub fn check(&self) -> Result<()> {
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return Err(Error::data(
                &self.dir,
                format!(
                    "{} classes; between 2 and {MAX_CLASSES} are supported (labels are bytes)",
                    self.classes
                ),
            ));
        }
        for (what, split) in self.splits() {
            if split.width != self.width() {
                return Err(Error::data(
                    &self.dir,
                    format!(
                        "{what} examples have {} features; {}×{}×{} examples have {}",
                        split.width,
                        self.channels,
                        self.rows,
                        self.cols,
                        self.width()
                    ),
                ));
            }
            if split.features.dtype() != self.dtype() {
                return Err(Error::data(
                    &self.dir,
                    format!(
                        "{what} features are {}, training features {}",
                        split.features.dtype().name(),
                        self.dtype().name()
                    ),
                ));
            }
            if let Some(problem) = label_outside(&split.labels, self.classes) {
                return Err(Error::data(&self.dir, format!("{what} {problem}")));
            }
        }
        if let Some(names) = &self.class_names {
            if names.len() != self.classes {
                return Err(Error::data(
                    &self.dir,
                    format!("{} class names for {} classes", names.len(), self.classes),
                ));
            }
        }
        Ok(())
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

/// The most classes a data set may have: labels are bytes.
pub const MAX_CLASSES: usize = 256;

/// Mixed into the seed of the validation shuffle, so that it differs from the
/// stream that initialises and shuffles training.
const VALIDATION_STREAM: u64 = 0x7661_6c69_6461_7465;

/// Mixed into the seed of `--test-split`'s shuffle, which must differ from both
/// the validation and the training streams.
const TEST_STREAM: u64 = 0x7465_7374_5f73_706c;

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
    /// The CSV column holding the labels (default: `label`, `target` or `class`,
    /// else the last column).
    pub label_column: Option<String>,
    /// CIFAR-100: train on the 20 coarse labels instead of the 100 fine ones.
    pub coarse_labels: bool,
    /// The class count; None takes it from the data (its class names, else the
    /// largest label + 1).
    pub classes: Option<usize>,
    /// Class names, overriding what the data says.
    pub class_names: Option<Vec<String>>,
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
        Format::Npz => npz::load(path)?,
        Format::Csv => table::load(path, options)?,
    };
    let mut ds = loaded.into_dataset(path, options)?;
    if let (Some(fraction), Format::Csv) = (options.test_split, format) {
        let (train, test) =
            ds.train
                .hold_out(fraction, options.seed ^ TEST_STREAM, "test_split")?;
        ds.train = train;
        ds.test = test;
    }
    ds.check()?;
    Ok(ds)
}

/// What a reader found, before classes and names are settled.
pub(crate) struct Loaded {
    pub train: Split,
    pub test: Split,
    /// (channels, rows, cols).
    pub shape: (usize, usize, usize),
    pub layout: Layout,
    /// The classes the format itself knows (CIFAR-10's 10), if it does.
    pub classes: Option<usize>,
    pub class_names: Option<Vec<String>>,
    /// Where the training and the test labels were read from, for messages.
    pub label_files: [PathBuf; 2],
}

impl Loaded {
    pub(crate) fn into_dataset(self, path: &Path, options: &LoadOptions) -> Result<Dataset> {
        let names = options.class_names.clone().or(self.class_names);
        let largest = self
            .train
            .labels
            .iter()
            .chain(&self.test.labels)
            .copied()
            .max()
            .unwrap_or(0) as usize;
        let classes = options
            .classes
            .or(names.as_ref().map(Vec::len))
            .or(self.classes)
            .unwrap_or((largest + 1).max(2));
        for (split, file) in [
            (&self.train, &self.label_files[0]),
            (&self.test, &self.label_files[1]),
        ] {
            if let Some(problem) = label_outside(&split.labels, classes) {
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
            classes,
            class_names: names,
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

/// Which format `path` holds: a directory of IDX or CIFAR files, a zip archive
/// (`.npz`), else a text table.
fn detect(path: &Path) -> Result<Format> {
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
pub fn label_outside(labels: &[u8], classes: usize) -> Option<String> {
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
