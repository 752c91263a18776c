//! CSV tables: a header row, one example per row, numeric features read as f32
//! and one label column (`--label-column`, else a column named `label`, `target`
//! or `class`, else the last). Labels that are all small non-negative integers are
//! class indices; otherwise each distinct label string is a class, numbered in
//! sorted order, and the strings become the class names. A missing or non-numeric
//! feature is an error naming its row and column, never a silent NaN.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Layout, LoadOptions, Loaded, Split, MAX_CLASSES};
use crate::error::{Error, Result};
use crate::files::{check_host_memory, open_regular};

/// The largest CSV file read.
const MAX_CSV_BYTES: u64 = 1 << 36;
/// Column names looked for, in order, when no label column is named.
const LABEL_NAMES: [&str; 3] = ["label", "target", "class"];

/// One file's rows: features and label strings (none for a table without labels).
struct Rows {
    features: Vec<f32>,
    labels: Vec<String>,
    width: usize,
}

/// The examples of a table to classify (`predict --csv`): `width` feature columns,
/// plus an optional label column, whose values are returned beside them.
pub fn read_examples(
    path: &Path,
    width: usize,
    label_column: Option<&str>,
) -> Result<(Vec<f32>, Vec<Option<String>>)> {
    let rows = read_rows(path, label_column, Some(width), false)?;
    let labels = match rows.labels.is_empty() {
        true => vec![None; rows.features.len() / width],
        false => rows.labels.into_iter().map(Some).collect(),
    };
    Ok((rows.features, labels))
}

/// Reads the training table (and `--test-data`'s, with the same columns).
pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<Loaded> {
    let train = read_rows(path, options.label_column.as_deref(), None, true)?;
    let test = match &options.test_data {
        Some(test_path) => Some((
            test_path.as_path(),
            read_rows(
                test_path,
                options.label_column.as_deref(),
                Some(train.width),
                true,
            )?,
        )),
        None if options.test_split.is_some() => None,
        None => {
            return Err(Error::setting(
                "test_data",
                format!(
                    "is needed, or a test_split: {} is a single table",
                    path.display()
                ),
            ))
        }
    };
    let all_labels = train
        .labels
        .iter()
        .chain(test.iter().flat_map(|(_, t)| &t.labels));
    let classes = Classes::of(all_labels, options.class_names.as_deref())
        .map_err(|p| Error::data(path, p))?;
    let to_split = |rows: Rows, file: &Path| -> Result<Split> {
        let labels = rows.labels.iter().map(|l| classes.index(l)).collect();
        Split::from_f32(rows.features, labels, rows.width)
            .map_err(|e| Error::data(file, e.to_string()))
    };
    let width = train.width;
    let test_file = test.as_ref().map_or(path, |(f, _)| *f).to_path_buf();
    let train_split = to_split(train, path)?;
    // With --test-split the caller holds the test rows out of the training split;
    // until then the test split is a placeholder sharing nothing.
    let test_split = match test {
        Some((file, rows)) => to_split(rows, file)?,
        None => train_split.select(&[0]),
    };
    Ok(Loaded {
        train: train_split,
        test: test_split,
        shape: (1, 1, width),
        layout: Layout::Table,
        classes: classes.names.as_ref().map(Vec::len),
        class_names: classes.names,
        label_files: [path.to_path_buf(), test_file],
    })
}

/// How label strings become class indices.
struct Classes {
    /// The label strings in class order, when the labels are not all integers.
    names: Option<Vec<String>>,
}

impl Classes {
    /// The classes of these labels: integers as they are; strings by `given`
    /// names (a model's, `--class-names`) where there are some, else sorted.
    fn of<'a>(
        labels: impl Iterator<Item = &'a String> + Clone,
        given: Option<&[String]>,
    ) -> std::result::Result<Self, String> {
        if labels.clone().all(|l| l.parse::<u8>().is_ok()) {
            return Ok(Classes { names: None });
        }
        if let Some(names) = given {
            if let Some(unknown) = labels.clone().find(|l| !names.contains(l)) {
                return Err(format!(
                    "label {unknown:?} is not one of the class names ({})",
                    names.join(", ")
                ));
            }
            return Ok(Classes {
                names: Some(names.to_vec()),
            });
        }
        let distinct: BTreeSet<&String> = labels.collect();
        if distinct.len() > MAX_CLASSES {
            return Err(format!(
                "{} distinct labels; at most {MAX_CLASSES} classes are supported",
                distinct.len()
            ));
        }
        let mut names: Vec<String> = distinct.into_iter().cloned().collect();
        // Numbers (-1, 9, 10, 100) in numeric order, not as text (-1, 10, 100, 9).
        let numbers: Option<Vec<f64>> = names.iter().map(|n| n.parse().ok()).collect();
        if let Some(values) = numbers {
            let mut pairs: Vec<(f64, String)> = values.into_iter().zip(names).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            names = pairs.into_iter().map(|(_, n)| n).collect();
        }
        Ok(Classes { names: Some(names) })
    }

    fn index(&self, label: &str) -> u8 {
        match &self.names {
            None => label.parse().unwrap_or_default(),
            // Checked by Classes::of: every label is among the names.
            Some(names) => names.iter().position(|n| n == label).unwrap_or_default() as u8,
        }
    }
}

