//! CSV tables: a header row, one example per row, numeric features read as f32,
//! target columns (`--target`, else a column named `label`, `target` or `class`,
//! else the last) and an optional weight column (`--weight-column`).
//!
//! The task follows the targets unless `--task` says otherwise: several target
//! columns, or one of numbers not all written as integers (`151.0`, `0.25`), are
//! values to regress; one column of integers or strings holds classes. Integer
//! labels below `MAX_CLASSES` are class indices; otherwise each distinct label
//! string is a class, numbered in sorted order, and the strings become the class
//! names. A missing or non-numeric feature, value target or weight is an error
//! naming its row and column, never a silent NaN.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Layout, LoadOptions, Loaded, Split, Targets, MAX_CLASSES};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::files::{check_host_memory, open_regular};
use crate::task::Task;

/// The largest CSV file read.
const MAX_CSV_BYTES: u64 = 1 << 36;
/// Column names looked for, in order, when no label column is named.
const LABEL_NAMES: [&str; 3] = ["label", "target", "class"];

/// One file's rows: features, target strings (`targets.len()` per row; none for a
/// table without targets), weights where a weight column is named.
struct Rows {
    features: Vec<f32>,
    labels: Vec<String>,
    weights: Vec<f32>,
    /// Each row's line in the file, for messages.
    lines: Vec<u64>,
    width: usize,
    /// The target columns' names.
    targets: Vec<String>,
    /// The feature columns' names, in the order of `features`.
    feature_names: Vec<String>,
}

impl Rows {
    /// The same rows with their features in the order of `names` (another
    /// table's): columns are matched by their header, never by position. A
    /// column missing or extra is an error naming it.
    fn in_order_of(mut self, names: &[String], path: &Path, other: &Path) -> Result<Rows> {
        if self.feature_names == names {
            return Ok(self);
        }
        let at =
            feature_order(&self.feature_names, names, other).map_err(|p| Error::data(path, p))?;
        self.features = reordered(&self.features, self.width, &at);
        self.feature_names = names.to_vec();
        Ok(self)
    }
}

