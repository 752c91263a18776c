//! `predict --to-csv`: the predictions as a CSV table, one row per example (a
//! directory of PNGs, a --csv table), for a spreadsheet or pandas.

use gpu_mlp::checkpoint::Checkpoint;

/// The header row: the input and its true target where known, then for a class
/// model the predicted class, its name and probability and every class's
/// probability; for a model of values, each output.
pub(crate) fn header(model: &Checkpoint) -> String {
    let outputs = model.settings.arch.classes();
    let names = (0..outputs).map(|j| class_name(model, j));
    let mut fields = vec!["input".to_string(), "true".to_string()];
    match model.settings.arch.task().has_classes() {
        true => {
            fields.extend(["predicted", "name", "probability"].map(String::from));
            fields.extend(names.map(|n| format!("p_{n}")));
        }
        false => fields.extend(names),
    }
    row(&fields)
}

/// One example's row: `input` (its file or row), `truth` (as the data writes it),
/// and the model's `outputs` (class probabilities or values).
pub(crate) fn example_row(
    model: &Checkpoint,
    input: &str,
    truth: Option<String>,
    outputs: &[f32],
    predicted: Option<usize>,
) -> String {
    let mut fields = vec![input.to_string(), truth.unwrap_or_default()];
    if let Some(c) = predicted {
        let p = outputs[c];
        fields.extend([c.to_string(), class_name(model, c), p.to_string()]);
    }
    fields.extend(outputs.iter().map(f32::to_string));
    row(&fields)
}

/// Class (or output) `c` by its name where the model names them, else its index.
pub(crate) fn class_name(model: &Checkpoint, c: usize) -> String {
    match &model.settings.class_names {
        Some(names) => names[c].clone(),
        None => c.to_string(),
    }
}

/// Fields joined by commas, each quoted where it holds a comma, a quote or a line
/// break (RFC 4180), so that a class name or a path never shifts a column.
fn row(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| match f.contains([',', '"', '\n', '\r']) {
            true => format!("\"{}\"", f.replace('"', "\"\"")),
            false => f.clone(),
        })
        .collect();
    quoted.join(",")
}

#[cfg(test)]
mod tests {
    use super::row;

    #[test]
    fn fields_with_commas_quotes_or_breaks_are_quoted() {
        let f = |s: &[&str]| row(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(f(&["a", "b c", "1.5"]), "a,b c,1.5");
        assert_eq!(
            f(&["x,y", "say \"hi\"", "l\nm"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"l\nm\""
        );
    }
}
