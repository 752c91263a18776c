//! `gpu-mlp download mnist|fashion-mnist`: the four IDX files from a list of
//! public mirrors, each verified against its known SHA-256 and written atomically,
//! so that the cache only ever holds complete, verified files.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::replace_with;

/// One file to fetch: its name, size in bytes and SHA-256.
#[derive(Clone, Copy, Debug)]
pub struct RemoteFile {
    pub name: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct KnownDataset {
    pub name: &'static str,
    pub mirrors: &'static [&'static str],
    pub files: [RemoteFile; 4],
}

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

/// Fetches `url` into `tmp`, hashing as it goes, refusing more than `max_bytes`.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    tmp: &Path,
    max_bytes: u64,
) -> std::result::Result<String, String> {
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let mut body = response.into_body().into_reader();
    let mut out = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| format!("transfer broke off after {total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max_bytes {
            return Err(format!("more than the expected {max_bytes} bytes"));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    out.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Makes sure `dir` holds every file of `files`, verified, fetching what is missing
/// from `mirrors` in order (base URLs ending in '/'). Files already present with the
/// right checksum are kept. On failure nothing partial is left in `dir`.
pub fn fetch_files(
    dir: &Path,
    mirrors: &[String],
    files: &[RemoteFile],
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
        let tmp = dir.join(format!(".{}.{}.part", file.name, std::process::id()));
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
