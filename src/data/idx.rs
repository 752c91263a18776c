//! IDX files (the MNIST container): a 4-byte magic `00 00 <type> <ndims>`, `ndims`
//! big-endian u32 dimensions, then the elements. Only u8 elements (type 0x08) are
//! used by MNIST-format data sets.
//!
//! Nothing is allocated from the header: a raw file is checked against its size on
//! disk before it is read, and a gzip stream is decompressed at most one byte past
//! what the header promises, growing the buffer only as real bytes arrive.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

use super::{Dataset, Features, Layout, Loaded, Split};
use crate::error::{Error, Result};
use crate::files::{check_host_memory, open_regular};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;
/// The largest element count accepted from a header (4 GiB). Past this the GPU's
/// u32 byte offsets overflow, and a gzip stream could inflate without bound.
pub const MAX_IDX_BYTES: u64 = 1 << 32;

/// A decoded IDX array of u8 elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of u8 elements with exactly `want_dims` dimensions, raw or
/// gzip-compressed (detected by its magic bytes, not its name).
pub fn read_idx_u8(path: &Path, want_dims: usize) -> Result<IdxArray> {
    IdxFile::open(path, want_dims)?.read()
}

/// An IDX file whose header has been read and checked, its elements not yet: so
/// that headers that must agree (images and labels) are compared before either
/// body is inflated.
pub struct IdxFile {
    path: PathBuf,
    /// The dimensions from the header, outermost first.
    pub dims: Vec<usize>,
    /// Element bytes the header promises.
    count: u64,
    stream: Stream,
}

/// A source of bytes: a file, or bytes in memory (a page's upload).
type Source = Box<dyn BufRead>;

enum Stream {
    Raw(Source),
    /// A bufread decoder consumes exactly the gzip member from the reader, so what
    /// is left in it afterwards is trailing data.
    Gzip(GzDecoder<Source>),
}

impl IdxFile {
    /// Opens `path` (a regular file), reads and checks its header.
    pub fn open(path: &Path, want_dims: usize) -> Result<Self> {
        let (file, file_len) = open_regular(path)?;
        Self::from_source(path, Box::new(BufReader::new(file)), file_len, want_dims)
    }

    /// The same for a file's `bytes` already in memory; `name` names it in messages.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>, want_dims: usize) -> Result<Self> {
        let len = bytes.len() as u64;
        Self::from_source(name, Box::new(std::io::Cursor::new(bytes)), len, want_dims)
    }

    fn from_source(path: &Path, mut source: Source, len: u64, want_dims: usize) -> Result<Self> {
        // Peeked, not consumed: the buffer holds the first bytes for either reader.
        let head = source.fill_buf().map_err(|e| Error::io(path, e))?;
        let gzip = head.len() >= 2 && head[..2] == GZIP_MAGIC;
        let mut stream = match gzip {
            true => Stream::Gzip(GzDecoder::new(source)),
            false => Stream::Raw(source),
        };
        let raw_len = (!gzip).then_some(len);
        let io_problem = |e| stream_error(path, gzip, e);
        let dims = read_header(path, stream.reader(), want_dims, &io_problem)?;
        let count = data_bytes(path, &dims, raw_len)?;
        Ok(IdxFile {
            path: path.to_path_buf(),
            dims,
            count,
            stream,
        })
    }

    /// Reads the elements: exactly as many as the header promised, growing the
    /// buffer only as real bytes arrive, after checking the host can hold them.
    pub fn read(mut self) -> Result<IdxArray> {
        let (path, count, dims) = (&self.path, self.count, &self.dims);
        let gzip = matches!(self.stream, Stream::Gzip(_));
        check_host_memory(count, &format!("{}", path.display()))?;
        // Read at most one byte more than promised: that byte, if present, is trailing data.
        let mut data = Vec::new();
        self.stream
            .reader()
            .take(count.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| stream_error(path, gzip, e))?;
        let present = data.len() as u64;
        if present != count {
            return Err(Error::data(
                path,
                if present < count {
                    format!("header says {dims:?} = {count} bytes of data, only {present} present (truncated)")
                } else {
                    format!("header says {dims:?} = {count} bytes of data, but more follow (trailing data)")
                },
            ));
        }
        if let Stream::Gzip(decoder) = self.stream {
            let mut rest = decoder.into_inner();
            let mut byte = [0u8; 1];
            if read_up_to(&mut rest, &mut byte).map_err(|e| Error::io(path, e))? > 0 {
                return Err(Error::data(
                    path,
                    "trailing data after the gzip stream (one gzip member is expected)",
                ));
            }
        }
        Ok(IdxArray {
            dims: self.dims,
            data,
        })
    }
}

