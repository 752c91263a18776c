//! CIFAR-10 and CIFAR-100 in their binary form: records of label byte(s) and
//! 3,072 pixel bytes (the red, green and blue 32×32 planes), in
//! `data_batch_1.bin … data_batch_5.bin` + `test_batch.bin` (CIFAR-10) or
//! `train.bin` + `test.bin` (CIFAR-100: a coarse then a fine label per record).
//! Class names come from `batches.meta.txt`, `fine_label_names.txt` or
//! `coarse_label_names.txt` where present.

use std::path::{Path, PathBuf};

use super::{Features, Layout, Loaded, Split, Targets};
use crate::error::{Error, Result};
use crate::files::{check_host_memory, read_bounded};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;
/// Each file holds at most this much (CIFAR's own are 30 MB and 150 MB).
const MAX_FILE_BYTES: u64 = 1 << 32;
/// Class-name files are a few hundred bytes.
const MAX_NAMES_BYTES: u64 = 1 << 20;

/// Which CIFAR a directory holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ten,
    Hundred,
}

fn kind_of(dir: &Path) -> Option<Kind> {
    if dir.join("data_batch_1.bin").is_file() {
        Some(Kind::Ten)
    } else if dir.join("train.bin").is_file() {
        Some(Kind::Hundred)
    } else {
        None
    }
}

/// True when `dir` holds CIFAR binary batches.
pub fn is_data_dir(dir: &Path) -> bool {
    dir.is_dir() && kind_of(dir).is_some()
}

/// Reads a CIFAR binary directory; `coarse` picks CIFAR-100's 20 superclasses.
pub(crate) fn load_dir(dir: &Path, coarse: bool) -> Result<Loaded> {
    let kind = kind_of(dir).ok_or_else(|| {
        Error::data(
            dir,
            "no data_batch_1.bin (CIFAR-10) or train.bin (CIFAR-100)",
        )
    })?;
    let (train_files, test_file, classes) = match kind {
        Kind::Ten => {
            if coarse {
                return Err(Error::setting(
                    "label",
                    "coarse labels exist in CIFAR-100 only; this is CIFAR-10",
                ));
            }
            let batches: Vec<PathBuf> = (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}.bin")))
                .collect();
            (batches, dir.join("test_batch.bin"), 10)
        }
        Kind::Hundred => (
            vec![dir.join("train.bin")],
            dir.join("test.bin"),
            if coarse { 20 } else { 100 },
        ),
    };
    // CIFAR-100 records carry (coarse, fine): the label byte is the first or second.
    let (label_bytes, label_at) = match (kind, coarse) {
        (Kind::Ten, _) => (1, 0),
        (Kind::Hundred, true) => (2, 0),
        (Kind::Hundred, false) => (2, 1),
    };
    let record = label_bytes + PIXELS;
    let mut train = reserved(dir, &train_files, &test_file, record)?;
    for file in &train_files {
        append_records(&mut train, file, label_bytes, label_at, classes)?;
    }
    let mut test = (Vec::new(), Vec::new());
    append_records(&mut test, &test_file, label_bytes, label_at, classes)?;
    let names_file = match (kind, coarse) {
        (Kind::Ten, _) => "batches.meta.txt",
        (Kind::Hundred, false) => "fine_label_names.txt",
        (Kind::Hundred, true) => "coarse_label_names.txt",
    };
    let split = |(pixels, labels): (Vec<u8>, Vec<u32>)| Split {
        features: Features::U8(pixels),
        targets: Targets::Classes(labels),
        weights: None,
        width: PIXELS,
    };
    Ok(Loaded {
        train: split(train),
        test: split(test),
        shape: (3, SIDE, SIDE),
        layout: Layout::Planes,
        task: crate::task::Task::Classify,
        classes: Some(classes),
        class_names: read_names(&dir.join(names_file), classes)?,
        label_files: [train_files[0].clone(), test_file],
        feature_names: None,
    })
}

/// The training split's buffers, reserved for the records the batch files hold,
/// once the memory every file needs is known to be available: the pixels and
/// labels of all of them, and the largest file while it is read.
fn reserved(
    dir: &Path,
    train_files: &[PathBuf],
    test_file: &Path,
    record: usize,
) -> Result<(Vec<u8>, Vec<u32>)> {
    // A file that cannot be read counts nothing; reading it names the problem.
    let len = |f: &Path| std::fs::metadata(f).map_or(0, |m| m.len().min(MAX_FILE_BYTES));
    let train_records: u64 = train_files.iter().map(|f| len(f) / record as u64).sum();
    let records = train_records + len(test_file) / record as u64;
    let largest = train_files
        .iter()
        .map(|f| len(f))
        .chain([len(test_file)])
        .max();
    let per_record = (PIXELS + std::mem::size_of::<u32>()) as u64;
    let what = format!("{} ({records} images)", dir.display());
    check_host_memory(records * per_record + largest.unwrap_or(0), &what)?;
    let n = train_records as usize;
    Ok((Vec::with_capacity(n * PIXELS), Vec::with_capacity(n)))
}

/// Appends the records of one batch file to `split`, checking the file is whole
/// records and every label is in range.
fn append_records(
    (pixels, labels): &mut (Vec<u8>, Vec<u32>),
    path: &Path,
    label_bytes: usize,
    label_at: usize,
    classes: usize,
) -> Result<()> {
    let bytes = read_bounded(path, MAX_FILE_BYTES)?;
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(Error::data(
            path,
            format!(
                "{} bytes is not a whole number of {record}-byte records ({label_bytes} label byte(s) + {PIXELS} pixels)",
                bytes.len()
            ),
        ));
    }
    pixels.reserve(bytes.len() / record * PIXELS);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_at];
        if label as usize >= classes {
            return Err(Error::data(
                path,
                format!("label {label} of record {i} is outside the class range 0..{classes}"),
            ));
        }
        labels.push(label as u32);
        pixels.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

/// One class name per non-empty line, when the file is there; it must name every class.
fn read_names(path: &Path, classes: usize) -> Result<Option<Vec<String>>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(path, MAX_NAMES_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::data(path, "is not UTF-8 text"))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != classes {
        return Err(Error::data(
            path,
            format!("{} class names for {classes} classes", names.len()),
        ));
    }
    Ok(Some(names))
}