/// Reads one table; `width` is the training table's feature count, which another
/// table must match. Without `need_label`, a table of exactly `width` columns has
/// no label column.
fn read_rows(
    path: &Path,
    label_column: Option<&str>,
    width: Option<usize>,
    need_label: bool,
) -> Result<Rows> {
    let mut reader = open_csv(path)?;
    let bad = |problem: String| Error::data(path, problem);
    let header = reader
        .headers()
        .map_err(|e| bad(format!("reading the header row: {e}")))?
        .clone();
    let label_at = label_position(&header, label_column, width, need_label).map_err(bad)?;
    let features = header.len() - label_at.is_some() as usize;
    let mut rows = Rows {
        features: Vec::new(),
        labels: Vec::new(),
        width: features,
    };
    let columns: Vec<&str> = header.iter().collect();
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| bad(format!("{e}")))?
    {
        let line = record.position().map_or(0, |p| p.line());
        for (j, value) in record.iter().enumerate() {
            if Some(j) == label_at {
                if value.is_empty() {
                    return Err(bad(format!(
                        "row {line}: the label ({:?}) is missing",
                        columns[j]
                    )));
                }
                rows.labels.push(value.to_string());
                continue;
            }
            rows.features.push(
                parse_feature(value)
                    .map_err(|p| bad(format!("row {line}, column {:?}: {p}", columns[j])))?,
            );
        }
    }
    if rows.features.is_empty() {
        return Err(bad("has a header but no rows".into()));
    }
    Ok(rows)
}

/// A CSV reader over `path`, refused before reading when the file is larger than
/// `MAX_CSV_BYTES` or its values could not fit in memory.
fn open_csv(path: &Path) -> Result<csv::Reader<std::io::BufReader<std::fs::File>>> {
    let (file, len) = open_regular(path)?;
    if len > MAX_CSV_BYTES {
        return Err(Error::data(
            path,
            format!("{len} bytes; at most {MAX_CSV_BYTES} are read"),
        ));
    }
    // A value takes at least two characters ("0,") and becomes four bytes.
    check_host_memory(2 * len, &path.display().to_string())?;
    Ok(csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file)))
}

/// Which column holds the label (None: a table of features only, which `predict`
/// reads when the model's width is every column), checked against the `width`
/// a model takes.
fn label_position(
    header: &csv::StringRecord,
    label_column: Option<&str>,
    width: Option<usize>,
    need_label: bool,
) -> std::result::Result<Option<usize>, String> {
    let unlabelled = !need_label && width == Some(header.len()) && label_column.is_none();
    if header.len() < 2 && !unlabelled {
        let hint = match header.get(0) {
            Some(h) if h.contains(';') || h.contains('\t') => {
                " (the values are separated by commas only: is this file separated by ';' or tabs?)"
            }
            _ => "",
        };
        return Err(format!(
            "the header row has {} column(s); a label and at least one feature are needed{hint}",
            header.len()
        ));
    }
    let label_at = match unlabelled {
        true => None,
        false => Some(label_index(header, label_column)?),
    };
    let features = header.len() - label_at.is_some() as usize;
    if let Some(w) = width.filter(|&w| w != features) {
        return Err(format!(
            "{features} feature columns (besides the label {:?}); the model takes {w}",
            label_at.map_or("", |j| &header[j])
        ));
    }
    Ok(label_at)
}

fn parse_feature(value: &str) -> std::result::Result<f32, String> {
    if value.is_empty() {
        return Err("the value is missing".into());
    }
    match value.parse::<f32>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(format!("{value:?} is not a finite number")),
        Err(_) => Err(format!("{value:?} is not a number")),
    }
}

/// The label column: the one named, else the first of `LABEL_NAMES` present, else the last.
fn label_index(
    header: &csv::StringRecord,
    named: Option<&str>,
) -> std::result::Result<usize, String> {
    if let Some(name) = named {
        return header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "has no column {name:?} (--label-column); its columns are {}",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        });
    }
    Ok(LABEL_NAMES
        .iter()
        .find_map(|want| header.iter().position(|h| h.eq_ignore_ascii_case(want)))
        .unwrap_or(header.len() - 1))
}
