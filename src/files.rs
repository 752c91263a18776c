//! Reading untrusted files without trusting them, writing files so that no crash
//! or kill can leave a torn one, and checking memory before a large allocation.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, fsynced
/// and renamed over the target: a kill at any moment leaves the previous file or
/// the new one, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    // A file replaced keeps its mode: a private (0600) model stays private.
    let mode = fs::metadata(path).ok().map(|m| m.permissions());
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Some(mode) = mode {
            fs::set_permissions(&tmp, mode)?;
        }
        replace_with(&tmp, path)
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The longest file name the common file systems accept (NAME_MAX).
const NAME_MAX: usize = 255;

/// An output file made ready before any work that it would record: checked to be
/// writable where it will be written, locked against other runs writing the same
/// file, with what earlier killed runs left of it removed. The lock is released
/// when this is dropped (or the process ends, however it ends).
#[derive(Debug)]
pub struct Output {
    /// Where to write: the path given, or the file a symlink there points to.
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Output {
    /// Prepares `path` for writing; `what` names the flag for messages (`--save`).
    pub fn prepare(path: &Path, what: &str) -> Result<Self> {
        let bad = |problem: String| Error::Usage(format!("{what} {}: {problem}", path.display()));
        if path
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::MAIN_SEPARATOR)
        {
            return Err(bad("names a directory, not a file".into()));
        }
        let target = resolve_link(path).map_err(bad)?;
        match fs::metadata(&target) {
            Ok(m) if m.is_dir() => return Err(bad("is a directory".into())),
            // As the shell's `>` does for its user: a file made read-only is kept.
            Ok(m) if m.permissions().readonly() => {
                return Err(bad(
                    "is read-only: make it writable (chmod u+w) or name another file".into(),
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(bad(format!(
                    "is {}; outputs replace regular files only",
                    kind_of(&m)
                )))
            }
            _ => {}
        }
        let name = target
            .file_name()
            .ok_or_else(|| bad("not a file name".into()))?;
        if name.len() > NAME_MAX {
            return Err(bad(format!(
                "the file name is longer than {NAME_MAX} bytes"
            )));
        }
        let lock_path = hidden_sibling(&target, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&target, e))?;
        if lock.try_lock().is_err() {
            let holder = fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(bad(format!(
                "another gpu-mlp run is writing it ({}); wait for it or choose another file",
                holder.trim()
            )));
        }
        let mut lock = lock;
        let _ = lock.set_len(0);
        let _ = write!(lock, "pid {}", std::process::id());
        remove_stale_temps(&target);
        // The final rename needs a file created beside the target: try one now.
        let probe = temp_path(&target);
        File::create(&probe).map_err(|e| Error::io(&target, e))?;
        let _ = fs::remove_file(&probe);
        Ok(Output {
            path: target,
            lock_path,
            _lock: lock,
        })
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// `path`, or what the symlink at `path` points to (followed to its end).
fn resolve_link(path: &Path) -> std::result::Result<PathBuf, String> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .map_err(|e| format!("a symlink whose target cannot be reached ({e})")),
        _ => Ok(path.to_path_buf()),
    }
}

/// `.gpu-mlp-<hash of the name>.<suffix>` beside `target`: short whatever the
/// target's name, and recognisable as ours.
fn hidden_sibling(target: &Path, suffix: &str) -> PathBuf {
    let name = target.file_name().unwrap_or_default().as_encoded_bytes();
    // FNV-1a: stable across versions and platforms, which a std hasher is not.
    let hash = name.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    parent_dir(target).join(format!(".gpu-mlp-{hash:016x}.{suffix}"))
}

/// The temporary file `target` is written through by this process.
pub fn temp_path(target: &Path) -> PathBuf {
    let lock = hidden_sibling(target, "");
    lock.with_extension(format!("{}.tmp", std::process::id()))
}

/// Removes temporary files of `target` that runs killed mid-write left behind.
/// Only called by the holder of `target`'s lock, so none is still being written.
fn remove_stale_temps(target: &Path) {
    let prefix = hidden_sibling(target, "");
    let (Some(dir), Some(stem)) = (prefix.parent(), prefix.file_name()) else {
        return;
    };
    let stem = stem.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&stem) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Renames the complete, synced file `tmp` over `target` and makes the rename
/// itself durable (by syncing the directory, where the OS allows).
pub fn replace_with(tmp: &Path, target: &Path) -> std::io::Result<()> {
    fs::rename(tmp, target)?;
    if let Ok(d) = File::open(parent_dir(target)) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The directory a path's file lives in ("." for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `a` and `b` name the same existing file (through links, `..` and hard
/// links alike: the same device and inode on Unix, the same canonical path
/// elsewhere). A path that does not exist is no file yet, so it is the same as
/// nothing.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Opens an input file that must be a regular file (not a directory, FIFO or
/// device: those could block forever or never end) and returns it with its size,
/// known before anything is read.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::data(
            path,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::data(
            path,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `max_bytes`, after checking that the host
/// has the memory for it.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    if len > max_bytes {
        return Err(Error::data(
            path,
            format!("{len} bytes; at most {max_bytes} are accepted"),
        ));
    }
    check_host_memory(len, &path.display().to_string())?;
    let mut bytes = Vec::new();
    // The size can change under us: never read past what was checked.
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

/// The most host memory a run may take, where set ([`set_host_memory_limit`]).
static HOST_MEMORY_LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Caps the memory [`check_host_memory`] lets a run take below what the OS
/// reports available (a shared machine's share; the CLI's `GPU_MLP_HOST_MEMORY`).
/// Set once, for the whole process.
pub fn set_host_memory_limit(bytes: u64) {
    let _ = HOST_MEMORY_LIMIT.set(bytes);
}

/// Fails with a clear error, instead of an out-of-memory abort, when `bytes` exceed
/// the memory the OS reports available (Linux; elsewhere nothing is checked) or
/// the limit set.
pub fn check_host_memory(bytes: u64, what: &str) -> Result<()> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    });
    let available = match (available, HOST_MEMORY_LIMIT.get()) {
        (Some(a), Some(&l)) => Some(a.min(l)),
        (a, l) => a.or(l.copied()),
    };
    match available {
        Some(avail) if bytes > avail => Err(Error::Resources(format!(
            "{what} needs about {} of memory, but only {} are available",
            size_text(bytes),
            size_text(avail)
        ))),
        _ => Ok(()),
    }
}

/// A byte count for messages: "1.5 GiB", "340.0 MiB", "12 KiB".
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{} KiB", b.div_ceil(1024)),
    }
}
