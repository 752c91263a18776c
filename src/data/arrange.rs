//! How a model and a data set arrange an example's features, and turning one
//! arrangement of an image into the other: a model trained on channel planes
//! (CIFAR binary, C×H×W) reads Keras-style interleaved pixels (H×W×C) of the same
//! images only once they are rearranged, and never a table as a colour image.

use super::{Dataset, Features, Layout};
use crate::error::Error;

/// The arrangement of a model's or a data set's inputs: layout and channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrangement {
    /// How an example's features are ordered.
    pub layout: Layout,
    /// Colour channels (1 for gray images and tables).
    pub channels: usize,
}

impl Arrangement {
    /// Whether features arranged as `self` mean something else read as `other`.
    /// Gray images are the same bytes in either image layout, and a row of gray
    /// pixels is a table's row; colour channels in planes and interleaved are not
    /// the same, nor are colour images and a table.
    pub fn conflicts_with(self, other: Arrangement) -> bool {
        use Layout::{Interleaved, Planes, Table};
        let colour = self.channels > 1 || other.channels > 1;
        match (self.layout, other.layout) {
            (a, b) if a == b => false,
            (Planes | Interleaved, Planes | Interleaved) => self.channels > 1 && other.channels > 1,
            (Table, _) | (_, Table) => colour,
        }
    }

    /// In words, for messages: "colour images in channel planes (C×H×W)".
    pub fn describe(self) -> &'static str {
        match (self.layout, self.channels > 1) {
            (Layout::Table, _) => "a table's rows",
            (_, false) => "gray images",
            (Layout::Planes, true) => "colour images in channel planes (C×H×W)",
            (Layout::Interleaved, true) => "colour images with interleaved channels (H×W×C)",
        }
    }
}

impl Dataset {
    /// How this data's examples are arranged.
    pub fn arrangement(&self) -> Arrangement {
        Arrangement {
            layout: self.layout,
            channels: self.channels,
        }
    }

    /// The examples rearranged as `to` (a model's): colour images of the same
    /// channel count between channel planes and interleaved pixels, gray images
    /// retagged (their bytes are the same). Anything else is left as it is, for the
    /// model's checks to name.
    pub fn arrange_as(&mut self, to: Arrangement) {
        let from = self.arrangement();
        let images = |a: Arrangement| matches!(a.layout, Layout::Planes | Layout::Interleaved);
        if from == to || !images(from) || !images(to) {
            return;
        }
        if from.channels == 1 {
            self.layout = to.layout;
            return;
        }
        if from.channels != to.channels {
            return;
        }
        let (pixels, channels) = (self.rows * self.cols, self.channels);
        let to_planes = to.layout == Layout::Planes;
        for split in self.splits_mut() {
            match &mut split.features {
                Features::U8(v) => rearrange(v, pixels, channels, to_planes),
                Features::F32(v) => rearrange(v, pixels, channels, to_planes),
            }
        }
        self.layout = to.layout;
    }
}

/// Each example of `values` (`pixels` × `channels` elements) from interleaved
/// pixels to channel planes (`to_planes`), or back.
fn rearrange<T: Copy + Default>(values: &mut [T], pixels: usize, channels: usize, to_planes: bool) {
    let mut scratch = vec![T::default(); pixels * channels];
    for example in values.chunks_exact_mut(pixels * channels) {
        scratch.copy_from_slice(example);
        for p in 0..pixels {
            for c in 0..channels {
                let (planes, interleaved) = (c * pixels + p, p * channels + c);
                match to_planes {
                    true => example[planes] = scratch[interleaved],
                    false => example[interleaved] = scratch[planes],
                }
            }
        }
    }
}

/// The error for data arranged otherwise than the model `what` takes, naming both.
pub fn arrangement_error(data: &Dataset, model: Arrangement, what: &str) -> Error {
    Error::data(
        &data.dir,
        format!(
            "holds {}, but {what} takes {}",
            data.arrangement().describe(),
            model.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_and_interleaved_are_each_others_inverse() {
        // Two 2-pixel RGB examples, interleaved: r0 g0 b0 r1 g1 b1.
        let interleaved: Vec<u8> = (0..12).collect();
        let mut v = interleaved.clone();
        rearrange(&mut v, 2, 3, true);
        assert_eq!(v, [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
        rearrange(&mut v, 2, 3, false);
        assert_eq!(v, interleaved);
    }

    #[test]
    fn only_colour_channels_and_colour_against_tables_conflict() {
        let a = |layout, channels| Arrangement { layout, channels };
        let (planes, inter, table) = (Layout::Planes, Layout::Interleaved, Layout::Table);
        assert!(a(planes, 3).conflicts_with(a(inter, 3)));
        assert!(!a(planes, 1).conflicts_with(a(inter, 1)));
        assert!(!a(planes, 1).conflicts_with(a(table, 1)));
        assert!(a(table, 1).conflicts_with(a(planes, 3)));
        assert!(!a(table, 1).conflicts_with(a(inter, 1)));
        assert!(!a(inter, 3).conflicts_with(a(inter, 3)));
    }
}
