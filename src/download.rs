//! `gpu-mlp download mnist|fashion-mnist|kmnist|cifar10|cifar100`: the files from
//! a list of public mirrors, each verified against its known checksum (SHA-256, or
//! the MD5 its publisher lists) and written atomically, so that the cache only ever
//! holds complete, verified files. An archive (CIFAR's .tar.gz) is verified whole,
//! then only its expected members are taken out of it.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::{replace_with, temp_path, Output};

/// One file to fetch: its name, size in bytes and checksum.
#[derive(Clone, Copy, Debug)]
pub struct RemoteFile {
    /// File name on the mirrors.
    pub name: &'static str,
    /// Size in bytes (a transfer of more than twice this is cut off).
    pub bytes: u64,
    /// The file's checksum, hex.
    pub checksum: Checksum,
}

/// A file's known checksum, lowercase hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-256.
    Sha256(&'static str),
    /// MD5, where it is what the publisher lists (CIFAR).
    Md5(&'static str),
}

/// Both digests of a file, computed as it arrives.
struct Digests {
    sha256: String,
    md5: String,
}

impl Checksum {
    fn expected(self) -> &'static str {
        match self {
            Checksum::Sha256(h) | Checksum::Md5(h) => h,
        }
    }

    fn of(self, d: &Digests) -> &str {
        match self {
            Checksum::Sha256(_) => &d.sha256,
            Checksum::Md5(_) => &d.md5,
        }
    }
}

/// A data set `gpu-mlp download` knows: its mirrors and its files.
#[derive(Clone, Copy, Debug)]
pub struct KnownDataset {
    /// The name on the command line (`mnist`, `fashion-mnist`, …).
    pub name: &'static str,
    /// Base URLs, tried in order.
    pub mirrors: &'static [&'static str],
    /// The files: four IDX files, or one archive.
    pub files: &'static [RemoteFile],
    /// For an archive, the members to take out of it (paths inside it), each
    /// written into the directory under its own file name.
    pub extract: &'static [&'static str],
}