/// Where each of `want`'s columns is among `have` (a table's feature columns,
/// matched by name to `other`'s); a column missing or extra, or a repeated name,
/// is the error, naming them.
pub(crate) fn feature_order(
    have: &[String],
    want: &[String],
    other: &Path,
) -> std::result::Result<Vec<usize>, String> {
    let missing: Vec<&String> = want.iter().filter(|n| !have.contains(n)).collect();
    let extra: Vec<&String> = have.iter().filter(|n| !want.contains(n)).collect();
    let unique = have.len() == want.len() && (0..want.len()).all(|i| !want[..i].contains(&want[i]));
    if missing.is_empty() && extra.is_empty() && unique {
        return Ok(want
            .iter()
            .map(|n| {
                have.iter()
                    .position(|m| m == n)
                    .expect("every name is there")
            })
            .collect());
    }
    let list = |v: &[&String]| {
        v.iter()
            .map(|n| format!("{:?}", n.escape_debug().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(format!(
        "its feature columns are not {}'s: missing [{}], extra [{}]{}",
        other.display(),
        list(&missing),
        list(&extra),
        match unique {
            true => "",
            false => " (or a column name repeated)",
        }
    ))
}

/// Rows of `width` values with their columns taken in the order `at` gives.
pub(crate) fn reordered(values: &[f32], width: usize, at: &[usize]) -> Vec<f32> {
    values
        .chunks_exact(width)
        .flat_map(|row| at.iter().map(move |&j| row[j]))
        .collect()
}

/// Which columns of a table are not features.
#[derive(Clone, Copy)]
struct Columns<'a> {
    /// The target column(s), comma-separated.
    targets: Option<&'a str>,
    /// The weight column.
    weight: Option<&'a str>,
}

/// The examples of a table to classify (`predict --csv`): `width` feature columns,
/// plus an optional label column, whose values are returned beside them; with
/// `names` (the model's), the feature columns are taken by those names.
pub fn read_examples(
    path: &Path,
    width: usize,
    label_column: Option<&str>,
    names: Option<&[String]>,
) -> Result<(Vec<f32>, Vec<Option<String>>)> {
    let columns = Columns {
        targets: label_column,
        weight: None,
    };
    let mut rows = read_rows(path, columns, Some(width), false)?;
    if let Some(names) = names {
        rows = rows.in_order_of(names, path, Path::new("the model's training table"))?;
    }
    let n = rows.features.len() / width;
    let labels = match rows.targets.len() {
        0 => vec![None; n],
        t => rows.labels.chunks(t).map(|l| Some(l.join(","))).collect(),
    };
    Ok((rows.features, labels))
}

/// Reads the training table (and `--test-data`'s, with the same columns).
pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<Loaded> {
    let columns = Columns {
        targets: options.label_column.as_deref(),
        weight: options.weight_column.as_deref(),
    };
    let train = read_rows(path, columns, None, true)?;
    let test = match &options.test_data {
        Some(test_path) => Some((
            test_path.as_path(),
            read_rows(test_path, columns, Some(train.width), true)?.in_order_of(
                &train.feature_names,
                test_path,
                path,
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
    let task = options
        .task
        .unwrap_or_else(|| inferred_task(&train, test.as_ref().map(|t| &t.1)));
    let names = train.targets.clone();
    if task.has_classes() && names.len() > 1 {
        return Err(Error::data(
            path,
            format!(
                "{} target columns ({}); the {} task takes one (several are regress or multilabel)",
                names.len(),
                names.join(", "),
                task.name()
            ),
        ));
    }
    let train_names = train.feature_names.clone();
    let (train_split, test_split, class_names) = match task.has_classes() {
        true => class_splits(path, train, test, options)?,
        false => value_splits(path, train, test)?,
    };
    let width = train_split.width;
    let feature_names = train_names;
    Ok(Loaded {
        train: train_split,
        test: test_split.0,
        shape: (1, 1, width),
        layout: Layout::Table,
        task: match task.has_classes() {
            true => Task::Classify,
            false => Task::Regress,
        },
        classes: class_names.as_ref().map(Vec::len),
        class_names: class_names.or((!task.has_classes()).then_some(names)),
        label_files: [path.to_path_buf(), test_split.1],
        feature_names: Some(feature_names),
    })
}

/// The task a table's targets imply: several columns, or numbers not all written
/// as integers, are values to regress; otherwise classes.
fn inferred_task(train: &Rows, test: Option<&Rows>) -> Task {
    let all = train
        .labels
        .iter()
        .chain(test.iter().flat_map(|t| &t.labels));
    let numbers = all.clone().all(|l| l.parse::<f64>().is_ok());
    let integers = all.clone().all(|l| l.parse::<i64>().is_ok());
    match train.targets.len() > 1 || (numbers && !integers) {
        true => Task::Regress,
        false => Task::Classify,
    }
}

/// A test split, and the file it came from.
type TestSplit = (Split, std::path::PathBuf);

/// The splits of a classification table: label strings made class indices.
fn class_splits(
    path: &Path,
    train: Rows,
    test: Option<(&Path, Rows)>,
    options: &LoadOptions,
) -> Result<(Split, TestSplit, Option<Vec<String>>)> {
    let all_labels = train
        .labels
        .iter()
        .chain(test.iter().flat_map(|(_, t)| &t.labels));
    let classes = Classes::of(all_labels, options.class_names.as_deref())
        .map_err(|p| Error::data(path, p))?;
    let to_split = |rows: Rows, file: &Path| -> Result<Split> {
        let labels: Vec<u32> = rows.labels.iter().map(|l| classes.index(l)).collect();
        finish_split(rows, Targets::Classes(labels), file)
    };
    finish(path, train, test, to_split).map(|(a, b)| (a, b, classes.names.clone()))
}

/// The splits of a table of value targets, every one a finite number.
fn value_splits(
    path: &Path,
    train: Rows,
    test: Option<(&Path, Rows)>,
) -> Result<(Split, TestSplit, Option<Vec<String>>)> {
    let to_split = |rows: Rows, file: &Path| -> Result<Split> {
        let t = rows.targets.len();
        let mut values = Vec::with_capacity(rows.labels.len());
        for (i, l) in rows.labels.iter().enumerate() {
            let v = parse_feature(l).map_err(|p| {
                Error::data(
                    file,
                    format!(
                        "row {}, target column {:?}: {p}",
                        rows.lines[i / t],
                        rows.targets[i % t]
                    ),
                )
            })?;
            values.push(v);
        }
        finish_split(rows, Targets::Values { values, width: t }, file)
    };
    finish(path, train, test, to_split).map(|(a, b)| (a, b, None))
}

/// The training and test splits through `to_split`.
fn finish(
    path: &Path,
    train: Rows,
    test: Option<(&Path, Rows)>,
    to_split: impl Fn(Rows, &Path) -> Result<Split>,
) -> Result<(Split, TestSplit)> {
    let test_file = test.as_ref().map_or(path, |(f, _)| *f).to_path_buf();
    let train_split = to_split(train, path)?;
    // With --test-split the caller holds the test rows out of the training split;
    // until then the test split is a placeholder sharing nothing.
    let test_split = match test {
        Some((file, rows)) => to_split(rows, file)?,
        None => train_split.select(&[0]),
    };
    Ok((train_split, (test_split, test_file)))
}

/// A split of `rows`' features with `targets` and the rows' weights.
fn finish_split(rows: Rows, targets: Targets, file: &Path) -> Result<Split> {
    let bad = |e: Error| Error::data(file, e.to_string());
    let split = Split::from_f32(rows.features, targets, rows.width).map_err(bad)?;
    match rows.weights.is_empty() {
        true => Ok(split),
        false => split.with_weights(rows.weights).map_err(bad),
    }
}

/// How label strings become class indices.
struct Classes {
    /// The label strings in class order, when the labels are not all integers.
    names: Option<Vec<String>>,
}

impl Classes {
    /// The classes of these labels: by `given` names (a model's,
    /// `--class-names`) where every label is one of them, else integers as they
    /// are, else strings by the given names or, without, sorted. Names come
    /// first: a model whose classes are the labels "-1", "9", "10" reads a later
    /// table of 9s and 10s by those names, not as indices 9 and 10.
    fn of<'a>(
        labels: impl Iterator<Item = &'a String> + Clone,
        given: Option<&[String]>,
    ) -> std::result::Result<Self, String> {
        if let Some(names) = given.filter(|n| labels.clone().all(|l| n.contains(l))) {
            return Ok(Classes {
                names: Some(names.to_vec()),
            });
        }
        if labels
            .clone()
            .all(|l| l.parse::<u32>().is_ok_and(|c| (c as usize) < MAX_CLASSES))
        {
            return Ok(Classes { names: None });
        }
        if let Some(names) = given {
            if let Some(unknown) = labels.clone().find(|l| !names.contains(l)) {
                return Err(format!(
                    "label {unknown:?} is not one of the class names ({})",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
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

    fn index(&self, label: &str) -> u32 {
        match &self.names {
            None => label.parse().unwrap_or_default(),
            // Checked by Classes::of: every label is among the names.
            Some(names) => names.iter().position(|n| n == label).unwrap_or_default() as u32,
        }
    }
}

/// Reads one table; `width` is the training table's feature count, which another
/// table must match. Without `need_label`, a table of exactly `width` columns has
/// no target column.
fn read_rows(
    path: &Path,
    columns: Columns,
    width: Option<usize>,
    need_label: bool,
) -> Result<Rows> {
    let (mut reader, file_len) = open_csv(path)?;
    let bad = |problem: String| Error::data(path, problem);
    let header = reader
        .headers()
        .map_err(|e| bad(format!("reading the header row: {e}")))?
        .clone();
    let targets = label_position(&header, columns.targets, width, need_label).map_err(bad)?;
    let weight_at = match columns.weight {
        Some(name) => Some(column_index(&header, name, "--weight-column").map_err(bad)?),
        None => None,
    };
    if let Some(w) = weight_at.filter(|w| targets.contains(w)) {
        return Err(bad(format!(
            "column {:?} is both a target and the weight",
            &header[w]
        )));
    }
    let features = header.len() - targets.len() - weight_at.is_some() as usize;
    if features == 0 {
        return Err(bad(
            "every column is a target or the weight; no feature is left".into(),
        ));
    }
    let names: Vec<&str> = header.iter().collect();
    let mut rows = Rows {
        features: Vec::new(),
        labels: Vec::new(),
        weights: Vec::new(),
        lines: Vec::new(),
        width: features,
        targets: targets.iter().map(|&j| names[j].to_string()).collect(),
        feature_names: (0..header.len())
            .filter(|j| !targets.contains(j) && weight_at != Some(*j))
            .map(|j| names[j].to_string())
            .collect(),
    };
    let numbers = features + weight_at.is_some() as usize;
    let mut memory = MemoryPlan::new(file_len, numbers, targets.len());
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| bad(format!("{e}")))?
    {
        let line = record.position().map_or(0, |p| p.line());
        memory.check(rows.lines.len() as u64 + 1, reader.position().byte(), path)?;
        rows.lines.push(line);
        for (j, value) in record.iter().enumerate() {
            if targets.contains(&j) {
                if value.is_empty() {
                    return Err(bad(format!(
                        "row {line}: the target ({:?}) is missing",
                        names[j]
                    )));
                }
                rows.labels.push(value.to_string());
                continue;
            }
            let number = parse_feature(value)
                .map_err(|p| bad(format!("row {line}, column {:?}: {p}", names[j])));
            match Some(j) == weight_at {
                true => rows.weights.push(number?),
                false => rows.features.push(number?),
            }
        }
    }
    if rows.features.is_empty() {
        return Err(bad("has a header but no rows".into()));
    }
    Ok(rows)
}

/// A CSV reader over `path`, refused before reading when the file is larger than
/// `MAX_CSV_BYTES`, with the file's length.
fn open_csv(
    path: &Path,
) -> Result<(
    csv::Reader<LineBound<std::io::BufReader<std::fs::File>>>,
    u64,
)> {
    let (file, len) = open_regular(path)?;
    if len > MAX_CSV_BYTES {
        return Err(Error::data(
            path,
            format!("{len} bytes; at most {MAX_CSV_BYTES} are read"),
        ));
    }
    let reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(LineBound::new(std::io::BufReader::new(file)));
    Ok((reader, len))
}

/// The memory a table's rows will take, projected as it is read: the file's
/// bytes per row so far give the rows to come, and each row takes its features
/// and weight as f32 (twice: the splits copy them), its line number, and a string
/// per target. Checked at row counts that double, so that a table too large for
/// memory is refused after a small part of it, not by a failed allocation.
struct MemoryPlan {
    file_len: u64,
    row_bytes: u64,
    next_check: u64,
}

impl MemoryPlan {
    fn new(file_len: u64, numbers: usize, targets: usize) -> Self {
        // A short string's heap block is 32 bytes with the allocator's header.
        let string = std::mem::size_of::<String>() as u64 + 32;
        MemoryPlan {
            file_len,
            row_bytes: 8 + 8 * numbers as u64 + string * targets as u64,
            next_check: 1024,
        }
    }

    /// After `rows` rows and `read` bytes of the file.
    fn check(&mut self, rows: u64, read: u64, path: &Path) -> Result<()> {
        if rows < self.next_check {
            return Ok(());
        }
        self.next_check = rows.saturating_mul(2);
        let remaining = self.file_len.saturating_sub(read);
        let projected = rows + (remaining as u128 * rows as u128 / read.max(1) as u128) as u64;
        let what = format!("{} (about {projected} rows)", path.display());
        check_host_memory(projected.saturating_mul(self.row_bytes), &what)
    }
}

/// The longest line a table may have (64 MiB: a header of a million long column
/// names). A file without line breaks (a sparse file, a binary) would otherwise
/// be read whole as one header field before it could be refused.
const MAX_LINE_BYTES: u64 = 1 << 26;

/// A reader that fails once `MAX_LINE_BYTES` pass without a line break.
struct LineBound<R> {
    inner: R,
    since_break: u64,
}

impl<R> LineBound<R> {
    fn new(inner: R) -> Self {
        LineBound {
            inner,
            since_break: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        self.since_break = match read.iter().rposition(|&b| b == b'\n') {
            Some(at) => (n - at - 1) as u64,
            None => self.since_break + n as u64,
        };
        if self.since_break > MAX_LINE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a line longer than {MAX_LINE_BYTES} bytes: not a table of one example per line"
                ),
            ));
        }
        Ok(n)
    }
}

/// Which columns hold the targets (none: a table of features only, which
/// `predict` reads when the model's width is every column), checked against the
/// `width` a model takes.
fn label_position(
    header: &csv::StringRecord,
    label_column: Option<&str>,
    width: Option<usize>,
    need_label: bool,
) -> std::result::Result<Vec<usize>, String> {
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
    let targets = match (unlabelled, label_column) {
        (true, _) => Vec::new(),
        (false, Some(named)) => {
            let mut at = Vec::new();
            for name in named.split(',').map(str::trim) {
                let j = column_index(header, name, "--target")?;
                if at.contains(&j) {
                    return Err(format!("target column {name:?} is named twice"));
                }
                at.push(j);
            }
            at
        }
        (false, None) => vec![LABEL_NAMES
            .iter()
            .find_map(|want| header.iter().position(|h| h.eq_ignore_ascii_case(want)))
            .unwrap_or(header.len() - 1)],
    };
    let features = header.len() - targets.len();
    if let Some(w) = width.filter(|&w| w != features && !targets.is_empty()) {
        let names: Vec<&str> = targets.iter().map(|&j| &header[j]).collect();
        return Err(format!(
            "{features} feature columns (besides the target {:?}); the model takes {w}",
            names.join(",")
        ));
    }
    Ok(targets)
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

/// The column named `name` (`flag` names where it came from, for the message).
fn column_index(
    header: &csv::StringRecord,
    name: &str,
    flag: &str,
) -> std::result::Result<usize, String> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        format!(
            "has no column {name:?} ({flag}); its columns are {}",
            header
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
