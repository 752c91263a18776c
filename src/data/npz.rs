//! NumPy `.npz` archives with Keras's keys — `x_train`, `y_train`, `x_test`,
//! `y_test` — stored or deflate-compressed (`np.savez`, `np.savez_compressed`;
//! Keras ships MNIST, Fashion-MNIST and CIFAR-10 this way).
//!
//! Features: u8 (kept as bytes), f32 or f64 (as f32), any trailing shape,
//! flattened. Labels: any integer type, shape (N,) or (N, 1), values 0..=255.
//! The zip reader is the `zip` crate and the `.npy` header parser `npyz`; around
//! them nothing trusts a size: an entry is read as real bytes arrive, at most one
//! byte past what its directory claims (a zip bomb stops there), the `.npy` header
//! length is bounded before `npyz` sees it, and the shape must account for exactly
//! the bytes present before anything is decoded.

use std::io::Read;
use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use super::{Layout, Loaded, Split, Targets};
use crate::error::{Error, Result};
use crate::files::{check_host_memory, open_regular};
use crate::task::Task;

/// The largest array read from an archive (the GPU's byte offsets are u32s).
const MAX_ENTRY_BYTES: u64 = 1 << 32;
/// numpy writes headers of a few hundred bytes and reads at most 10,000.
const MAX_HEADER_BYTES: usize = 10_000;
const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Whether `path` starts like a zip archive.
pub fn is_zip(path: &Path) -> Result<bool> {
    let (mut file, _) = open_regular(path)?;
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match file
            .read(&mut magic[got..])
            .map_err(|e| Error::io(path, e))?
        {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == 4 && magic == *b"PK\x03\x04")
}

/// Reads a Keras-style `.npz`.
/// `task` (where asked) decides whether integer `y` are classes or values.
pub(crate) fn load(path: &Path, task: Option<Task>) -> Result<Loaded> {
    let (file, _) = open_regular(path)?;
    from_archive(path, std::io::BufReader::new(file), task)
}

/// A Keras-style `.npz` held in memory (a page's upload); `name` names it in messages.
pub fn load_bytes(name: &Path, bytes: &[u8]) -> Result<super::Dataset> {
    let loaded = from_archive(name, std::io::Cursor::new(bytes), None)?;
    let ds = loaded.into_dataset(name, &Default::default())?;
    ds.check()?;
    Ok(ds)
}

fn from_archive<R: Read + std::io::Seek>(
    path: &Path,
    reader: R,
    task: Option<Task>,
) -> Result<Loaded> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| Error::data(path, format!("not a readable zip archive: {e}")))?;
    let mut array = |key: &str| read_array(path, &mut archive, key);
    let (x_train, y_train) = (array("x_train")?, array("y_train")?);
    let (x_test, y_test) = (array("x_test")?, array("y_test")?);
    // Features are an array of examples: at least (N, features).
    for (key, x) in [("x_train", &x_train), ("x_test", &x_test)] {
        if x.shape.len() < 2 {
            return Err(Error::data(
                path,
                format!(
                    "{key} has shape {:?}; examples need at least two dimensions (N, features)",
                    x.shape
                ),
            ));
        }
    }
    if x_train.shape[1..] != x_test.shape[1..] {
        return Err(Error::data(
            path,
            format!(
                "x_train examples are {:?}, x_test examples {:?}",
                &x_train.shape[1..],
                &x_test.shape[1..]
            ),
        ));
    }
    let (shape, layout) = image_shape(&x_train.shape[1..]);
    let train = split(path, "train", x_train, y_train, task)?;
    let test = split(path, "test", x_test, y_test, task)?;
    if train.targets.width() != test.targets.width()
        || train.targets.classes().is_some() != test.targets.classes().is_some()
    {
        return Err(Error::data(
            path,
            "y_train and y_test hold different kinds of targets (classes, or values of another width)",
        ));
    }
    let task = match train.targets {
        Targets::Classes(_) => Task::Classify,
        Targets::Values { .. } => Task::Regress,
    };
    if train.features.dtype() != test.features.dtype() {
        return Err(Error::data(
            path,
            "x_train and x_test hold different kinds of values (bytes and floats)",
        ));
    }
    Ok(Loaded {
        train,
        test,
        shape,
        layout,
        task,
        classes: None,
        class_names: None,
        label_files: [path.to_path_buf(), path.to_path_buf()],
        feature_names: None,
    })
}