impl Stream {
    fn reader(&mut self) -> &mut dyn Read {
        match self {
            Stream::Raw(r) => r,
            Stream::Gzip(r) => r,
        }
    }
}

/// A read error in a gzip stream is the data's fault; in a raw file, the system's.
fn stream_error(path: &Path, gzip: bool, e: std::io::Error) -> Error {
    if gzip {
        Error::data(path, format!("corrupt or truncated gzip stream: {e}"))
    } else {
        Error::io(path, e)
    }
}

/// The magic number (u8 elements, `want_dims` dimensions) and the dimensions.
fn read_header(
    path: &Path,
    stream: &mut dyn Read,
    want_dims: usize,
    io_problem: &dyn Fn(std::io::Error) -> Error,
) -> Result<Vec<usize>> {
    let mut magic = [0u8; 4];
    let got = read_up_to(stream, &mut magic).map_err(io_problem)?;
    if got < 4 {
        return Err(Error::data(
            path,
            format!("file too short for an IDX header ({got} bytes)"),
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::data(
            path,
            format!(
                "not an IDX file: magic {:02x}{:02x}{:02x}{:02x} does not start with 0000",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != TYPE_U8 {
        return Err(Error::data(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (only 0x08, unsigned bytes)",
                magic[2]
            ),
        ));
    }
    let ndims = magic[3] as usize;
    if ndims != want_dims {
        let expected_magic = 0x0800 + want_dims;
        return Err(Error::data(
            path,
            format!(
                "wrong magic 0x{:08x}: expected 0x{expected_magic:08x} ({want_dims} dimension{}), found {ndims}",
                u32::from_be_bytes(magic),
                if want_dims == 1 { "" } else { "s" }
            ),
        ));
    }
    let mut header = vec![0u8; 4 * ndims];
    let got = read_up_to(stream, &mut header).map_err(io_problem)?;
    if got < header.len() {
        return Err(Error::data(
            path,
            format!(
                "truncated header: {ndims} dimensions need {} bytes, found {got}",
                4 * ndims
            ),
        ));
    }
    Ok(header
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect())
}

/// The data bytes `dims` promise, refused above `MAX_IDX_BYTES` and, for a raw file
/// of `raw_len` bytes, unless exactly that many follow the header.
fn data_bytes(path: &Path, dims: &[usize], raw_len: Option<u64>) -> Result<u64> {
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| Error::data(path, format!("dimensions {dims:?} overflow")))?;
    if count > MAX_IDX_BYTES {
        return Err(Error::data(
            path,
            format!("header claims {dims:?} = {count} bytes; at most {MAX_IDX_BYTES} bytes per file are supported"),
        ));
    }
    let header_len = 4 + 4 * dims.len() as u64;
    if let Some(len) = raw_len {
        let present = len.saturating_sub(header_len);
        if present != count {
            return Err(Error::data(
                path,
                format!(
                    "header says {dims:?} = {count} bytes of data, file holds {present} ({})",
                    if present < count {
                        "truncated"
                    } else {
                        "trailing data"
                    }
                ),
            ));
        }
    }
    Ok(count)
}

/// Like `read_exact`, but reports how much was read instead of failing at EOF.
fn read_up_to(stream: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encodes an IDX u8 array (used by tests and tools that write data sets).
pub fn encode_idx_u8(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// The four files of a data directory, by their standard names.
const FILES: [(&str, &str); 4] = [
    ("train-images", "idx3-ubyte"),
    ("train-labels", "idx1-ubyte"),
    ("t10k-images", "idx3-ubyte"),
    ("t10k-labels", "idx1-ubyte"),
];

/// Finds `stem-suffix`, `stem.suffix`, each raw or `.gz`, in `dir`.
fn find_file(dir: &Path, stem: &str, suffix: &str) -> Result<PathBuf> {
    let names = [
        format!("{stem}-{suffix}"),
        format!("{stem}-{suffix}.gz"),
        format!("{stem}.{suffix}"),
        format!("{stem}.{suffix}.gz"),
    ];
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::data(
                dir,
                format!("no {} file (looked for {})", stem, names.join(", ")),
            )
        })
}

/// True when `dir` looks like a data directory (it holds a training-image file).
pub fn is_data_dir(dir: &Path) -> bool {
    dir.is_dir() && find_file(dir, FILES[0].0, FILES[0].1).is_ok()
}

/// Reads one image/label pair and checks that they agree.
fn load_split(
    dir: &Path,
    images: (&str, &str),
    labels: (&str, &str),
) -> Result<(Split, usize, usize)> {
    let img_path = find_file(dir, images.0, images.1)?;
    let lbl_path = find_file(dir, labels.0, labels.1)?;
    // Both headers first: a label file that disagrees with a 4 GiB image header is
    // reported before any image is inflated.
    let img = IdxFile::open(&img_path, 3)?;
    let lbl = IdxFile::open(&lbl_path, 1)?;
    pair(img, &img_path, lbl, &lbl_path)
}

/// An image file and a label file whose headers are read, checked to agree, then
/// read as one split.
fn pair(
    img: IdxFile,
    img_path: &Path,
    lbl: IdxFile,
    lbl_path: &Path,
) -> Result<(Split, usize, usize)> {
    let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
    if n == 0 {
        return Err(Error::data(img_path, "holds no images"));
    }
    if rows == 0 || cols == 0 {
        return Err(Error::data(
            img_path,
            format!("image size {rows}×{cols} is empty"),
        ));
    }
    if lbl.dims[0] != n {
        return Err(Error::data(
            lbl_path,
            format!(
                "{} labels, but {} holds {n} images",
                lbl.dims[0],
                img_path.display()
            ),
        ));
    }
    let lbl = lbl.read()?;
    let split = Split {
        features: Features::U8(img.read()?.data),
        targets: lbl.data.into(),
        weights: None,
        width: rows * cols,
    };
    Ok((split, rows, cols))
}

/// The standard file names, for messages.
pub fn expected_names() -> String {
    FILES
        .map(|(stem, suffix)| format!("{stem}-{suffix}[.gz]"))
        .join(", ")
}

/// The four IDX files of a data set, held in memory (a page's uploads or
/// downloads), each raw or gzip-compressed: (name, bytes) for the training images
/// and labels, then the test images and labels.
pub fn load_bytes(files: [(PathBuf, Vec<u8>); 4]) -> Result<Dataset> {
    let [train_images, train_labels, test_images, test_labels] = files;
    let names = [
        test_images.0.clone(),
        train_labels.0.clone(),
        test_labels.0.clone(),
    ];
    let train = split_from(train_images, train_labels)?;
    let test = split_from(test_images, test_labels)?;
    let loaded = both_splits(train, test, names)?;
    let ds = loaded.into_dataset(Path::new("uploaded IDX files"), &Default::default())?;
    ds.check()?;
    Ok(ds)
}

/// The training and test splits (each with its image size) as one data set of
/// gray images of one size; `names` are the test image file and the two label
/// files, for messages.
fn both_splits(
    (train, rows, cols): (Split, usize, usize),
    (test, test_rows, test_cols): (Split, usize, usize),
    [test_images, train_labels, test_labels]: [PathBuf; 3],
) -> Result<Loaded> {
    if (test_rows, test_cols) != (rows, cols) {
        return Err(Error::data(
            test_images,
            format!("test images are {test_rows}×{test_cols}, training images {rows}×{cols}"),
        ));
    }
    Ok(Loaded {
        train,
        test,
        shape: (1, rows, cols),
        layout: Layout::Planes,
        task: crate::task::Task::Classify,
        classes: None,
        class_names: None,
        label_files: [train_labels, test_labels],
        feature_names: None,
    })
}

/// One split from in-memory image and label files.
fn split_from(
    (img_name, img): (PathBuf, Vec<u8>),
    (lbl_name, lbl): (PathBuf, Vec<u8>),
) -> Result<(Split, usize, usize)> {
    let img = IdxFile::from_bytes(&img_name, img, 3)?;
    let lbl = IdxFile::from_bytes(&lbl_name, lbl, 1)?;
    pair(img, &img_name, lbl, &lbl_name)
}

/// Loads and validates a data directory of IDX files (u8 images of any size,
/// EMNIST's included).
pub(crate) fn load_dir(dir: &Path) -> Result<Loaded> {
    let names = [
        find_file(dir, FILES[2].0, FILES[2].1)?,
        find_file(dir, FILES[1].0, FILES[1].1)?,
        find_file(dir, FILES[3].0, FILES[3].1)?,
    ];
    let train = load_split(dir, FILES[0], FILES[1])?;
    let test = load_split(dir, FILES[2], FILES[3])?;
    both_splits(train, test, names)
}
