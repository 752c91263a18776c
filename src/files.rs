//! Writing files so that no crash or kill can leave a torn one.

use std::fs::{self, File};
use std::io::Write;
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
