//! `gpu-mlp download mnist|fashion-mnist`: the four IDX files from a list of
//! public mirrors, each verified against its known SHA-256 and written atomically,
//! so that the cache only ever holds complete, verified files.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::{replace_with, temp_path, Output};

/// One file to fetch: its name, size in bytes and SHA-256.
#[derive(Clone, Copy, Debug)]
pub struct RemoteFile {
    /// File name on the mirrors.
    pub name: &'static str,
    /// Size in bytes, checked before and after.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: &'static str,
}

/// A data set `gpu-mlp download` knows: its mirrors and its four files.
#[derive(Clone, Copy, Debug)]
pub struct KnownDataset {
    /// The name on the command line (`mnist`, `fashion-mnist`).
    pub name: &'static str,
    /// Base URLs, tried in order.
    pub mirrors: &'static [&'static str],
    /// The four IDX files, train images first.
    pub files: [RemoteFile; 4],
}

/// MNIST's handwritten digits.
pub const MNIST: KnownDataset = KnownDataset {
    name: "mnist",
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    files: [
        RemoteFile {
            name: "train-images-idx3-ubyte.gz",
            bytes: 9_912_422,
            sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        },
        RemoteFile {
            name: "train-labels-idx1-ubyte.gz",
            bytes: 28_881,
            sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        },
        RemoteFile {
            name: "t10k-images-idx3-ubyte.gz",
            bytes: 1_648_877,
            sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        },
        RemoteFile {
            name: "t10k-labels-idx1-ubyte.gz",
            bytes: 4_542,
            sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ],
};

/// Zalando's Fashion-MNIST.
pub const FASHION_MNIST: KnownDataset = KnownDataset {
    name: "fashion-mnist",
    mirrors: &[
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    files: [
        RemoteFile {
            name: "train-images-idx3-ubyte.gz",
            bytes: 26_421_880,
            sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        },
        RemoteFile {
            name: "train-labels-idx1-ubyte.gz",
            bytes: 29_515,
            sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        },
        RemoteFile {
            name: "t10k-images-idx3-ubyte.gz",
            bytes: 4_422_102,
            sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        },
        RemoteFile {
            name: "t10k-labels-idx1-ubyte.gz",
            bytes: 5_148,
            sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ],
};

/// The data set of that name.
pub fn known(name: &str) -> Option<KnownDataset> {
    [MNIST, FASHION_MNIST].into_iter().find(|d| d.name == name)
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a transfer may deliver nothing before the next mirror is tried.
pub const STALL: Duration = Duration::from_secs(30);

/// Fetches `url` into `tmp`, hashing as it goes, refusing more than `max_bytes`,
/// and giving up when no byte arrives for `stall`.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    tmp: &Path,
    max_bytes: u64,
    stall: Duration,
) -> std::result::Result<String, String> {
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let chunks = read_in_background(response.into_body().into_reader());
    let mut out = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let chunk = match chunks.recv_timeout(stall) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => return Err(format!("transfer broke off after {total} bytes: {e}")),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "transfer stalled: no data for {} s after {total} bytes",
                    stall.as_secs_f64()
                ))
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        total += chunk.len() as u64;
        if total > max_bytes {
            return Err(format!("more than the expected {max_bytes} bytes"));
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    out.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Reads `body` on a thread of its own and hands over its chunks, so that the
/// caller can notice a stalled transfer; the channel closes at the end of the body.
/// A reader abandoned after a stall ends with its connection's own timeout.
fn read_in_background(mut body: impl Read + Send + 'static) -> Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = sync_channel(4);
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; 1 << 16];
        match body.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    });
    rx
}

/// Makes sure `dir` holds every file of `files`, verified, fetching what is missing
/// from `mirrors` in order (base URLs ending in '/'). Files already present with the
/// right checksum are kept. On failure nothing partial is left in `dir`.
pub fn fetch_files(
    dir: &Path,
    mirrors: &[String],
    files: &[RemoteFile],
    stall: Duration,
    mut say: impl FnMut(&str),
) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .build()
        .into();
    for file in files {
        let target = dir.join(file.name);
        if target.is_file() && sha256_of(&target).map_err(|e| Error::io(&target, e))? == file.sha256
        {
            say(&format!("{}: present and verified", file.name));
            continue;
        }
        // Locked against a second download of the same file, with what killed runs
        // left of it removed.
        let _lock = Output::prepare(&target, "download")?;
        let tmp = temp_path(&target);
        let mut failures = Vec::new();
        let mut done = false;
        for mirror in mirrors {
            let url = format!("{mirror}{}", file.name);
            say(&format!("{}: fetching {url}", file.name));
            // A little slack over the known size for a mirror that recompressed it;
            // the checksum decides anyway.
            match fetch(
                &agent,
                &url,
                &tmp,
                file.bytes.saturating_mul(2).max(1 << 20),
                stall,
            ) {
                Ok(sum) if sum == file.sha256 => {
                    replace_with(&tmp, &target).map_err(|e| Error::io(&target, e))?;
                    done = true;
                    break;
                }
                Ok(sum) => {
                    failures.push(format!("{url}: checksum {sum}, expected {}", file.sha256))
                }
                Err(e) => failures.push(format!("{url}: {e}")),
            }
            if let Some(failure) = failures.last() {
                say(&format!("{}: {failure}", file.name));
            }
            let _ = fs::remove_file(&tmp);
        }
        let _ = fs::remove_file(&tmp);
        if !done {
            return Err(Error::Download(format!(
                "{}: could not fetch {} from any mirror: {}",
                dir.display(),
                file.name,
                failures.join("; ")
            )));
        }
    }
    Ok(())
}
