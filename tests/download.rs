//! Downloads against a local HTTP server on 127.0.0.1 that this test starts and
//! feeds with files it wrote: good files, a 404 that falls back to the next mirror,
//! a bad checksum, and a server that dies mid-transfer. Nothing touches the internet.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{temp_dir, write_idx_dir};
use gpu_mlp::download::{fetch_dataset, fetch_files, Checksum, KnownDataset, RemoteFile};

/// The stall timeout the tests use: long for a loopback transfer, short for a test.
const STALL: std::time::Duration = std::time::Duration::from_millis(700);
use sha2::{Digest, Sha256};

/// Serves `files` under /good/, 404s under /missing/, corrupted bytes under /bad/,
/// half a file before hanging up under /dies/, and half a file then a byte every
/// two seconds under /slow/. Returns the base URL and a request counter.
fn serve(files: Vec<(String, Vec<u8>)>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let files = Arc::clone(&files);
            std::thread::spawn(move || respond(stream, &files));
        }
    });
    (base, requests)
}

fn respond(mut stream: std::net::TcpStream, files: &[(String, Vec<u8>)]) {
    let mut line = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers.
    let mut h = String::new();
    while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
        h.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (route, name) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let body = files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.clone());
    match (route, body) {
        ("good", Some(b)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = stream.write_all(&b);
        }
        ("bad", Some(mut b)) => {
            let mid = b.len() / 2;
            b[mid] ^= 0xff;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = stream.write_all(&b);
        }
        ("dies", Some(b)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = stream.write_all(&b[..b.len() / 2]);
        }
        ("slow", Some(b)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = stream.write_all(&b[..b.len() / 2]);
            for &byte in &b[b.len() / 2..b.len() / 2 + 3] {
                std::thread::sleep(std::time::Duration::from_secs(2));
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
            }
        }
        _ => {
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

/// A synthetic data set as the four gzip files, and their specs.
fn dataset(name: &str) -> (Vec<(String, Vec<u8>)>, Vec<RemoteFile>) {
    let src = temp_dir(name);
    write_idx_dir(&src, &common::synthetic_dataset(51, 10, 4, 40, 20), true);
    let mut files = Vec::new();
    let mut specs = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        specs.push(RemoteFile {
            name: Box::leak(name.clone().into_boxed_str()),
            bytes: bytes.len() as u64,
            checksum: Checksum::Sha256(Box::leak(sha.into_boxed_str())),
        });
        files.push((name, bytes));
    }
    (files, specs)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map_or(Vec::new(), |d| {
        d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    });
    v.sort();
    v
}

#[test]
fn good_files_are_fetched_verified_and_kept() {
    let (files, specs) = dataset("dl_src_good");
    let (base, requests) = serve(files);
    let dir = temp_dir("dl_good");
    fetch_files(&dir, &[format!("{base}/good/")], &specs, STALL, |_| {}).unwrap();
    assert_eq!(entries(&dir).len(), 4, "{:?}", entries(&dir));
    gpu_mlp::data::load_dir(&dir, 10).unwrap();
    // A second run finds them verified and fetches nothing.
    let before = requests.load(Ordering::SeqCst);
    fetch_files(&dir, &[format!("{base}/good/")], &specs, STALL, |_| {}).unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), before);
}

#[test]
fn a_404_falls_back_to_the_next_mirror() {
    let (files, specs) = dataset("dl_src_404");
    let (base, _) = serve(files);
    let dir = temp_dir("dl_404");
    fetch_files(
        &dir,
        &[format!("{base}/missing/"), format!("{base}/good/")],
        &specs,
        STALL,
        |_| {},
    )
    .unwrap();
    assert_eq!(entries(&dir).len(), 4);
}

#[test]
fn a_bad_checksum_is_rejected_and_leaves_nothing_behind() {
    let (files, specs) = dataset("dl_src_bad");
    let (base, _) = serve(files);
    let dir = temp_dir("dl_bad");
    let err = fetch_files(&dir, &[format!("{base}/bad/")], &specs, STALL, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checksum") && err.contains("expected"),
        "{err}"
    );
    assert!(entries(&dir).is_empty(), "left behind: {:?}", entries(&dir));
}

#[test]
fn a_server_dying_mid_transfer_is_an_error_or_a_fallback() {
    let (files, specs) = dataset("dl_src_dies");
    let (base, _) = serve(files);
    let dir = temp_dir("dl_dies");
    let err = fetch_files(&dir, &[format!("{base}/dies/")], &specs, STALL, |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("could not fetch") && err.contains("/dies/"),
        "{err}"
    );
    assert!(entries(&dir).is_empty(), "left behind: {:?}", entries(&dir));
    fetch_files(
        &dir,
        &[format!("{base}/dies/"), format!("{base}/good/")],
        &specs,
        STALL,
        |_| {},
    )
    .unwrap();
    assert_eq!(entries(&dir).len(), 4);
}