/// MNIST's handwritten digits.
pub const MNIST: KnownDataset = KnownDataset {
    name: "mnist",
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    files: &[
        RemoteFile {
            name: "train-images-idx3-ubyte.gz",
            bytes: 9_912_422,
            checksum: Checksum::Sha256(
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
        },
        RemoteFile {
            name: "train-labels-idx1-ubyte.gz",
            bytes: 28_881,
            checksum: Checksum::Sha256(
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
        },
        RemoteFile {
            name: "t10k-images-idx3-ubyte.gz",
            bytes: 1_648_877,
            checksum: Checksum::Sha256(
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
        },
        RemoteFile {
            name: "t10k-labels-idx1-ubyte.gz",
            bytes: 4_542,
            checksum: Checksum::Sha256(
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        },
    ],
    extract: &[],
};

/// Zalando's Fashion-MNIST.
pub const FASHION_MNIST: KnownDataset = KnownDataset {
    name: "fashion-mnist",
    mirrors: &[
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    files: &[
        RemoteFile {
            name: "train-images-idx3-ubyte.gz",
            bytes: 26_421_880,
            checksum: Checksum::Sha256(
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            ),
        },
        RemoteFile {
            name: "train-labels-idx1-ubyte.gz",
            bytes: 29_515,
            checksum: Checksum::Sha256(
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            ),
        },
        RemoteFile {
            name: "t10k-images-idx3-ubyte.gz",
            bytes: 4_422_102,
            checksum: Checksum::Sha256(
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            ),
        },
        RemoteFile {
            name: "t10k-labels-idx1-ubyte.gz",
            bytes: 5_148,
            checksum: Checksum::Sha256(
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            ),
        },
    ],
    extract: &[],
};

/// Kuzushiji-MNIST (ROIS-DS Center for Open Data in the Humanities), cursive
/// Japanese characters in MNIST's format.
pub const KMNIST: KnownDataset = KnownDataset {
    name: "kmnist",
    mirrors: &[
        "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    ],
    files: &[
        RemoteFile {
            name: "train-images-idx3-ubyte.gz",
            bytes: 18_165_135,
            checksum: Checksum::Sha256(
                "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            ),
        },
        RemoteFile {
            name: "train-labels-idx1-ubyte.gz",
            bytes: 29_497,
            checksum: Checksum::Sha256(
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            ),
        },
        RemoteFile {
            name: "t10k-images-idx3-ubyte.gz",
            bytes: 3_041_136,
            checksum: Checksum::Sha256(
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            ),
        },
        RemoteFile {
            name: "t10k-labels-idx1-ubyte.gz",
            bytes: 5_120,
            checksum: Checksum::Sha256(
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
            ),
        },
    ],
    extract: &[],
};

/// CIFAR-10's binary version, from its authors' page (the MD5 they publish).
pub const CIFAR10: KnownDataset = KnownDataset {
    name: "cifar10",
    mirrors: &["https://www.cs.toronto.edu/~kriz/"],
    files: &[RemoteFile {
        name: "cifar-10-binary.tar.gz",
        bytes: 170_052_171,
        checksum: Checksum::Md5("c32a1d4ab5d03f1284b67883e8d87530"),
    }],
    extract: &[
        "cifar-10-batches-bin/data_batch_1.bin",
        "cifar-10-batches-bin/data_batch_2.bin",
        "cifar-10-batches-bin/data_batch_3.bin",
        "cifar-10-batches-bin/data_batch_4.bin",
        "cifar-10-batches-bin/data_batch_5.bin",
        "cifar-10-batches-bin/test_batch.bin",
        "cifar-10-batches-bin/batches.meta.txt",
    ],
};

/// CIFAR-100's binary version, from its authors' page (the MD5 they publish).
pub const CIFAR100: KnownDataset = KnownDataset {
    name: "cifar100",
    mirrors: &["https://www.cs.toronto.edu/~kriz/"],
    files: &[RemoteFile {
        name: "cifar-100-binary.tar.gz",
        bytes: 168_513_733,
        checksum: Checksum::Md5("03b5dce01913d631647c71ecec9e9cb8"),
    }],
    extract: &[
        "cifar-100-binary/train.bin",
        "cifar-100-binary/test.bin",
        "cifar-100-binary/fine_label_names.txt",
        "cifar-100-binary/coarse_label_names.txt",
    ],
};

/// Every data set `download` knows.
pub const KNOWN: [KnownDataset; 5] = [MNIST, FASHION_MNIST, KMNIST, CIFAR10, CIFAR100];

/// The data set of that name.
pub fn known(name: &str) -> Option<KnownDataset> {
    KNOWN.into_iter().find(|d| d.name == name)
}

fn digests_of(path: &Path) -> std::io::Result<Digests> {
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
    }
    Ok(Digests {
        sha256: hex(&sha.finalize()),
        md5: hex(&md5.finalize()),
    })
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
) -> std::result::Result<Digests, String> {
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let chunks = read_in_background(response.into_body().into_reader());
    let mut out = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
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
        sha.update(&chunk);
        md5.update(&chunk);
        out.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    out.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(Digests {
        sha256: hex(&sha.finalize()),
        md5: hex(&md5.finalize()),
    })
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
    for file in files {
        let agent = agent_for(file);
        let target = dir.join(file.name);
        let present = target.is_file()
            && file
                .checksum
                .of(&digests_of(&target).map_err(|e| Error::io(&target, e))?)
                == file.checksum.expected();
        if present {
            say(&format!("{}: present and verified", file.name));
            continue;
        }
        fetch_file(&agent, dir, mirrors, file, stall, &mut say)?;
    }
    Ok(())
}

/// The slowest transfer that still counts as working, for the body's deadline.
const SLOWEST_BYTES_PER_SECOND: u64 = 4 << 10;

/// An agent for one file. The stall guard (`fetch`) ends a transfer that
/// delivers nothing; the body's deadline only ends the connection of a reader
/// abandoned after a stall, so it is sized for the file at a crawl (CIFAR-10's
/// 170 MB at 4 KiB/s: 11.5 hours), never cutting off a slow link that works.
fn agent_for(file: &RemoteFile) -> ureq::Agent {
    let body = body_deadline(file.bytes);
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(body))
        .build()
        .into()
}

/// How long a body of `bytes` may take: the file at `SLOWEST_BYTES_PER_SECOND`,
/// at least 10 minutes.
fn body_deadline(bytes: u64) -> Duration {
    Duration::from_secs((bytes / SLOWEST_BYTES_PER_SECOND).max(600))
}

/// `file` from the first mirror that serves it with the right checksum, into
/// `dir` (atomically: a temporary file renamed into place).
fn fetch_file(
    agent: &ureq::Agent,
    dir: &Path,
    mirrors: &[String],
    file: &RemoteFile,
    stall: Duration,
    say: &mut impl FnMut(&str),
) -> Result<()> {
    let target = dir.join(file.name);
    // Locked against a second download of the same file, with what killed runs
    // left of it removed.
    let _lock = Output::prepare(&target, "download")?;
    let tmp = temp_path(&target);
    let mut failures = Vec::new();
    for mirror in mirrors {
        let url = format!("{mirror}{}", file.name);
        say(&format!("{}: fetching {url}", file.name));
        // A little slack over the known size for a mirror that recompressed it;
        // the checksum decides anyway.
        let limit = file.bytes.saturating_mul(2).max(1 << 20);
        match fetch(agent, &url, &tmp, limit, stall) {
            Ok(sums) if file.checksum.of(&sums) == file.checksum.expected() => {
                return replace_with(&tmp, &target).map_err(|e| Error::io(&target, e));
            }
            Ok(sums) => failures.push(format!(
                "{url}: checksum {}, expected {}",
                file.checksum.of(&sums),
                file.checksum.expected()
            )),
            Err(e) => failures.push(format!("{url}: {e}")),
        }
        if let Some(failure) = failures.last() {
            say(&format!("{}: {failure}", file.name));
        }
        let _ = fs::remove_file(&tmp);
    }
    let _ = fs::remove_file(&tmp);
    Err(Error::Download(format!(
        "{}: could not fetch {} from any mirror: {}",
        dir.display(),
        file.name,
        failures.join("; ")
    )))
}

/// Makes sure `dir` holds `known`'s data: its files fetched and verified, and for
/// an archive its members taken out (the archive is removed afterwards; a
/// directory holding every member is left as it is).
pub fn fetch_dataset(
    dir: &Path,
    mirrors: &[String],
    known: &KnownDataset,
    stall: Duration,
    mut say: impl FnMut(&str),
) -> Result<()> {
    let names: Vec<&str> = known
        .extract
        .iter()
        .map(|m| m.rsplit('/').next().unwrap_or(m))
        .collect();
    if !names.is_empty() {
        if members_verified(dir, &names) {
            say(&format!("{}: present and verified", known.name));
            return Ok(());
        }
        if names.iter().any(|n| dir.join(n).exists()) {
            say(&format!(
                "{}: the extracted files are incomplete, changed or unrecorded: fetching the archive again",
                known.name
            ));
        }
    }
    fetch_files(dir, mirrors, known.files, stall, &mut say)?;
    if names.is_empty() {
        return Ok(());
    }
    let archive = dir.join(known.files[0].name);
    say(&format!(
        "{}: extracting {} files",
        known.files[0].name,
        known.extract.len()
    ));
    extract_members(&archive, dir, known.extract)?;
    record_members(dir, &names)?;
    fs::remove_file(&archive).map_err(|e| Error::io(&archive, e))
}

/// Beside the members taken out of a verified archive: each one's SHA-256 as
/// extracted (`sha256sum`'s format), so that a later run verifies them instead of
/// trusting that they exist.
pub const MEMBERS_RECORD: &str = ".gpu-mlp-members.sha256";

/// Writes `MEMBERS_RECORD` for the members `names` in `dir`.
fn record_members(dir: &Path, names: &[&str]) -> Result<()> {
    let mut text = String::new();
    for name in names {
        let path = dir.join(name);
        let d = digests_of(&path).map_err(|e| Error::io(&path, e))?;
        text.push_str(&format!("{}  {name}\n", d.sha256));
    }
    crate::files::write_atomically(&dir.join(MEMBERS_RECORD), text.as_bytes())
}

/// Whether every member of `names` in `dir` has the SHA-256 `MEMBERS_RECORD`
/// holds for it.
fn members_verified(dir: &Path, names: &[&str]) -> bool {
    let Ok(record) = crate::files::read_bounded(&dir.join(MEMBERS_RECORD), 1 << 16) else {
        return false;
    };
    let record = String::from_utf8_lossy(&record);
    let recorded = |name: &str| {
        record.lines().find_map(|l| {
            l.split_once("  ")
                .filter(|(_, n)| *n == name)
                .map(|(h, _)| h)
        })
    };
    names.iter().all(|name| {
        let sha = digests_of(&dir.join(name)).map(|d| d.sha256);
        matches!((recorded(name), sha), (Some(want), Ok(got)) if want == got)
    })
}

/// The largest member taken out of an archive (CIFAR's largest is 154 MB).
const MAX_MEMBER_BYTES: u64 = 1 << 30;

/// Writes the regular-file members `members` (paths inside the gzip-compressed tar
/// `archive`) into `dir` under their own file names, each atomically; anything
/// else in the archive (other files, links, absolute or `..` paths) is skipped.
pub fn extract_members(archive: &Path, dir: &Path, members: &[&str]) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let bad = |e: std::io::Error| Error::data(archive, format!("not a readable .tar.gz: {e}"));
    let mut found = vec![false; members.len()];
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let Some(i) = members.iter().position(|m| *m == path) else {
            continue;
        };
        if !entry.header().entry_type().is_file() || found[i] {
            continue;
        }
        let size = entry.size();
        if size > MAX_MEMBER_BYTES {
            return Err(Error::data(archive, format!("{path} claims {size} bytes")));
        }
        let target = dir.join(path.rsplit('/').next().unwrap_or(&path));
        let tmp = temp_path(&target);
        let mut out = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)
            .and_then(|n| out.sync_all().map(|_| n));
        match copied {
            Ok(n) if n == size => replace_with(&tmp, &target).map_err(|e| Error::io(&target, e))?,
            Ok(n) => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::data(
                    archive,
                    format!("{path} ends after {n} of {size} bytes"),
                ));
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(&target, e));
            }
        }
        found[i] = true;
    }
    let missing: Vec<&str> = members
        .iter()
        .zip(&found)
        .filter(|(_, &f)| !f)
        .map(|(m, _)| *m)
        .collect();
    if !missing.is_empty() {
        return Err(Error::data(
            archive,
            format!("has no {}", missing.join(", ")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A working link of 100 KB/s fetches CIFAR-10 (170 MB) within the body's
    /// deadline; before, a fixed 600 s cut off any link under ~283 KB/s.
    #[test]
    fn the_body_deadline_lets_a_slow_working_link_finish() {
        let bytes = CIFAR10.files[0].bytes;
        let at_100_kb = Duration::from_secs(bytes / 100_000);
        assert!(
            body_deadline(bytes) > at_100_kb,
            "{:?}",
            body_deadline(bytes)
        );
        assert_eq!(body_deadline(1000), Duration::from_secs(600));
    }
}
