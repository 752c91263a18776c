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
