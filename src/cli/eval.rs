//! `gpu-mlp eval` and `gpu-mlp predict`: a saved network on the test set, on PNG
//! files, or on one test example.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{class_label, gpu_options_from_env, load_data, printable, DataArgs, DeviceArgs};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data::{self, Dataset, Dtype, Features, Layout, Split, SplitKind};
use gpu_mlp::eval::EvalReport;
use gpu_mlp::{Error, Model};

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
    /// PNG images, or directories of them (their .png files in name order), any
    /// colour type; an image of another size than the network's input (28×28 gray
    /// for MNIST, 32×32 RGB for CIFAR) is resized to it, with a note.
    #[arg(value_name = "FILE", required_unless_present_any = ["index", "csv"])]
    pub(crate) images: Vec<PathBuf>,
    /// A CSV table of examples for a model trained on a table: a header row, the
    /// training columns (a label column, if present, is shown as the true class).
    #[arg(long, value_name = "FILE")]
    pub(crate) csv: Option<PathBuf>,
    /// The label column of --csv [default: label, target or class, else none].
    #[arg(long, value_name = "NAME", requires = "csv")]
    pub(crate) label_column: Option<String>,
    /// Also classify test example I, shown as text beside its true label.
    #[arg(long, value_name = "I")]
    pub(crate) index: Option<usize>,
    /// The data set of --index (any format train reads).
    #[arg(long, value_name = "PATH")]
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
    /// Print the predictions as CSV instead: a header, then one row per example
    /// (the input, its true target where known, the predicted class, its name and
    /// probability, then every class's probability; for a model of values, each
    /// output).
    #[arg(long, conflicts_with = "json")]
    pub(crate) to_csv: bool,
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
    args.device = args.device.resolved(args.json);
    let model = args.model.load()?;
    whole_table_is_the_test_set(&mut args.data)?;
    let dataset = load_data(&args.data, Some(&model), None, model.settings.seed)?;
    gpu_mlp::eval::check_data_fits(&model, &args.model.path, &dataset)?;
    let dataset = Arc::new(dataset);
    let split = match args.split.as_str() {
        "train" => SplitKind::Train,
        _ => SplitKind::Test,
    };
    let (device, options) = (args.device.device(), gpu_options_from_env()?);
    let model = Model::from(model);
    let r = model.evaluate_with(Arc::clone(&dataset), split, &device, &options)?;
    let model = model.checkpoint();
    if args.json {
        print_json(&args, &dataset, model, &r);
        return Ok(());
    }
    say!(
        "model {} ({} {}, trained {} epochs) on {} ({} {} examples) | backend {}",
        args.model.path.display(),
        model.settings.arch.shape_string(),
        model.settings.arch.activation.name(),
        model.state.epochs_trained,
        dataset.dir.display(),
        r.examples,
        args.split,
        r.backend
    );
    let mut figures = format!("{} loss {:.4}", args.split, r.loss);
    if let Some(a) = r.accuracy {
        figures += &format!("  accuracy {:.2}%", 100.0 * a);
    }
    for (f, v) in &r.figures {
        figures += &format!("  {} {v:.4}", f.name());
    }
    say!("{figures}\n");
    if r.confusion.is_empty() {
        print_output_figures(model, &r);
        return Ok(());
    }
    print_class_accuracy(model, &r);
    print_confusion(&r);
    Ok(())
}

/// Each output's own figure (regress: R²; multilabel: F1), by name.
fn print_output_figures(model: &Checkpoint, r: &EvalReport) {
    let what = match r.task {
        gpu_mlp::task::Task::Regress => "r2",
        _ => "f1",
    };
    let names = output_names(model, r.per_class_accuracy.len());
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(6);
    say!("{:<width$}  {what:>8}", "output");
    for (name, v) in names.iter().zip(&r.per_class_accuracy) {
        say!("{name:<width$}  {v:>8.4}");
    }
}

/// `eval --data table.csv` with neither `--test-data` nor `--test-split`: every
/// row of the table is evaluated (a held-out file needs no second name).
fn whole_table_is_the_test_set(data: &mut DataArgs) -> Result<(), Error> {
    let Some(path) = &data.data else {
        return Ok(());
    };
    let single = data.test_data.is_none() && data.test_split.is_none();
    if single && data::is_table(path)? {
        data.test_data = Some(path.clone());
    }
    Ok(())
}

