//! `gpu-mlp eval` and `gpu-mlp predict`: a saved network on the test set, on PNG
//! files, or on one test example.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{class_label, load_data, make_backend, DataArgs, DeviceArgs};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data;
use gpu_mlp::eval::EvalReport;
use gpu_mlp::train::{TrainSetup, EVAL_BATCH};
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// The network, as written by `train --save`.
    #[arg(long, value_name = "FILE")]
    pub(crate) model: PathBuf,
    #[command(flatten)]
    pub(crate) device: DeviceArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// The network, as written by `train --save`.
    #[arg(long, value_name = "FILE")]
    pub(crate) model: PathBuf,
    /// PNG images of the network's input size (28×28 for MNIST), any colour type.
    #[arg(value_name = "FILE", required_unless_present = "index")]
    pub(crate) images: Vec<PathBuf>,
    /// Classify test example I instead, shown as text beside its true label.
    #[arg(long, value_name = "I", conflicts_with = "images")]
    pub(crate) index: Option<usize>,
    /// Data directory for --index.
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// How many classes to list per image.
    #[arg(long, default_value_t = 3)]
    pub(crate) top: usize,
    /// Invert the images first (for dark digits on a light background; MNIST is light on dark).
    #[arg(long)]
    pub(crate) invert: bool,
}

pub(crate) fn run_eval(mut args: EvalArgs) -> Result<(), Error> {
    args.device = args.device.resolved();
    let model = Checkpoint::load(&args.model)?;
    let dataset = load_data(&args.data, model.arch.classes())?;
    if dataset.pixels() != model.arch.inputs() {
        return Err(Error::data(
            &dataset.dir,
            format!(
                "the images have {}×{} = {} pixels, but --model {} takes {} inputs",
                dataset.rows,
                dataset.cols,
                dataset.pixels(),
                args.model.display(),
                model.arch.inputs(),
            ),
        ));
    }
    let dataset = Arc::new(dataset);
    let classes = model.arch.classes();
    let setup = TrainSetup {
        arch: model.arch.clone(),
        opt: model.opt,
        params: model.params.clone(),
        batch_size: EVAL_BATCH,
        seed: model.seed,
    };
    let mut backend = make_backend(&args.device, &dataset, setup)?;
    let r = gpu_mlp::eval::evaluate(backend.as_mut(), &dataset.test.labels, classes)?;
    if args.json {
        let json = serde_json::json!({
            "model": args.model.display().to_string(),
            "data": dataset.dir.display().to_string(),
            "backend": backend.describe(),
            "examples": r.examples,
            "loss": r.loss,
            "accuracy": r.accuracy,
            "per_class_accuracy": r.per_class_accuracy.iter().map(|&a| if a.is_nan() { None } else { Some(a) }).collect::<Vec<_>>(),
            "confusion": r.confusion,
        });
        say!("{json}");
        return Ok(());
    }
    say!(
        "model {} ({} {}, trained {} epochs) on {} ({} test examples) | backend {}",
        args.model.display(),
        model.arch.shape_string(),
        model.arch.activation.name(),
        model.epochs_trained,
        dataset.dir.display(),
        r.examples,
        backend.describe()
    );
    say!(
        "test loss {:.4}  accuracy {:.2}%\n",
        r.loss,
        100.0 * r.accuracy
    );
    print_class_accuracy(&model, &r);
    print_confusion(&r);
    Ok(())
}

