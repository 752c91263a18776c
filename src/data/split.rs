//! One split of a data set in memory: its features (u8 or f32, row-major) and labels.

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

/// What the examples of a split are labelled with.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class index per example (classify, binary).
    Classes(Vec<u32>),
    /// `width` values per example, row-major: real values (regress) or 0/1 per
    /// label (multilabel); every one finite.
    Values {
        /// Every example's values, concatenated.
        values: Vec<f32>,
        /// Values per example.
        width: usize,
    },
}

impl From<Vec<u8>> for Targets {
    fn from(labels: Vec<u8>) -> Self {
        Targets::Classes(labels.into_iter().map(u32::from).collect())
    }
}

impl From<Vec<u32>> for Targets {
    fn from(labels: Vec<u32>) -> Self {
        Targets::Classes(labels)
    }
}

impl Targets {
    /// Examples labelled.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values { values, width } => values.len() / (*width).max(1),
        }
    }

    /// Whether no example is labelled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per example (1 for a class index).
    pub fn width(&self) -> usize {
        match self {
            Targets::Classes(_) => 1,
            Targets::Values { width, .. } => *width,
        }
    }

    /// The class indices, where the targets are classes.
    pub fn classes(&self) -> Option<&[u32]> {
        match self {
            Targets::Classes(c) => Some(c),
            Targets::Values { .. } => None,
        }
    }

    /// The values (row-major, `width()` per example), where the targets are values.
    pub fn values(&self) -> Option<&[f32]> {
        match self {
            Targets::Classes(_) => None,
            Targets::Values { values, .. } => Some(values),
        }
    }

    /// Examples `indices`' targets, in that order.
    pub fn select(&self, indices: &[u32]) -> Targets {
        match self {
            Targets::Classes(c) => {
                Targets::Classes(indices.iter().map(|&i| c[i as usize]).collect())
            }
            Targets::Values { values, width } => Targets::Values {
                values: indices
                    .iter()
                    .flat_map(|&i| &values[i as usize * width..(i as usize + 1) * width])
                    .copied()
                    .collect(),
                width: *width,
            },
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Targets::Classes(c) => c.truncate(n),
            Targets::Values { values, width } => values.truncate(n * *width),
        }
    }

    /// The first value that is not finite, as (example, column, value).
    fn first_not_finite(&self) -> Option<(usize, usize, f32)> {
        let (values, width) = match self {
            Targets::Classes(_) => return None,
            Targets::Values { values, width } => (values, *width),
        };
        let i = values.iter().position(|v| !v.is_finite())?;
        Some((i / width, i % width, values[i]))
    }
}

/// One split (train, test or validation): `len` examples of `width` features each,
/// row-major, their targets, and (training only) a weight per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Every example's features, concatenated.
    pub features: Features,
    /// Every example's target: a class index, or values.
    pub targets: Targets,
    /// A weight per example (`--weight-column`, `--class-weight`): its loss counts
    /// that many times. None: all 1.
    pub weights: Option<Vec<f32>>,
    /// Features per example (pixels × channels for images).
    pub width: usize,
}

impl Split {
    /// A split of byte features (images: `width` pixels each, concatenated,
    /// row-major) and their labels (class indices, or `Targets::Values`), checked
    /// to agree in count.
    pub fn new(images: Vec<u8>, labels: impl Into<Targets>, width: usize) -> Result<Split> {
        Self::checked(Features::U8(images), labels.into(), width)
    }

    /// A split of float features (`width` per example, concatenated), checked to
    /// agree in count with the targets and to be finite.
    pub fn from_f32(features: Vec<f32>, labels: impl Into<Targets>, width: usize) -> Result<Split> {
        if let Some(i) = features.iter().position(|x| !x.is_finite()) {
            return Err(Error::Usage(format!(
                "feature {} of example {} is {} (features must be finite)",
                i % width.max(1),
                i / width.max(1),
                features[i]
            )));
        }
        Self::checked(Features::F32(features), labels.into(), width)
    }

    fn checked(features: Features, targets: Targets, width: usize) -> Result<Split> {
        let n = targets.len();
        if width == 0 || n == 0 || features.len() != n * width || targets.width() == 0 {
            return Err(Error::Usage(format!(
                "a split of {} feature values and {n} targets is not {n} examples of {width} features",
                features.len(),
            )));
        }
        if let Targets::Values { values, width: w } = &targets {
            if values.len() != n * w {
                return Err(Error::Usage(format!(
                    "{} target values are not {n} examples of {w}",
                    values.len()
                )));
            }
        }
        if let Some((row, col, v)) = targets.first_not_finite() {
            return Err(Error::Usage(format!(
                "target {col} of example {row} is {v} (targets must be finite)"
            )));
        }
        Ok(Split {
            features,
            targets,
            weights: None,
            width,
        })
    }

    /// One or more examples to predict (their targets unknown: class 0 stands in).
    pub fn from_features(features: Features, width: usize) -> Result<Split> {
        let n = features.len() / width.max(1);
        Self::checked(features, Targets::Classes(vec![0; n]), width)
    }

    /// The same split with a weight per example, each finite and not negative, not
    /// all 0.
    pub fn with_weights(mut self, weights: Vec<f32>) -> Result<Split> {
        if weights.len() != self.len() {
            return Err(Error::Usage(format!(
                "{} weights for {} examples",
                weights.len(),
                self.len()
            )));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::Usage(format!(
                "the weight of example {i} is {} (weights must be finite and not negative)",
                weights[i]
            )));
        }
        if weights.iter().all(|&w| w == 0.0) {
            return Err(Error::Usage("every example's weight is 0".into()));
        }
        self.weights = Some(weights);
        Ok(self)
    }

    /// An empty split, to stand in while one is rebuilt.
    pub(crate) fn placeholder() -> Split {
        Split {
            features: Features::U8(Vec::new()),
            targets: Targets::Classes(Vec::new()),
            weights: None,
            width: 1,
        }
    }

    /// Examples in the split.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the split holds no examples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The class index of every example, where the targets are classes (else
    /// nothing: callers that need classes check the task first).
    pub fn labels(&self) -> &[u32] {
        self.targets.classes().unwrap_or(&[])
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
        self.targets.truncate(n);
        if let Some(w) = &mut self.weights {
            w.truncate(n);
        }
    }

    /// Examples `indices`, in that order, as a split of their own.
    pub fn select(&self, indices: &[u32]) -> Split {
        Split {
            features: self.features.select(self.width, indices),
            targets: self.targets.select(indices),
            weights: self
                .weights
                .as_ref()
                .map(|w| indices.iter().map(|&i| w[i as usize]).collect()),
            width: self.width,
        }
    }

    /// Splits off ⌈fraction·N⌉ examples, chosen by a shuffle seeded with `seed`:
    /// returns (kept, held out), both in the shuffled order.
    pub(super) fn hold_out(
        &self,
        fraction: f64,
        seed: u64,
        setting: &'static str,
    ) -> Result<(Split, Split)> {
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