/// `eval --json`: the report as one JSON object.
fn print_json(args: &EvalArgs, dataset: &Dataset, model: &Checkpoint, r: &EvalReport) {
    let classes = r.confusion.len();
    let per_class: Vec<_> = (0..classes)
        .map(|c| {
            let accuracy = finite(r.per_class_accuracy[c]);
            serde_json::json!({
                "class": c,
                "name": model.settings.class_names.as_ref().map(|n| n[c].clone()),
                "accuracy": accuracy,
                "examples": r.confusion[c].iter().sum::<u64>(),
            })
        })
        .collect();
    let json = serde_json::json!({
        "model": args.model.path.display().to_string(),
        "data": dataset.dir.display().to_string(),
        "split": args.split,
        "backend": r.backend,
        "examples": r.examples,
        "task": r.task.name(),
        "loss": r.loss,
        "accuracy": r.accuracy,
        "figures": r.figures.iter().map(|(f, v)| (f.name().to_string(), serde_json::json!(finite(*v)))).collect::<serde_json::Map<_, _>>(),
        "per_class_accuracy": r.per_class_accuracy.iter().map(|&a| finite(a)).collect::<Vec<_>>(),
        "per_class": per_class,
        "confusion": r.confusion,
    });
    say!("{json}");
}

/// Accuracy and example count per class, by name where the model has names.
fn print_class_accuracy(model: &Checkpoint, r: &EvalReport) {
    let classes = model.settings.arch.classes();
    let names: Vec<String> = (0..classes)
        .map(|c| class_label(&model.settings.class_names, c))
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

/// One example to classify: where it came from, its features, its class if known.
struct Example {
    what: String,
    features: Features,
    /// The true class, where known (classify, binary).
    truth: Option<usize>,
    /// The true values as the data writes them, where known (regress, multilabel).
    truth_text: Option<String>,
}

/// `gpu-mlp predict`: the top classes of each PNG, of each --csv row and of
/// `--index`'s test example.
pub(crate) fn run_predict(args: PredictArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    if args.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    let mut examples: Vec<Example> = Vec::new();
    if let Some(i) = args.index {
        examples.push(test_example(args.data.as_deref(), &model, i)?);
    }
    examples.extend(image_examples(&args, &model)?);
    if let Some(csv) = &args.csv {
        examples.extend(table_examples(csv, args.label_column.as_deref(), &model)?);
    }
    let gray = model.settings.channels == 1 && model.settings.layout != Layout::Table;
    let mut json = Vec::new();
    if args.to_csv {
        say!("{}", super::predictions_csv::header(&model));
    }
    for mut example in examples {
        if let (true, Features::U8(pixels)) = (args.invert, &mut example.features) {
            pixels.iter_mut().for_each(|p| *p = 255 - *p);
        }
        if let (true, None, Some(pixels)) = (gray, example.truth, example.features.as_u8()) {
            if light_background(pixels, model.settings.cols) {
                tell!(
                    "warning: {} looks dark on a light background; the network was trained on \
                     light on dark (as MNIST): --invert flips it",
                    example.what
                );
            }
        }
        let width = model.settings.arch.inputs();
        let one = Split::from_features(example.features.clone(), width)?;
        let probs = gpu_mlp::eval::probabilities_of(&model, &one)?.swap_remove(0);
        let art = example.features.as_u8().filter(|_| gray);
        let classes = model.settings.arch.task().has_classes();
        if args.to_csv {
            say!("{}", csv_row(&model, &probs, &example));
            continue;
        }
        match (args.json, classes) {
            (true, true) => json.push(prediction_json(&model, &probs, &example, args.top)),
            (false, true) => print_prediction(&model, &probs, &example, art, args.top),
            (true, false) => json.push(values_json(&model, &probs, &example)),
            (false, false) => print_values(&model, &probs, &example),
        }
    }
    if args.json {
        say!("{}", serde_json::Value::Array(json));
    }
    Ok(())
}

/// The PNG arguments, read as the model's images (gray or RGB, its size and layout).
fn image_examples(args: &PredictArgs, model: &Checkpoint) -> Result<Vec<Example>, Error> {
    if args.images.is_empty() {
        return Ok(Vec::new());
    }
    let (rows, cols, channels) = (
        model.settings.rows,
        model.settings.cols,
        model.settings.channels,
    );
    if model.settings.layout == Layout::Table
        || model.settings.input.dtype != Dtype::U8
        || !matches!(channels, 1 | 3)
    {
        return Err(Error::Usage(format!(
            "{} was trained on {} {} features{}, not on gray or RGB images: give --csv FILE",
            args.model.path.display(),
            model.settings.arch.inputs(),
            model.settings.input.dtype.name(),
            if model.settings.layout == Layout::Table {
                " (a table)"
            } else {
                ""
            }
        )));
    }
    let mut examples = Vec::new();
    for path in pngs_of(&args.images)? {
        let (pixels, (w, h)) =
            gpu_mlp::eval::read_png(&path, rows, cols, channels, model.settings.layout)?;
        if (w, h) != (cols, rows) {
            tell!(
                "note: {} is {w}×{h}; resized to {cols}×{rows}, the network's input",
                path.display()
            );
        }
        examples.push(Example {
            what: path.display().to_string(),
            features: Features::U8(pixels),
            truth: None,
            truth_text: None,
        });
    }
    Ok(examples)
}

/// The PNG files `paths` name: each file, and the `.png` files of each directory
/// in name order (a directory without any is an error naming it).
fn pngs_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        let mut pngs = Vec::new();
        for entry in entries {
            let p = entry.map_err(|e| Error::io(path, e))?.path();
            let png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
            if png && p.is_file() {
                pngs.push(p);
            }
        }
        if pngs.is_empty() {
            return Err(Error::data(path, "is a directory without .png files"));
        }
        pngs.sort();
        files.extend(pngs);
    }
    Ok(files)
}

