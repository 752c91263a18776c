//! `gpu-mlp eval` and `gpu-mlp predict`: a trained network on a test set, on a PNG
//! file, or on one test example.

use std::path::Path;

use crate::backend::{Backend, TrainSetup, EVAL_BATCH};
use crate::checkpoint::Checkpoint;
use crate::choice::Choice;
use crate::cpu::CpuNet;
use crate::data::{Dataset, Layout, Split, SplitKind, Targets};
use crate::error::{Error, Result};
use crate::network::Architecture;
use crate::report::Figures;
use crate::scores::{score_outputs, score_split};
use crate::task::Task;

/// What `gpu-mlp eval` reports on one split.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// The backend that evaluated (its description: device, kernel).
    pub backend: String,
    /// The model's task.
    pub task: Task,
    /// Examples evaluated.
    pub examples: usize,
    /// Mean loss.
    pub loss: f64,
    /// Fraction predicted right (subset accuracy for multilabel); None for a
    /// regression.
    pub accuracy: Option<f64>,
    /// The task's figures (R², F1, …).
    pub figures: Figures,
    /// Classify and binary: the accuracy of each true class (NaN for a class
    /// with no examples); regress: each output's R²; multilabel: each label's F1.
    pub per_class_accuracy: Vec<f64>,
    /// Classify and binary: `confusion[true][predicted]`; empty otherwise.
    pub confusion: Vec<Vec<u64>>,
}

/// Loss, accuracy, the task's figures, and per class the accuracy and the
/// confusion matrix over `split` of `data`, for a network with head `head`.
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate(
    backend: &mut dyn Backend,
    data: &Dataset,
    split: SplitKind,
    arch: &Architecture,
) -> Result<EvalReport> {
    pollster::block_on(evaluate_async(backend, data, split, arch))
}

/// `evaluate`, awaiting the backend's read-backs.
pub async fn evaluate_async(
    backend: &mut dyn Backend,
    data: &Dataset,
    kind: SplitKind,
    arch: &Architecture,
) -> Result<EvalReport> {
    let head = &arch.head;
    let split = data.split(kind);
    // One pass for the outputs; a classifier's loss and accuracy are the
    // backend's own sums (as training reports them), the others' come from them.
    let outputs = backend.outputs_async(kind).await?;
    let scores = match head.task {
        Task::Classify => score_split(backend, data, head, kind).await?,
        _ => score_outputs(head, &outputs, split),
    };
    let (per_class_accuracy, confusion) = match &split.targets {
        Targets::Classes(labels) => {
            let width = arch.outputs();
            let predicted = outputs.chunks_exact(width).map(|z| head.predicted_class(z));
            confusion_of(labels, predicted, arch.classes())
        }
        Targets::Values { .. } => (scores.per_output, Vec::new()),
    };
    Ok(EvalReport {
        backend: backend.describe(),
        task: head.task,
        examples: split.len(),
        loss: scores.loss,
        accuracy: scores.accuracy,
        figures: scores.figures,
        per_class_accuracy,
        confusion,
    })
}

/// Per class: its accuracy, and the confusion matrix.
fn confusion_of(
    labels: &[u32],
    predicted: impl Iterator<Item = u32>,
    classes: usize,
) -> (Vec<f64>, Vec<Vec<u64>>) {
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&y, p) in labels.iter().zip(predicted) {
        confusion[y as usize][p as usize] += 1;
    }
    let per_class = confusion
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
    (per_class, confusion)
}

/// What the model answers for one image (`Head::answer`: class probabilities,
/// or values), on the CPU reference.
pub fn class_probabilities(checkpoint: &Checkpoint, pixels: &[u8]) -> Result<Vec<f32>> {
    Ok(probabilities(checkpoint, pixels)?.swap_remove(0))
}

