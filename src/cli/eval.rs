//! `gpu-mlp eval` and `gpu-mlp predict`: a saved network on the test set, on PNG
//! files, or on one test example.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{class_label, load_data, make_backend, DataArgs, DeviceArgs};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data::{self, SplitKind};
use gpu_mlp::eval::EvalReport;
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) model: super::paths::ModelArgs,
    #[command(flatten)]
    pub(crate) device: DeviceArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Which split to evaluate: test, or train (--train-limit then applies).
    #[arg(help_heading = "Evaluation", long, default_value = "test", value_parser = ["test", "train"])]
    pub(crate) split: String,
    /// Print one JSON object instead of tables.
    #[arg(help_heading = "Evaluation", long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    pub(crate) model: super::paths::ModelArgs,
    /// PNG images of the network's input size (28×28 for MNIST), any colour type.
    #[arg(value_name = "FILE", required_unless_present = "index")]
    pub(crate) images: Vec<PathBuf>,
    /// Also classify test example I, shown as text beside its true label.
    #[arg(long, value_name = "I")]
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
    /// Print one JSON object per image (a JSON list) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A figure for JSON: NaN (a class without examples) as null.
fn finite(a: f64) -> Option<f64> {
    Some(a).filter(|a| !a.is_nan())
}

pub(crate) fn run_eval(mut args: EvalArgs) -> Result<(), Error> {
    if args.split == "test" && args.data.train_limit.is_some() {
        return Err(Error::Usage(
            "--train-limit applies to --split train; eval reads the test split".into(),
        ));
    }
    args.device = args.device.resolved();
    let model = args.model.load()?;
    let dataset = load_data(&args.data, model.arch.classes())?;
    gpu_mlp::eval::check_data_fits(&model, &args.model.path, &dataset)?;
    let dataset = Arc::new(dataset);
    let classes = model.arch.classes();
    let setup = gpu_mlp::eval::evaluation_setup(&model);
    let mut backend = make_backend(&args.device, &dataset, setup)?;
    let split = match args.split.as_str() {
        "train" => SplitKind::Train,
        _ => SplitKind::Test,
    };
    let labels = &dataset.split(split).labels;
    let r = gpu_mlp::eval::evaluate(backend.as_mut(), split, labels, classes)?;
    if args.json {
        let per_class: Vec<_> = (0..classes)
            .map(|c| {
                let accuracy = finite(r.per_class_accuracy[c]);
                serde_json::json!({
                    "class": c,
                    "name": model.class_names.as_ref().map(|n| n[c].clone()),
                    "accuracy": accuracy,
                    "examples": r.confusion[c].iter().sum::<u64>(),
                })
            })
            .collect();
        let json = serde_json::json!({
            "model": args.model.path.display().to_string(),
            "data": dataset.dir.display().to_string(),
            "split": args.split,
            "backend": backend.describe(),
            "examples": r.examples,
            "loss": r.loss,
            "accuracy": r.accuracy,
            "per_class_accuracy": r.per_class_accuracy.iter().map(|&a| finite(a)).collect::<Vec<_>>(),
            "per_class": per_class,
            "confusion": r.confusion,
        });
        say!("{json}");
        return Ok(());
    }
    say!(
        "model {} ({} {}, trained {} epochs) on {} ({} {} examples) | backend {}",
        args.model.path.display(),
        model.arch.shape_string(),
        model.arch.activation.name(),
        model.epochs_trained,
        dataset.dir.display(),
        r.examples,
        args.split,
        backend.describe()
    );
    say!(
        "{} loss {:.4}  accuracy {:.2}%\n",
        args.split,
        r.loss,
        100.0 * r.accuracy
    );
    print_class_accuracy(&model, &r);
    print_confusion(&r);
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

/// `gpu-mlp predict`: the top classes of each PNG and of `--index`'s test example.
pub(crate) fn run_predict(args: PredictArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    let (rows, cols) = (model.image_rows, model.image_cols);
    if args.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    // (what, pixels, true class): the test example, or each image.
    let mut inputs: Vec<(String, Vec<u8>, Option<usize>)> = Vec::new();
    if let Some(i) = args.index {
        let dir = super::paths::resolve_data_dir(args.data.as_deref())?;
        let (pixels, label) = test_example(&dir, &model, i)?;
        inputs.push((
            format!("test example {i} of {}", dir.display()),
            pixels,
            Some(label),
        ));
    }
    for path in &args.images {
        let pixels = gpu_mlp::eval::read_png_gray(path, rows, cols)?;
        inputs.push((path.display().to_string(), pixels, None));
    }
    let mut json = Vec::new();
    for (what, pixels, truth) in inputs {
        let pixels: Vec<u8> = match args.invert {
            true => pixels.iter().map(|&p| 255 - p).collect(),
            false => pixels,
        };
        if truth.is_none() && light_background(&pixels, cols) {
            tell!(
                "warning: {what} looks dark on a light background; the network was trained on \
                 light on dark (as MNIST): --invert flips it"
            );
        }
        match args.json {
            true => json.push(prediction_json(&model, &pixels, &what, truth, args.top)?),
            false => print_prediction(&model, &pixels, &what, truth, args.top)?,
        }
    }
    if args.json {
        say!("{}", serde_json::Value::Array(json));
    }
    Ok(())
}

/// Test example `i` of `dir` and its label, checked against the model's input size.
fn test_example(
    dir: &std::path::Path,
    model: &Checkpoint,
    i: usize,
) -> Result<(Vec<u8>, usize), Error> {
    let dataset = data::load_dir(dir, model.arch.classes())?;
    let (rows, cols) = (model.image_rows, model.image_cols);
    if (dataset.rows, dataset.cols) != (rows, cols) {
        return Err(Error::data(
            dir,
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
    Ok((
        dataset.test.image(i).to_vec(),
        dataset.test.labels[i] as usize,
    ))
}

/// Whether an image's border is mostly light: MNIST-style digits are light strokes
/// on a dark background, and a dark-on-light image gets confident wrong answers.
fn light_background(pixels: &[u8], cols: usize) -> bool {
    let rows = pixels.len() / cols.max(1);
    let border: Vec<u8> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&(r, c)| r == 0 || c == 0 || r + 1 == rows || c + 1 == cols)
        .map(|(r, c)| pixels[r * cols + c])
        .collect();
    let mean = border.iter().map(|&p| p as f64).sum::<f64>() / border.len().max(1) as f64;
    mean > 127.0
}

/// One image's prediction as JSON: the top classes with their probabilities.
fn prediction_json(
    model: &Checkpoint,
    pixels: &[u8],
    what: &str,
    truth: Option<usize>,
    top: usize,
) -> Result<serde_json::Value, Error> {
    let probs = gpu_mlp::eval::class_probabilities(model, pixels)?;
    let mut ranked: Vec<usize> = (0..model.arch.classes()).collect();
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let name = |c: usize| model.class_names.as_ref().map(|n| n[c].clone());
    let top: Vec<_> = ranked
        .iter()
        .take(top)
        .map(|&c| serde_json::json!({"class": c, "name": name(c), "probability": probs[c]}))
        .collect();
    Ok(serde_json::json!({
        "input": what,
        "predicted": ranked[0],
        "name": name(ranked[0]),
        "true": truth,
        "top": top,
    }))
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