/// The rows of a CSV table, read with the model's feature count.
fn table_examples(
    path: &std::path::Path,
    label_column: Option<&str>,
    model: &Checkpoint,
) -> Result<Vec<Example>, Error> {
    if model.settings.input.dtype != Dtype::F32 {
        return Err(Error::Usage(format!(
            "--csv: the model was trained on {} images; give PNG files",
            model.settings.input.dtype.name()
        )));
    }
    let width = model.settings.arch.inputs();
    let names = model.settings.source.as_ref();
    let names = names.and_then(|s| s.feature_names.as_deref());
    let (features, labels) = data::table::read_examples(path, width, label_column, names)?;
    features
        .chunks_exact(width)
        .zip(labels)
        .enumerate()
        .map(|(i, (row, label))| {
            let what = format!("{} row {}", path.display(), i + 2);
            let classes = model.settings.arch.task().has_classes();
            let truth = label
                .as_ref()
                .filter(|_| classes)
                .map(|l| class_of(model, l))
                .transpose();
            let truth = truth.map_err(|e| Error::data(path, format!("row {}: {e}", i + 2)))?;
            Ok(Example {
                what,
                features: Features::F32(row.to_vec()),
                truth,
                truth_text: label.filter(|_| !classes),
            })
        })
        .collect()
}