/// What the model answers (`Head::answer`: class probabilities, label
/// probabilities or values) for each image in `images` (whole images of
/// `arch.inputs()` bytes, concatenated), on the CPU reference, `EVAL_BATCH` images
/// per forward pass.
pub fn probabilities(checkpoint: &Checkpoint, images: &[u8]) -> Result<Vec<Vec<f32>>> {
    let width = checkpoint.settings.arch.inputs();
    if images.is_empty() || !images.len().is_multiple_of(width) {
        return Err(Error::Usage(format!(
            "{} bytes are not a whole number of {}×{}×{} images",
            images.len(),
            checkpoint.settings.channels,
            checkpoint.settings.rows,
            checkpoint.settings.cols
        )));
    }
    let labels = vec![0u32; images.len() / width];
    probabilities_of(checkpoint, &Split::new(images.to_vec(), labels, width)?)
}

/// Class probabilities of each row of `features` (`arch.inputs()` floats each,
/// concatenated: a tabular model's rows), on the CPU reference.
pub fn probabilities_f32(checkpoint: &Checkpoint, features: &[f32]) -> Result<Vec<Vec<f32>>> {
    let width = checkpoint.settings.arch.inputs();
    if features.is_empty() || !features.len().is_multiple_of(width) {
        return Err(Error::Usage(format!(
            "{} values are not a whole number of rows of {width} features",
            features.len()
        )));
    }
    let labels = vec![0u32; features.len() / width];
    probabilities_of(
        checkpoint,
        &Split::from_f32(features.to_vec(), labels, width)?,
    )
}

/// Class probabilities of every example of `split`, transformed as the model's
/// training inputs were, `EVAL_BATCH` examples per forward pass.
pub fn probabilities_of(checkpoint: &Checkpoint, split: &Split) -> Result<Vec<Vec<f32>>> {
    if split.features.dtype() != checkpoint.settings.input.dtype {
        return Err(Error::Usage(format!(
            "{} features for a model trained on {}",
            split.features.dtype().name(),
            checkpoint.settings.input.dtype.name()
        )));
    }
    let batch = EVAL_BATCH.min(split.len());
    let mut net = CpuNet::<f32>::new(&checkpoint.settings.arch, batch);
    let mut out = Vec::with_capacity(split.len());
    let indices: Vec<u32> = (0..split.len() as u32).collect();
    for chunk in indices.chunks(batch) {
        net.gather(split, chunk, &checkpoint.settings.input)?;
        net.forward(&checkpoint.state.params, chunk.len())?;
        out.extend(
            net.logits(chunk.len())
                .chunks(checkpoint.settings.arch.outputs())
                .map(|z| checkpoint.settings.arch.head.answer(z)),
        );
    }
    Ok(out)
}

/// What a backend is built with to evaluate `checkpoint`: its network and parameters,
/// batches of `EVAL_BATCH` (no training step runs).
pub fn evaluation_setup(checkpoint: &Checkpoint) -> TrainSetup {
    TrainSetup {
        arch: checkpoint.settings.arch.clone(),
        opt: checkpoint.settings.opt,
        params: checkpoint.state.params.clone(),
        batch_size: EVAL_BATCH,
        seed: checkpoint.settings.seed,
        input: checkpoint.settings.input.clone(),
    }
}

/// Checks that `data`'s examples and classes are the ones `checkpoint` (read from
/// `path`) takes, naming the data directory if not.
pub fn check_data_fits(checkpoint: &Checkpoint, path: &Path, data: &Dataset) -> Result<()> {
    let arch = &checkpoint.settings.arch;
    if data.dtype() != checkpoint.settings.input.dtype {
        return Err(Error::data(
            &data.dir,
            format!(
                "holds {} {} features an example, but {} takes {} {} features",
                data.width(),
                data.dtype().name(),
                path.display(),
                arch.inputs(),
                checkpoint.settings.input.dtype.name()
            ),
        ));
    }
    let takes = checkpoint.settings.arrangement();
    if data.arrangement().conflicts_with(takes) {
        return Err(crate::data::arrangement_error(
            data,
            takes,
            &path.display().to_string(),
        ));
    }
    if data.task != arch.task() {
        return Err(Error::data(
            &data.dir,
            format!(
                "holds {} targets, but {} is a {} model (read the data with --task {})",
                data.task.name(),
                path.display(),
                arch.task().name(),
                arch.task().name()
            ),
        ));
    }
    let values = !data.task.has_classes();
    if data.width() != arch.inputs()
        || data.classes > arch.classes()
        || (values && data.classes != arch.classes())
    {
        return Err(Error::data(
            &data.dir,
            format!(
                "the examples have {}×{}×{} = {} features and {} classes, but {} takes {} inputs \
                 and has {} classes",
                data.channels,
                data.rows,
                data.cols,
                data.width(),
                data.classes,
                path.display(),
                arch.inputs(),
                arch.classes(),
            ),
        ));
    }
    Ok(())
}

