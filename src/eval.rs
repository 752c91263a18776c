//! `gpu-mlp eval` and `gpu-mlp predict`: a trained network on a test set, on a PNG
//! file, or on one test example.

use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::cpu::CpuNet;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::{Backend, SplitKind, TrainSetup, EVAL_BATCH};

/// What `gpu-mlp eval` reports on one split.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// Examples evaluated.
    pub examples: usize,
    /// Mean loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Accuracy of each true class (NaN for a class with no examples).
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]`
    pub confusion: Vec<Vec<u64>>,
}

/// Loss, accuracy, per-class accuracy and the confusion matrix over `split`, whose
/// labels are `labels`.
pub fn evaluate(
    backend: &mut dyn Backend,
    split: SplitKind,
    labels: &[u8],
    classes: usize,
) -> Result<EvalReport> {
    let totals = backend.evaluate(split)?;
    let predicted = backend.predictions(split)?;
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&y, &p) in labels.iter().zip(&predicted) {
        confusion[y as usize][p as usize] += 1;
    }
    let per_class_accuracy = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let n: u64 = row.iter().sum();
            if n == 0 {
                f64::NAN
            } else {
                row[c] as f64 / n as f64
            }
        })
        .collect();
    Ok(EvalReport {
        examples: labels.len(),
        loss: totals.mean_loss(),
        accuracy: totals.accuracy(),
        per_class_accuracy,
        confusion,
    })
}

/// Class probabilities (softmax of the logits) of one image, on the CPU reference.
pub fn class_probabilities(model: &Checkpoint, pixels: &[u8]) -> Result<Vec<f32>> {
    Ok(probabilities(model, pixels)?.swap_remove(0))
}

/// Class probabilities of each image in `images` (whole images of `arch.inputs()`
/// bytes, concatenated), on the CPU reference, `EVAL_BATCH` images per forward pass.
pub fn probabilities(model: &Checkpoint, images: &[u8]) -> Result<Vec<Vec<f32>>> {
    let pixels = model.arch.inputs();
    if images.is_empty() || !images.len().is_multiple_of(pixels) {
        return Err(Error::Usage(format!(
            "{} bytes are not a whole number of {}×{} images",
            images.len(),
            model.image_rows,
            model.image_cols
        )));
    }
    let batch = EVAL_BATCH.min(images.len() / pixels);
    let mut net = CpuNet::<f32>::new(&model.arch, batch);
    let mut out = Vec::with_capacity(images.len() / pixels);
    for chunk in images.chunks(batch * pixels) {
        let batch = chunk.len() / pixels;
        for (x, &b) in net.input_mut(batch).iter_mut().zip(chunk) {
            *x = b as f32 * (1.0 / 255.0);
        }
        net.forward(&model.params, batch)?;
        out.extend(net.logits(batch).chunks(model.arch.classes()).map(softmax));
    }
    Ok(out)
}

/// Softmax of one row of logits, shifted by its maximum so no `exp` overflows.
fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// What a backend is built with to evaluate `model`: its network and parameters,
/// batches of `EVAL_BATCH` (no training step runs).
pub fn evaluation_setup(model: &Checkpoint) -> TrainSetup {
    TrainSetup {
        arch: model.arch.clone(),
        opt: model.opt,
        params: model.params.clone(),
        batch_size: EVAL_BATCH,
        seed: model.seed,
    }
}

/// Checks that `data`'s images and classes are the ones `model` (read from
/// `model_path`) takes, naming the data directory if not.
pub fn check_data_fits(model: &Checkpoint, model_path: &Path, data: &Dataset) -> Result<()> {
    let arch = &model.arch;
    if data.pixels() != arch.inputs() || data.classes != arch.classes() {
        return Err(Error::data(
            &data.dir,
            format!(
                "the images have {}×{} = {} pixels and {} classes, but {} takes {} inputs \
                 and has {} classes",
                data.rows,
                data.cols,
                data.pixels(),
                data.classes,
                model_path.display(),
                arch.inputs(),
                arch.classes(),
            ),
        ));
    }
    Ok(())
}

/// Reads a PNG as `rows`×`cols` grayscale bytes. Colour is converted to luma
/// (BT.601), transparency composited over black (MNIST's background), 16-bit
/// samples reduced to 8. Other sizes are refused, not resized.
pub fn read_png_gray(path: &Path, rows: usize, cols: usize) -> Result<Vec<u8>> {
    let bad = |problem: String| Error::data(path, problem);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    if (h, w) != (rows, cols) {
        return Err(bad(format!(
            "image is {w}×{h}; the network takes {cols}×{rows} grayscale images (resize it first)"
        )));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("corrupt PNG data: {e}")))?;
    let data = &buf[..frame.buffer_size()];
    let stride = frame.line_size;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad("palette PNG was not expanded".into())),
    };
    let mut out = Vec::with_capacity(rows * cols);
    for y in 0..rows {
        let line = &data[y * stride..y * stride + cols * channels];
        for px in line.chunks_exact(channels) {
            let (luma, alpha) = match channels {
                1 => (px[0] as f32, 255.0),
                2 => (px[0] as f32, px[1] as f32),
                3 => (
                    0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32,
                    255.0,
                ),
                _ => (
                    0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32,
                    px[3] as f32,
                ),
            };
            out.push((luma * alpha / 255.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    Ok(out)
}

/// The image as text, two characters per pixel so it keeps its aspect ratio.
pub fn ascii_art(pixels: &[u8], cols: usize) -> Vec<String> {
    const RAMP: &[u8] = b" .:-=+*#%@";
    pixels
        .chunks_exact(cols)
        .map(|row| {
            row.iter()
                .flat_map(|&p| {
                    let c = RAMP[p as usize * (RAMP.len() - 1) / 255] as char;
                    [c, c]
                })
                .collect()
        })
        .collect()
}