/// The model's class a table's label names: one of its class names, else a class
/// index below its class count.
fn class_of(model: &Checkpoint, label: &str) -> Result<usize, String> {
    let names = model.settings.class_names.as_deref().unwrap_or_default();
    let classes = model.settings.arch.classes();
    names
        .iter()
        .position(|n| n == label)
        .or_else(|| label.parse().ok().filter(|&c| c < classes))
        .ok_or_else(|| {
            let known = match names.is_empty() {
                true => format!("0..{}", classes - 1),
                false => names
                    .iter()
                    .map(|n| printable(n))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!(
                "label {:?} is not one of the model's classes ({known})",
                printable(label)
            )
        })
}

/// Test example `i` of `--data`, else of the data the model was trained on (read
/// as it was then), else of the default data set.
fn test_example(
    data_flag: Option<&std::path::Path>,
    model: &Checkpoint,
    i: usize,
) -> Result<Example, Error> {
    let (dir, mut options) = match (data_flag, &model.settings.source) {
        (None, Some(source)) => (source.path.clone(), source.options(model.settings.seed)),
        _ => {
            let dir = super::paths::resolve_data_dir(data_flag)?;
            // A table's rows are all its test examples.
            let test_data = data::is_table(&dir)?.then(|| dir.clone());
            (
                dir,
                data::LoadOptions {
                    test_data,
                    ..Default::default()
                },
            )
        }
    };
    options.classes = Some(model.settings.arch.classes());
    options.class_names = model.settings.class_names.clone();
    options.task = Some(model.settings.arch.task());
    let mut dataset = data::load(&dir, &options)
        .map_err(|e| super::args::real_mismatch(&dir, &options, model).unwrap_or(e))?;
    super::args::order_as_model(&mut dataset, model)?;
    gpu_mlp::eval::check_data_fits(model, std::path::Path::new("--model"), &dataset)?;
    if i >= dataset.test.len() {
        return Err(Error::Usage(format!(
            "--index {i} is out of range: the test set has {} examples",
            dataset.test.len()
        )));
    }
    let one = dataset.test.select(&[i as u32]);
    let truth_text = one.targets.values().map(|v| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    });
    Ok(Example {
        what: format!("test example {i} of {}", dir.display()),
        truth: one.labels().first().map(|&c| c as usize),
        truth_text,
        features: one.features,
    })
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

/// One example's prediction as JSON: the top classes with their probabilities.
fn prediction_json(
    model: &Checkpoint,
    probs: &[f32],
    example: &Example,
    top: usize,
) -> serde_json::Value {
    let ranked = ranked(probs);
    let predicted = predicted_class(model, probs, &ranked);
    let name = |c: usize| model.settings.class_names.as_ref().map(|n| n[c].clone());
    let top: Vec<_> = ranked
        .iter()
        .take(top)
        .map(|&c| serde_json::json!({"class": c, "name": name(c), "probability": probs[c]}))
        .collect();
    serde_json::json!({
        "input": example.what,
        "predicted": predicted,
        "name": name(predicted),
        "true": example.truth,
        "top": top,
    })
}

/// One example's `--to-csv` row: its true target as the model names it.
fn csv_row(model: &Checkpoint, probs: &[f32], example: &Example) -> String {
    let truth = match example.truth {
        Some(t) => Some(super::predictions_csv::class_name(model, t)),
        None => example.truth_text.clone(),
    };
    let predicted = model
        .settings
        .arch
        .task()
        .has_classes()
        .then(|| predicted_class(model, probs, &ranked(probs)));
    super::predictions_csv::example_row(model, &example.what, truth, probs, predicted)
}

/// The class predicted from class probabilities: the most likely (binary: the
/// positive class above the model's threshold).
fn predicted_class(model: &Checkpoint, probs: &[f32], ranked: &[usize]) -> usize {
    let head = &model.settings.arch.head;
    match head.task {
        gpu_mlp::task::Task::Binary => (probs[1] > head.threshold) as usize,
        _ => ranked[0],
    }
}

/// The names of a value model's outputs: its target columns' or labels', else
/// their positions.
fn output_names(model: &Checkpoint, n: usize) -> Vec<String> {
    (0..n)
        .map(|j| class_label(&model.settings.class_names, j))
        .collect()
}

/// One example's values (regress: predictions in the targets' units; multilabel:
/// each label's probability and decision) as JSON.
fn values_json(model: &Checkpoint, values: &[f32], example: &Example) -> serde_json::Value {
    let head = &model.settings.arch.head;
    let names = output_names(model, values.len());
    let outputs: Vec<_> = names
        .iter()
        .zip(values)
        .map(|(name, &v)| match head.task {
            gpu_mlp::task::Task::Multilabel => serde_json::json!({
                "name": name, "probability": v, "predicted": v > head.threshold,
            }),
            _ => serde_json::json!({"name": name, "value": v}),
        })
        .collect();
    serde_json::json!({
        "input": example.what,
        "outputs": outputs,
        "true": example.truth_text,
    })
}

/// Prints one example's values: each output's prediction (regress) or
/// probability and decision (multilabel).
fn print_values(model: &Checkpoint, values: &[f32], example: &Example) {
    let head = &model.settings.arch.head;
    say!("{}", example.what);
    if let Some(t) = &example.truth_text {
        say!("true:      {}", printable(t));
    }
    for (name, &v) in output_names(model, values.len()).iter().zip(values) {
        match head.task {
            gpu_mlp::task::Task::Multilabel => say!(
                "  {name}: {:.1}%{}",
                100.0 * v,
                if v > head.threshold { "  (yes)" } else { "" }
            ),
            _ => say!("  {name}: {v}"),
        }
    }
}

/// Classes from the most to the least likely.
fn ranked(probs: &[f32]) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..probs.len()).collect();
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    ranked
}

/// Prints the `top` most likely classes of one example; a gray test image (true
/// class known) is drawn as text beside them.
fn print_prediction(
    model: &Checkpoint,
    probs: &[f32],
    example: &Example,
    art: Option<&[u8]>,
    top: usize,
) {
    let mut ranked = ranked(probs);
    // A binary model's threshold may put the less likely class first.
    let predicted = predicted_class(model, probs, &ranked);
    ranked.retain(|&c| c != predicted);
    ranked.insert(0, predicted);
    let mut lines: Vec<String> = vec![example.what.clone()];
    if let Some(t) = example.truth {
        lines.push(format!(
            "true:      {}",
            class_label(&model.settings.class_names, t)
        ));
    }
    for (i, &c) in ranked.iter().take(top).enumerate() {
        let lead = if i == 0 { "predicted:" } else { "          " };
        lines.push(format!(
            "{lead} {} ({:.1}%)",
            class_label(&model.settings.class_names, c),
            100.0 * probs[c]
        ));
    }
    lines.iter().for_each(|l| say!("{l}"));
    // A test example's picture below its labels (a PNG's the user has).
    if let Some(pixels) = art.filter(|_| example.truth.is_some()) {
        for row in gpu_mlp::eval::ascii_art(pixels, model.settings.cols) {
            say!("{}", row.trim_end());
        }
    }
}