/// Reads a PNG (any colour type; alpha composited onto black, as the training
/// images' background) as a gray `rows`×`cols` image: luma (BT.601), one byte per
/// pixel, resampled where the image has another size.
pub fn read_png_gray(path: &Path, rows: usize, cols: usize) -> Result<Vec<u8>> {
    Ok(read_png(path, rows, cols, 1, Layout::Planes)?.0)
}

/// Reads a PNG (any colour type; alpha composited onto black, as the training
/// images' background) as a network of `rows`×`cols` images takes it: `channels`
/// (1: luma, BT.601; 3: red, green, blue) bytes per pixel, arranged as `layout`
/// says (planes as CIFAR's, or each pixel's channels together as Keras's). An
/// image of another size is resampled to it (each pixel the mean of the source
/// pixels it covers; the nearest one when enlarging). Returns the pixels and the
/// image's own width and height.
pub fn read_png(
    path: &Path,
    rows: usize,
    cols: usize,
    channels: usize,
    layout: Layout,
) -> Result<(Vec<u8>, (usize, usize))> {
    let bad = |problem: String| Error::data(path, problem);
    let (file, _) = crate::files::open_regular(path)?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?;
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    // The header's size is checked before anything is allocated for it: a small
    // file can claim (and inflate to) a huge image.
    if w as u64 * h as u64 > MAX_PNG_PIXELS {
        return Err(bad(format!(
            "image is {w}×{h}; at most {MAX_PNG_PIXELS} pixels are read (resize it first)"
        )));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("corrupt PNG data: {e}")))?;
    let data = &buf[..frame.buffer_size()];
    let bytes = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad("palette PNG was not expanded".into())),
    };
    // The image at its own size, as the network's channels (interleaved), in f32.
    let mut own = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        let line = &data[y * frame.line_size..y * frame.line_size + w * bytes];
        for px in line.chunks_exact(bytes) {
            let (rgb, alpha) = match bytes {
                1 => ([px[0]; 3], 255),
                2 => ([px[0]; 3], px[1]),
                3 => ([px[0], px[1], px[2]], 255),
                _ => ([px[0], px[1], px[2]], px[3]),
            };
            let over_black = |v: f32| v * alpha as f32 / 255.0;
            if channels == 1 {
                let luma = 0.299 * rgb[0] as f32 + 0.587 * rgb[1] as f32 + 0.114 * rgb[2] as f32;
                own.push(over_black(luma));
            } else {
                own.extend(rgb.iter().map(|&v| over_black(v as f32)));
            }
        }
    }
    let pixels = rows * cols;
    let mut out = vec![0u8; pixels * channels];
    for y in 0..rows {
        let (y0, y1) = covered(y, rows, h);
        for x in 0..cols {
            let (x0, x1) = covered(x, cols, w);
            let p = y * cols + x;
            for c in 0..channels {
                let mut sum = 0.0;
                for sy in y0..y1 {
                    for sx in x0..x1 {
                        sum += own[(sy * w + sx) * channels + c];
                    }
                }
                let mean = sum / ((y1 - y0) * (x1 - x0)) as f32;
                let at = match layout {
                    Layout::Interleaved => p * channels + c,
                    _ => c * pixels + p,
                };
                out[at] = mean.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok((out, (w, h)))
}

/// The largest PNG read (16.8 megapixels, 4096×4096): its frame and its f32 copy
/// take at most 64 MiB and 200 MiB.
pub const MAX_PNG_PIXELS: u64 = 1 << 24;

/// The source rows (or columns) `from..to` that output row `i` of `n` covers in
/// an image of `size`: at least one.
fn covered(i: usize, n: usize, size: usize) -> (usize, usize) {
    let from = i * size / n;
    let to = ((i + 1) * size).div_ceil(n).max(from + 1).min(size);
    (from.min(size - 1), to)
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