/// (channels, rows, cols) and layout for an example of this shape: (H, W) a gray
/// image, (H, W, C) with C of 1, 3 or 4 an interleaved image, (C, H, W) a planar
/// one (where both could be meant, RGB channels decide), anything else a row of
/// features.
fn image_shape(example: &[usize]) -> ((usize, usize, usize), Layout) {
    let width: usize = example.iter().product();
    match *example {
        [h, w] => ((1, h, w), Layout::Planes),
        // (3, 4, 4) is read as three 4×4 planes, not as 4-channel pixels.
        [h, w, c] if matches!(c, 1 | 3) || (c == 4 && !matches!(h, 1 | 3)) => {
            ((c, h, w), Layout::Interleaved)
        }
        [c, h, w] if matches!(c, 1 | 3 | 4) => ((c, h, w), Layout::Planes),
        _ => ((1, 1, width), Layout::Table),
    }
}

/// One decoded array.
struct Array {
    shape: Vec<usize>,
    values: Values,
}

enum Values {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
    Integers(Vec<i64>),
}

/// A split from `x` and `y`: integer `y` of shape (N,) are class indices (unless
/// `task` takes values); float `y`, or (N, k), are k values per example.
fn split(path: &Path, name: &str, x: Array, y: Array, task: Option<Task>) -> Result<Split> {
    let n = x.shape.first().copied().unwrap_or(0);
    let bad = |problem: String| Error::data(path, problem);
    if x.shape.len() < 2 || n == 0 {
        return Err(bad(format!(
            "x_{name} has shape {:?}; (examples, features…) with at least one example is expected",
            x.shape
        )));
    }
    let per_example = match y.shape[..] {
        [m] if m == n => 1,
        [m, k] if m == n && k > 0 => k,
        _ => {
            return Err(bad(format!(
                "y_{name} has shape {:?}; ({n},) or ({n}, targets) are expected for x_{name}'s {n} examples",
                y.shape
            )))
        }
    };
    let as_values = per_example > 1
        || matches!(y.values, Values::Floats(_))
        || task.is_some_and(|t| !t.has_classes());
    let labels: Targets = match (y.values, as_values) {
        (Values::Floats(values), _) => Targets::Values {
            values,
            width: per_example,
        },
        (Values::Integers(v), true) => Targets::Values {
            values: v.into_iter().map(|l| l as f32).collect(),
            width: per_example,
        },
        (Values::Bytes(v), true) => Targets::Values {
            values: v.into_iter().map(f32::from).collect(),
            width: per_example,
        },
        (Values::Integers(v), false) => Targets::Classes(class_indices(&v, name).map_err(bad)?),
        (Values::Bytes(v), false) => Targets::Classes(v.into_iter().map(u32::from).collect()),
    };
    let width = x.values_len() / n;
    let made = match x.values {
        Values::Bytes(v) => Split::new(v, labels, width),
        Values::Floats(v) => Split::from_f32(v, labels, width),
        Values::Integers(v) => {
            Split::from_f32(v.into_iter().map(|x| x as f32).collect(), labels, width)
        }
    };
    made.map_err(|e| bad(format!("x_{name}: {e}")))
}

/// Integer labels as class indices, each within the supported range.
fn class_indices(labels: &[i64], name: &str) -> std::result::Result<Vec<u32>, String> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| match u32::try_from(l) {
            Ok(c) if (c as usize) < super::MAX_CLASSES => Ok(c),
            _ => Err(format!(
                "label {l} of y_{name}[{i}] is not a class index in 0..{}",
                super::MAX_CLASSES
            )),
        })
        .collect()
}

impl Array {
    fn values_len(&self) -> usize {
        match &self.values {
            Values::Bytes(v) => v.len(),
            Values::Floats(v) => v.len(),
            Values::Integers(v) => v.len(),
        }
    }
}