pub(crate) fn run_predict(args: PredictArgs) -> Result<(), Error> {
    let model = Checkpoint::load(&args.model)?;
    let (rows, cols) = (model.image_rows, model.image_cols);
    let classes = model.arch.classes();
    if args.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    let show = |pixels: &[u8], what: &str, truth: Option<usize>| {
        let pixels: Vec<u8> = match args.invert {
            true => pixels.iter().map(|&p| 255 - p).collect(),
            false => pixels.to_vec(),
        };
        print_prediction(&model, &pixels, what, truth, args.top)
    };
    if let Some(i) = args.index {
        let dir = super::paths::resolve_data_dir(args.data.as_deref())?;
        let dataset = data::load_dir(&dir, classes)?;
        if (dataset.rows, dataset.cols) != (rows, cols) {
            return Err(Error::data(
                &dir,
                format!(
                    "the images are {}×{}, but --model takes {rows}×{cols}",
                    dataset.rows, dataset.cols
                ),
            ));
        }
        if i >= dataset.test.len() {
            return Err(Error::Usage(format!(
                "--index {i} is out of range: the test set has {} examples",
                dataset.test.len()
            )));
        }
        return show(
            dataset.test.image(i),
            &format!("test example {i} of {}", dir.display()),
            Some(dataset.test.labels[i] as usize),
        );
    }
    for path in &args.images {
        let pixels = gpu_mlp::eval::read_png_gray(path, rows, cols)?;
        show(&pixels, &path.display().to_string(), None)?;
    }
    Ok(())
}

/// Accuracy and example count per class, by name where the model has names.
fn print_class_accuracy(model: &Checkpoint, r: &EvalReport) {
    let classes = model.arch.classes();
    let names: Vec<String> = (0..classes)
        .map(|c| class_label(&model.class_names, c))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(5);
    say!("{:<width$}  accuracy  examples", "class");
    for (c, name) in names.iter().enumerate() {
        let n: u64 = r.confusion[c].iter().sum();
        let acc = r.per_class_accuracy[c];
        let acc = if acc.is_nan() {
            "     -".to_string()
        } else {
            format!("{:6.2}%", 100.0 * acc)
        };
        say!("{name:<width$}  {acc:>8}  {n:>8}");
    }
}

/// The confusion matrix (rows: true class, columns: predicted).
fn print_confusion(r: &EvalReport) {
    let classes = r.confusion.len();
    let cell = r
        .confusion
        .iter()
        .flatten()
        .max()
        .map_or(1, |m| m.to_string().len())
        .max(classes.to_string().len())
        + 1;
    say!("\nconfusion matrix (rows: true class, columns: predicted)");
    say_part!("{:>4}", "");
    for c in 0..classes {
        say_part!("{c:>cell$}");
    }
    say!();
    for (c, row) in r.confusion.iter().enumerate() {
        say_part!("{c:>4}");
        for v in row {
            say_part!("{v:>cell$}");
        }
        say!();
    }
}

/// Prints the `top` most likely classes of one image; with the true class known
/// (a test example), beside the image drawn as text.
fn print_prediction(
    model: &Checkpoint,
    pixels: &[u8],
    what: &str,
    truth: Option<usize>,
    top: usize,
) -> Result<(), Error> {
    let probs = gpu_mlp::eval::class_probabilities(model, pixels)?;
    let mut ranked: Vec<usize> = (0..model.arch.classes()).collect();
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut lines: Vec<String> = vec![what.to_string()];
    if let Some(t) = truth {
        lines.push(format!("true:      {}", class_label(&model.class_names, t)));
    }
    for (i, &c) in ranked.iter().take(top).enumerate() {
        let lead = if i == 0 { "predicted:" } else { "          " };
        lines.push(format!(
            "{lead} {} ({:.1}%)",
            class_label(&model.class_names, c),
            100.0 * probs[c]
        ));
    }
    if truth.is_none() {
        lines.iter().for_each(|l| say!("{l}"));
        return Ok(());
    }
    let cols = model.image_cols;
    let art = gpu_mlp::eval::ascii_art(pixels, cols);
    for (i, row) in art.iter().enumerate() {
        say!("{row}  {}", lines.get(i).map_or("", String::as_str));
    }
    for l in lines.iter().skip(art.len()) {
        say!("{:w$}  {l}", "", w = 2 * cols);
    }
    Ok(())
}
