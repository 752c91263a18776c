//! MNIST-format data: four IDX files in a directory, validated and kept as u8.

pub mod idx;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use idx::IdxFile;

/// One split (train or test): `len` images of `pixels` bytes each, row-major, and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    /// Pixel bytes of every image, concatenated (0 black, 255 white).
    pub images: Vec<u8>,
    /// One label per image, below the data set's class count.
    pub labels: Vec<u8>,
    /// Bytes per image (rows × cols).
    pub pixels: usize,
}

impl Split {
    /// A split from images (`pixels` bytes each, concatenated, row-major) and
    /// their labels, checked to agree in count.
    pub fn new(images: Vec<u8>, labels: Vec<u8>, pixels: usize) -> Result<Split> {
        if pixels == 0 || labels.is_empty() || images.len() != labels.len() * pixels {
            return Err(Error::Usage(format!(
                "a split of {} image bytes and {} labels is not {} images of {pixels} pixels",
                images.len(),
                labels.len(),
                labels.len()
            )));
        }
        Ok(Split {
            images,
            labels,
            pixels,
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

    /// The pixels of example `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.pixels..(i + 1) * self.pixels]
    }

    /// Keeps the first `n` examples; `n` must not exceed `len()`.
    pub fn truncate(&mut self, n: usize) {
        self.images.truncate(n * self.pixels);
        self.labels.truncate(n);
    }
}

/// A data set: training, test and optional validation splits of equal-sized images.
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
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Number of classes; every label is below it.
    pub classes: usize,
}

impl Dataset {
    /// A data set held in memory (one's own, not IDX files): `rows`×`cols` images,
    /// labels below `classes`, checked as `load_dir` checks files. `name` stands
    /// where a directory would in messages and metrics.
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
        for (what, split) in [("training", &train), ("test", &test)] {
            if split.pixels != rows * cols {
                return Err(Error::Usage(format!(
                    "{what} images have {} pixels; {rows}×{cols} images have {}",
                    split.pixels,
                    rows * cols
                )));
            }
            if let Some(problem) = label_outside(&split.labels, classes) {
                return Err(Error::Usage(format!("{what} {problem}")));
            }
        }
        Ok(Dataset {
            dir: PathBuf::from(name),
            train,
            test,
            val: None,
            rows,
            cols,
            classes,
        })
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
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

    /// Holds out ⌈fraction·N⌉ training examples as the validation split: the
    /// training split is shuffled once with a stream of its own seeded by `seed`
    /// (so the split never depends on how training shuffles), and its last
    /// examples become the validation set. Not stratified: a class's share of the
    /// validation set varies by chance, as with PyTorch's `random_split`.
    pub fn hold_out_validation(&mut self, fraction: f64, seed: u64) -> Result<()> {
        let n = self.train.len();
        let held = (fraction * n as f64).ceil() as usize;
        if !(fraction > 0.0 && fraction < 1.0) || held == 0 || held >= n {
            return Err(Error::setting(
                "val_split",
                format!(
                    "{fraction} must be above 0 and below 1, and leave examples on both sides of {n}"
                ),
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        crate::rng::Rng::new(seed ^ VALIDATION_STREAM).shuffle(&mut order);
        let pick = |indices: &[u32]| Split {
            images: indices
                .iter()
                .flat_map(|&i| self.train.image(i as usize).iter().copied())
                .collect(),
            labels: indices
                .iter()
                .map(|&i| self.train.labels[i as usize])
                .collect(),
            pixels: self.train.pixels,
        };
        let (keep, hold) = order.split_at(n - held);
        let (train, val) = (pick(keep), pick(hold));
        self.train = train;
        self.val = Some(val);
        Ok(())
    }
}

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

/// The four files of a data directory, by their standard names.
const FILES: [(&str, &str); 4] = [
    ("train-images", "idx3-ubyte"),
    ("train-labels", "idx1-ubyte"),
    ("t10k-images", "idx3-ubyte"),
    ("t10k-labels", "idx1-ubyte"),
];

/// Finds `stem-suffix`, `stem.suffix`, each raw or `.gz`, in `dir`.
fn find_file(dir: &Path, stem: &str, suffix: &str) -> Result<PathBuf> {
    let names = [
        format!("{stem}-{suffix}"),
        format!("{stem}-{suffix}.gz"),
        format!("{stem}.{suffix}"),
        format!("{stem}.{suffix}.gz"),
    ];
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::data(
                dir,
                format!("no {} file (looked for {})", stem, names.join(", ")),
            )
        })
}

/// True when `dir` looks like a data directory (it holds a training-image file).
pub fn is_data_dir(dir: &Path) -> bool {
    dir.is_dir() && find_file(dir, FILES[0].0, FILES[0].1).is_ok()
}

/// Reads one image/label pair and checks that they agree.
fn load_split(
    dir: &Path,
    images: (&str, &str),
    labels: (&str, &str),
    classes: usize,
) -> Result<(Split, usize, usize)> {
    let img_path = find_file(dir, images.0, images.1)?;
    let lbl_path = find_file(dir, labels.0, labels.1)?;
    // Both headers first: a label file that disagrees with a 4 GiB image header is
    // reported before any image is inflated.
    let img = IdxFile::open(&img_path, 3)?;
    let lbl = IdxFile::open(&lbl_path, 1)?;
    let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    if n == 0 {
        return Err(Error::data(&img_path, "holds no images"));
    }
    if rows == 0 || cols == 0 {
        return Err(Error::data(
            &img_path,
            format!("image size {rows}×{cols} is empty"),
        ));
    }
    if lbl.dims[0] != n {
        return Err(Error::data(
            &lbl_path,
            format!(
                "{} labels, but {} holds {n} images",
                lbl.dims[0],
                img_path.display()
            ),
        ));
    }
    let lbl = lbl.read()?;
    if let Some(problem) = label_outside(&lbl.data, classes) {
        return Err(Error::data(&lbl_path, problem));
    }
    let split = Split {
        images: img.read()?.data,
        labels: lbl.data,
        pixels: rows * cols,
    };
    Ok((split, rows, cols))
}

/// The first label not below `classes`, as a problem to report.
fn label_outside(labels: &[u8], classes: usize) -> Option<String> {
    let (i, l) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)?;
    Some(format!(
        "label {l} of example {i} is outside the class range 0..{classes}"
    ))
}

/// Loads and validates a data directory. `classes` is the number of output classes
/// every label must lie below (10 for MNIST and Fashion-MNIST).
pub fn load_dir(dir: &Path, classes: usize) -> Result<Dataset> {
    let (train, rows, cols) = load_split(dir, FILES[0], FILES[1], classes)?;
    let (test, test_rows, test_cols) = load_split(dir, FILES[2], FILES[3], classes)?;
    if (test_rows, test_cols) != (rows, cols) {
        return Err(Error::data(
            find_file(dir, FILES[2].0, FILES[2].1)?,
            format!("test images are {test_rows}×{test_cols}, training images {rows}×{cols}"),
        ));
    }
    Ok(Dataset {
        dir: dir.to_path_buf(),
        train,
        test,
        val: None,
        rows,
        cols,
        classes,
    })
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
