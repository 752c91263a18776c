//! Reading untrusted files without trusting them, writing files so that no crash
//! or kill can leave a torn one, and checking memory before a large allocation.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, fsynced
/// and renamed over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        replace_with(&tmp, path)
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Fails early, naming the path, when `path` could not be written later: its
/// directory is missing or not writable. Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if path.is_dir() {
        return Err(Error::Usage(format!("{}: is a directory", path.display())));
    }
    let probe = dir.join(format!(".gpu-mlp-probe.{}.tmp", std::process::id()));
    File::create(&probe).map_err(|e| Error::io(path, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
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

/// Fails with a clear error, instead of an out-of-memory abort, when `bytes` exceed
/// the memory the OS reports available (Linux; elsewhere nothing is checked).
pub fn check_host_memory(bytes: u64, what: &str) -> Result<()> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    });
    match available {
        Some(avail) if bytes > avail => Err(Error::Resources(format!(
            "{what} needs about {:.1} GiB of memory, but only {:.1} GiB are available",
            bytes as f64 / (1u64 << 30) as f64,
            avail as f64 / (1u64 << 30) as f64
        ))),
        _ => Ok(()),
    }
}