#[test]
fn the_cli_reports_unreachable_mirrors_and_data_names_resolve_to_the_cache() {
    let (files, _) = dataset("dl_src_cli");
    let (base, _) = serve(files);
    let dir = temp_dir("dl_cli");
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args([
            "download",
            "mnist",
            "--dir",
            dir.to_str().unwrap(),
            "--mirror",
            &format!("{base}/missing"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("train-images-idx3-ubyte.gz") && stderr.contains("HTTP 404"),
        "{stderr}"
    );
    assert!(entries(&dir).is_empty());

    // Without --dir, $GPU_MLP_DATA (the directory train reads) is where files go.
    let data_env = temp_dir("dl_data_env");
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args([
            "download",
            "fashion-mnist",
            "--mirror",
            &format!("{base}/missing/"),
        ])
        .env("GPU_MLP_DATA", &data_env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&data_env.display().to_string()));

    // --data mnist finds a data set in the cache.
    let cache = temp_dir("dl_cache");
    write_idx_dir(
        &cache.join("mnist"),
        &common::synthetic_dataset(52, 10, 4, 50, 20),
        true,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args([
            "train", "--cpu", "--data", "mnist", "--epochs", "1", "--hidden", "8",
        ])
        .env("GPU_MLP_CACHE", &cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&cache.join("mnist").display().to_string())
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["download", "emnist"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kmnist, cifar10, cifar100"));

    // KMNIST's pinned checksums refuse files that are not KMNIST's.
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["download", "kmnist", "--dir", dir.to_str().unwrap()])
        .args(["--mirror", &format!("{base}/good/")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("checksum") && stderr.contains("51467d22"),
        "{stderr}"
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
}

/// A CIFAR-10-style .tar.gz of `records` per batch, with members that must not be
/// extracted: a path escaping the directory, a symbolic link, an unrelated file.
fn cifar_archive(records: usize) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, data).unwrap();
    };
    let batch: Vec<u8> = (0..records)
        .flat_map(|i| std::iter::once((i % 10) as u8).chain((0..3072).map(move |p| (p + i) as u8)))
        .collect();
    for b in 1..=5 {
        add(&format!("cifar-10-batches-bin/data_batch_{b}.bin"), &batch);
    }
    add("cifar-10-batches-bin/test_batch.bin", &batch);
    add(
        "cifar-10-batches-bin/batches.meta.txt",
        b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
    );
    add("cifar-10-batches-bin/readme.html", b"<html>");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    tar.append_link(&mut h, "cifar-10-batches-bin/link", "/etc/passwd")
        .unwrap();
    let raw = tar.into_inner().unwrap();
    common::gzip_bytes(&raw)
}

#[test]
fn an_archive_is_verified_by_md5_and_only_its_members_are_extracted() {
    use md5::{Digest, Md5};
    let archive = cifar_archive(20);
    let md5: String = Md5::digest(&archive)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (base, requests) = serve(vec![("cifar-10-binary.tar.gz".into(), archive.clone())]);
    let known = KnownDataset {
        name: "cifar10",
        mirrors: &[],
        files: Box::leak(Box::new([RemoteFile {
            name: "cifar-10-binary.tar.gz",
            bytes: archive.len() as u64,
            checksum: Checksum::Md5(Box::leak(md5.into_boxed_str())),
        }])),
        extract: gpu_mlp::download::CIFAR10.extract,
    };
    let dir = temp_dir("dl_archive");
    let mirrors = [format!("{base}/missing/"), format!("{base}/good/")];
    fetch_dataset(&dir, &mirrors, &known, STALL, |_| {}).unwrap();
    let mut want: Vec<String> = known
        .extract
        .iter()
        .map(|m| m.rsplit('/').next().unwrap().to_string())
        .collect();
    want.push(gpu_mlp::download::MEMBERS_RECORD.to_string());
    want.sort();
    assert_eq!(
        entries(&dir),
        want,
        "only the members and their checksums, and no archive, are left"
    );
    let ds = gpu_mlp::data::load(&dir, &Default::default()).unwrap();
    assert_eq!(
        (
            ds.train.len(),
            ds.channels,
            ds.class_names.unwrap()[9].as_str()
        ),
        (100, 3, "j")
    );
    // A second run finds the files verified and fetches nothing.
    let before = requests.load(Ordering::SeqCst);
    fetch_dataset(&dir, &mirrors, &known, STALL, |_| {}).unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), before);
    // A member changed (one byte), or files without their record, are fetched and
    // extracted again: running download repairs the directory.
    let member = dir.join("test_batch.bin");
    let good = std::fs::read(&member).unwrap();
    let mut changed = good.clone();
    changed[100] ^= 1;
    for damage in ["member", "record"] {
        match damage {
            "member" => std::fs::write(&member, &changed).unwrap(),
            _ => std::fs::remove_file(dir.join(gpu_mlp::download::MEMBERS_RECORD)).unwrap(),
        }
        let mut said = Vec::new();
        fetch_dataset(&dir, &mirrors, &known, STALL, |m| said.push(m.to_string())).unwrap();
        assert!(
            requests.load(Ordering::SeqCst) > before,
            "{damage}: nothing fetched"
        );
        assert!(
            said.iter()
                .any(|m| m.contains("fetching the archive again")),
            "{said:?}"
        );
        assert_eq!(
            std::fs::read(&member).unwrap(),
            good,
            "{damage}: not repaired"
        );
        assert_eq!(entries(&dir), want);
    }

    // A corrupted archive fails its checksum; nothing is left behind.
    let dir = temp_dir("dl_archive_bad");
    let err = fetch_dataset(&dir, &[format!("{base}/bad/")], &known, STALL, |_| {}).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
}

#[test]
fn a_stalled_transfer_moves_on_to_the_next_mirror() {
    let (files, specs) = dataset("dl_src_slow");
    let (base, _) = serve(files);
    let dir = temp_dir("dl_slow");
    let mut said = Vec::new();
    fetch_files(
        &dir,
        &[format!("{base}/slow/"), format!("{base}/good/")],
        &specs,
        STALL,
        |line| said.push(line.to_string()),
    )
    .unwrap();
    assert_eq!(entries(&dir).len(), 4, "{:?}", entries(&dir));
    gpu_mlp::data::load_dir(&dir, 10).unwrap();
    // Each file went to /slow/ first, stalled there, and came from /good/.
    let stalled = said
        .iter()
        .filter(|l| l.contains("/slow/") && l.contains("stalled"));
    assert_eq!(stalled.count(), 4, "{said:?}");
}