/// Reads entry `key.npy` (or `key`), bounded, and decodes it.
fn read_array<R: Read + std::io::Seek>(
    path: &Path,
    archive: &mut zip::ZipArchive<R>,
    key: &str,
) -> Result<Array> {
    let entry_name = format!("{key}.npy");
    let name = if archive.index_for_name(&entry_name).is_some() {
        entry_name
    } else if archive.index_for_name(key).is_some() {
        key.to_string()
    } else {
        let mut names: Vec<String> = archive
            .file_names()
            .take(10)
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        names.sort_unstable();
        return Err(Error::data(
            path,
            format!(
                "has no array {key:?} (Keras's x_train, y_train, x_test, y_test are expected; it holds {})",
                // Entry names are the file's text: quoted and escaped for a terminal.
                names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let what = format!("{}[{name}]", path.display());
    let mut entry = archive
        .by_name(&name)
        .map_err(|e| Error::data(path, format!("{name}: {e}")))?;
    let claimed = entry.size();
    if claimed > MAX_ENTRY_BYTES {
        return Err(Error::data(
            path,
            format!("{name} claims {claimed} bytes; at most {MAX_ENTRY_BYTES} are read"),
        ));
    }
    check_host_memory(claimed, &what)?;
    let mut bytes = Vec::new();
    (&mut entry)
        .take(claimed + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::data(path, format!("{name}: {e}")))?;
    if bytes.len() as u64 != claimed {
        let what = match bytes.len() as u64 > claimed {
            true => "more than".to_string(),
            false => format!("{} bytes, fewer than", bytes.len()),
        };
        return Err(Error::data(
            path,
            format!("{name} inflates to {what} the {claimed} bytes its directory entry claims"),
        ));
    }
    decode(&bytes).map_err(|problem| Error::data(path, format!("{name}: {problem}")))
}

/// Decodes one `.npy` held in memory.
fn decode(bytes: &[u8]) -> std::result::Result<Array, String> {
    let data_at = header_end(bytes)?;
    let header =
        NpyHeader::from_reader(&bytes[..data_at]).map_err(|e| format!("bad .npy header: {e}"))?;
    if header.order() == Order::Fortran && header.shape().len() > 1 {
        return Err("is in Fortran order; save it with np.ascontiguousarray first".into());
    }
    let DType::Plain(ty) = header.dtype() else {
        return Err(format!(
            "has a structured dtype ({}); plain numbers are expected",
            header.dtype().descr()
        ));
    };
    let item = ty.num_bytes().unwrap_or(0);
    let shape = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is too large")))
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    let data = &bytes[data_at..];
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let expected = count.and_then(|c| c.checked_mul(item));
    if expected != Some(data.len()) {
        return Err(format!(
            "its header says shape {shape:?} of {} ({item} bytes each), but {} bytes of data follow",
            ty,
            data.len()
        ));
    }
    let npy = NpyFile::with_header(header, data);
    let io = |e: std::io::Error| format!("reading its data: {e}");
    let values = match (ty.type_char(), item) {
        (TypeChar::Uint, 1) => Values::Bytes(data.to_vec()),
        (TypeChar::Float, 4) => Values::Floats(npy.into_vec::<f32>().map_err(io)?),
        (TypeChar::Float, 8) => Values::Floats(
            npy.into_vec::<f64>()
                .map_err(io)?
                .into_iter()
                .map(|x| x as f32)
                .collect(),
        ),
        (TypeChar::Int, 1) => Values::Integers(widen(npy.into_vec::<i8>().map_err(io)?)),
        (TypeChar::Int, 2) => Values::Integers(widen(npy.into_vec::<i16>().map_err(io)?)),
        (TypeChar::Int, 4) => Values::Integers(widen(npy.into_vec::<i32>().map_err(io)?)),
        (TypeChar::Int, 8) => Values::Integers(npy.into_vec::<i64>().map_err(io)?),
        (TypeChar::Uint, 2) => Values::Integers(widen(npy.into_vec::<u16>().map_err(io)?)),
        (TypeChar::Uint, 4) => Values::Integers(widen(npy.into_vec::<u32>().map_err(io)?)),
        (TypeChar::Uint, 8) => Values::Integers(
            npy.into_vec::<u64>()
                .map_err(io)?
                .into_iter()
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect(),
        ),
        _ => return Err(format!("has dtype {ty}; u8, f32, f64 or integers are read")),
    };
    Ok(Array { shape, values })
}

fn widen<T: Into<i64>>(v: Vec<T>) -> Vec<i64> {
    v.into_iter().map(Into::into).collect()
}

/// Where the data of a `.npy` starts, after checking the magic and that the
/// header's length is sane and present (before any parser allocates for it).
fn header_end(bytes: &[u8]) -> std::result::Result<usize, String> {
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err("is not a .npy array (no \\x93NUMPY magic)".into());
    }
    let (len, prefix) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    if len > MAX_HEADER_BYTES || prefix + len > bytes.len() {
        return Err(format!(
            "its header claims {len} bytes ({} present; numpy writes at most {MAX_HEADER_BYTES})",
            bytes.len() - prefix
        ));
    }
    Ok(prefix + len)
}
