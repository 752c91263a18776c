//! The data readers: round trips of every format (NumPy .npz stored and deflated in
//! every dtype, CSV with quotes and string labels, CIFAR-10/100 records, class-name
//! files) and hostile variants of each, refused with an error that names the file
//! and the problem, without large allocations.

mod common;

use std::path::{Path, PathBuf};

use common::{npy, temp_dir, write_npz};
use gpu_mlp::data::{self, Dtype, Features, Layout, LoadOptions};

fn load(path: &Path) -> gpu_mlp::Result<gpu_mlp::Dataset> {
    data::load(path, &LoadOptions::default())
}

fn load_with(path: &Path, options: LoadOptions) -> gpu_mlp::Result<gpu_mlp::Dataset> {
    data::load(path, &options)
}

#[track_caller]
fn refused(result: gpu_mlp::Result<gpu_mlp::Dataset>, needles: &[&str]) -> String {
    let msg = result
        .expect_err("the reader accepted bad data")
        .to_string();
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not say {n:?}");
    }
    msg
}

// ---------------------------------------------------------------- npz

fn le<T: Copy, const N: usize>(values: &[T], to: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to(v)).collect()
}

/// A Keras-style archive: `n_train`/`n_test` examples of `shape`, features as
/// `x` gives them (descr, bytes per example), labels 0..classes as i64.
fn keras_npz(path: &Path, shape: &[usize], x: (&str, &dyn Fn(usize) -> Vec<u8>), deflate: bool) {
    let (descr, example) = x;
    let (n_train, n_test) = (6, 4);
    let labels = |n: usize| {
        le(
            &(0..n as i64).map(|i| i % 3).collect::<Vec<_>>(),
            i64::to_le_bytes,
        )
    };
    let xs = |n: usize, from: usize| (from..from + n).flat_map(example).collect::<Vec<u8>>();
    let dims = |n: usize| [&[n][..], shape].concat();
    write_npz(
        path,
        &[
            ("x_train", npy(descr, &dims(n_train), &xs(n_train, 0))),
            ("y_train", npy("<i8", &[n_train], &labels(n_train))),
            ("x_test", npy(descr, &dims(n_test), &xs(n_test, 100))),
            ("y_test", npy("<i8", &[n_test], &labels(n_test))),
        ],
        deflate,
    );
}

#[test]
fn npz_round_trips_every_feature_dtype_stored_and_deflated() {
    let dir = temp_dir("npz_round_trip");
    let width = 2 * 3;
    for deflate in [false, true] {
        let path = dir.join(format!("bytes_{deflate}.npz"));
        let example = |i: usize| (0..width).map(|j| (i * 7 + j) as u8).collect();
        keras_npz(&path, &[2, 3], ("|u1", &example), deflate);
        let ds = load(&path).unwrap();
        assert_eq!((ds.rows, ds.cols, ds.channels, ds.classes), (2, 3, 1, 3));
        assert_eq!(
            ds.train.features.as_u8().unwrap()[width..2 * width],
            [7, 8, 9, 10, 11, 12]
        );
        assert_eq!(ds.test.labels(), [0, 1, 2, 0]);

        let value = |i: usize, j: usize| i as f64 * 0.5 - j as f64 * 0.25;
        type Encode = Box<dyn Fn(usize) -> Vec<u8>>;
        let encodings: [(&str, Encode); 4] = [
            (
                "<f4",
                Box::new(move |i| {
                    (0..width)
                        .flat_map(|j| (value(i, j) as f32).to_le_bytes())
                        .collect()
                }),
            ),
            (
                ">f4",
                Box::new(move |i| {
                    (0..width)
                        .flat_map(|j| (value(i, j) as f32).to_be_bytes())
                        .collect()
                }),
            ),
            (
                "<f8",
                Box::new(move |i| (0..width).flat_map(|j| value(i, j).to_le_bytes()).collect()),
            ),
            (
                "<i4",
                Box::new(move |i| {
                    (0..width)
                        .flat_map(|j| ((i * 10 + j) as i32 - 20).to_le_bytes())
                        .collect()
                }),
            ),
        ];
        for (descr, bytes) in &encodings {
            let path = dir.join(format!("floats_{deflate}_{}.npz", &descr[1..]));
            keras_npz(&path, &[width], (descr, bytes.as_ref()), deflate);
            let ds = load(&path).unwrap();
            assert_eq!(ds.layout, Layout::Table, "{descr}");
            let Features::F32(x) = &ds.train.features else {
                panic!("{descr}: not floats")
            };
            let want: Vec<f32> = match *descr {
                "<i4" => (0..width).map(|j| (10 + j) as f32 - 20.0).collect(),
                _ => (0..width).map(|j| value(1, j) as f32).collect(),
            };
            assert_eq!(&x[width..2 * width], &want[..], "{descr}");
        }
    }
}

#[test]
fn npz_image_layouts_and_label_dtypes_are_recognised() {
    let dir = temp_dir("npz_layouts");
    let (n, side) = (5, 4);
    let x = |shape: &[usize]| npy("|u1", shape, &vec![9u8; shape.iter().product()]);
    for (labels, descr, shape_hw3) in [
        (le(&[0u8, 1, 2, 1, 0], u8::to_le_bytes), "|u1", true),
        (le(&[0i16, 1, 2, 1, 0], i16::to_le_bytes), "<i2", false),
        (le(&[0u32, 1, 2, 1, 0], u32::to_le_bytes), "<u4", true),
    ] {
        let shape = match shape_hw3 {
            true => vec![n, side, side, 3],
            false => vec![n, 3, side, side],
        };
        let path = dir.join(format!("layout_{descr:?}.npz").replace(['"', '|', '<'], ""));
        let y = npy(descr, &[n, 1], &labels);
        write_npz(
            &path,
            &[
                ("x_train", x(&shape)),
                ("y_train", y.clone()),
                ("x_test", x(&shape)),
                ("y_test", y),
            ],
            true,
        );
        let ds = load(&path).unwrap();
        let layout = match shape_hw3 {
            true => Layout::Interleaved,
            false => Layout::Planes,
        };
        assert_eq!(
            (ds.channels, ds.rows, ds.cols, ds.layout),
            (3, side, side, layout)
        );
        assert_eq!(ds.train.labels(), [0, 1, 2, 1, 0]);
    }
}

#[test]
fn hostile_npz_files_are_refused_by_name() {
    let dir = temp_dir("npz_hostile");
    let good_y = npy("<i8", &[2], &le(&[0i64, 1], i64::to_le_bytes));
    let good_x = npy("|u1", &[2, 4], &[1; 8]);
    let write = |name: &str, x: Vec<u8>, y: Vec<u8>| {
        let path = dir.join(name);
        write_npz(
            &path,
            &[
                ("x_train", x.clone()),
                ("y_train", y.clone()),
                ("x_test", x),
                ("y_test", y),
            ],
            false,
        );
        path
    };
    // The shape claims more than the data holds (and more than memory).
    let p = write(
        "lies.npz",
        npy("|u1", &[2, 1 << 40], &[1; 8]),
        good_y.clone(),
    );
    refused(load(&p), &["lies.npz", "x_train", "bytes of data follow"]);
    // Overflowing dimensions.
    let p = write(
        "overflow.npz",
        npy("|u1", &[usize::MAX / 2, 4], &[1; 8]),
        good_y.clone(),
    );
    refused(load(&p), &["overflow.npz", "x_train"]);
    // A header length past the entry, and a header larger than numpy ever writes.
    let mut long = npy("|u1", &[2, 4], &[1; 8]);
    long[8..10].copy_from_slice(&60_000u16.to_le_bytes());
    let p = write("header.npz", long, good_y.clone());
    refused(load(&p), &["header.npz", "header claims 60000 bytes"]);
    // Float targets that are not finite, complex features, structured dtypes, a
    // missing key, labels past the class range.
    let p = write(
        "flabels.npz",
        good_x.clone(),
        npy("<f4", &[2], &le(&[0f32, f32::INFINITY], f32::to_le_bytes)),
    );
    refused(load(&p), &["flabels.npz", "targets must be finite"]);
    let p = write("complex.npz", npy("<c8", &[2, 1], &[0; 16]), good_y.clone());
    refused(load(&p), &["complex.npz", "dtype"]);
    let p = write(
        "biglabel.npz",
        good_x.clone(),
        npy("<i8", &[2], &le(&[0i64, 70_000], i64::to_le_bytes)),
    );
    refused(load(&p), &["biglabel.npz", "label 70000"]);
    let p = dir.join("nokey.npz");
    write_npz(&p, &[("x_train", good_x.clone())], true);
    refused(load(&p), &["nokey.npz", "no array \"y_train\""]);
    // Labels that do not match the examples, NaN features.
    let p = write(
        "count.npz",
        good_x.clone(),
        npy("<i8", &[3], &le(&[0i64, 1, 0], i64::to_le_bytes)),
    );
    refused(load(&p), &["count.npz", "y_train has shape [3]"]);
    let p = write(
        "nan.npz",
        npy("<f4", &[2, 1], &le(&[0f32, f32::NAN], f32::to_le_bytes)),
        good_y.clone(),
    );
    refused(load(&p), &["nan.npz", "finite"]);
    // Truncated archives, and a file that is not an archive at all (read as a CSV).
    let bytes = std::fs::read(write("whole.npz", good_x.clone(), good_y.clone())).unwrap();
    for cut in [10, bytes.len() / 2, bytes.len() - 5] {
        let p = dir.join(format!("cut{cut}.npz"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        refused(load(&p), &[&format!("cut{cut}.npz")]);
    }
}

#[test]
fn an_archives_entry_names_are_escaped_in_messages() {
    let dir = temp_dir("npz_escaped_names");
    let path = dir.join("odd.npz");
    let y = npy("<i8", &[2], &le(&[0i64, 1], i64::to_le_bytes));
    write_npz(&path, &[("\u{1b}[31mred", y)], false);
    let msg = refused(load(&path), &["has no array", "\\u{1b}[31mred"]);
    assert!(!msg.contains('\u{1b}'), "{msg:?}");
}

#[test]
fn a_zip_bomb_stops_at_the_size_its_directory_claims() {
    let dir = temp_dir("npz_bomb");
    let bomb = dir.join("bomb.npz");
    patched_sizes(&bomb, 64);
    refused(load(&bomb), &["bomb.npz", "x_test", "larger"]);
    // The other way: an entry that inflates to fewer bytes than claimed says so.
    let short = dir.join("short.npz");
    patched_sizes(&short, (2 << 20) as u32);
    refused(
        load(&short),
        &["short.npz", "x_test", "bytes, fewer than the 2097152 bytes"],
    );
}

/// An `.npz` whose x_test inflates to 1 MiB + its header, while both of its
/// directory records claim `claim` bytes.
fn patched_sizes(path: &std::path::Path, claim: u32) {
    let big = npy("|u1", &[1024, 1024], &vec![0u8; 1 << 20]);
    let y = npy("<i8", &[2], &le(&[0i64, 1], i64::to_le_bytes));
    write_npz(
        path,
        &[
            ("x_train", npy("|u1", &[2, 1], &[1, 2])),
            ("y_train", y.clone()),
            ("x_test", big),
            ("y_test", y),
        ],
        true,
    );
    let mut bytes = std::fs::read(path).unwrap();
    let claimed = (1u32 << 20) + 128;
    let mut patched = 0;
    for at in 0..bytes.len() - 4 {
        // Local headers keep the uncompressed size at +22, central records at +24.
        let size_at = match &bytes[at..at + 4] {
            b"PK\x03\x04" => at + 22,
            b"PK\x01\x02" => at + 24,
            _ => continue,
        };
        if u32::from_le_bytes(bytes[size_at..size_at + 4].try_into().unwrap()) == claimed {
            bytes[size_at..size_at + 4].copy_from_slice(&claim.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "the test's zip layout changed");
    std::fs::write(path, &bytes).unwrap();
}

// ---------------------------------------------------------------- CSV

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

#[test]
fn csv_reads_quotes_string_labels_and_label_columns() {
    let dir = temp_dir("csv_round_trip");
    let train = write(
        &dir.join("train.csv"),
        "\"width, cm\",species,height\n1.5,\"setosa\",2\n 2.5 ,virginica,3e0\n-1,versicolor,4\n0,setosa,5\n",
    );
    let test = write(
        &dir.join("test.csv"),
        "\"width, cm\",species,height\n7,virginica,8\n",
    );
    let options = || LoadOptions {
        test_data: Some(test.clone()),
        label_column: Some("species".into()),
        ..Default::default()
    };
    let ds = load_with(&train, options()).unwrap();
    assert_eq!(ds.dtype(), Dtype::F32);
    assert_eq!((ds.layout, ds.width(), ds.classes), (Layout::Table, 2, 3));
    assert_eq!(
        ds.class_names.as_deref().unwrap(),
        ["setosa", "versicolor", "virginica"]
    );
    assert_eq!(ds.train.labels(), [0, 2, 1, 0]);
    assert_eq!(
        ds.train.features,
        Features::F32(vec![1.5, 2.0, 2.5, 3.0, -1.0, 4.0, 0.0, 5.0])
    );
    assert_eq!(
        (ds.test.labels(), &ds.test.features),
        (&[2u32][..], &Features::F32(vec![7.0, 8.0]))
    );
    // A test table's columns are matched by name: in another order they are
    // reordered; a missing or extra one is refused by name.
    let swapped = write(
        &dir.join("swapped.csv"),
        "height,species,\"width, cm\"\n8,virginica,7\n",
    );
    let ds = load_with(
        &train,
        LoadOptions {
            test_data: Some(swapped),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(ds.test.features, Features::F32(vec![7.0, 8.0]));
    let other = write(
        &dir.join("other.csv"),
        "depth,species,height\n8,virginica,7\n",
    );
    refused(
        load_with(
            &train,
            LoadOptions {
                test_data: Some(other),
                ..options()
            },
        ),
        &["other.csv", "missing [\"width, cm\"], extra [\"depth\"]"],
    );

    // Without --label-column: a column named label/target/class, else the last.
    let p = write(&dir.join("named.csv"), "a,Target,b\n1,0,2\n3,1,4\n");
    let ds = load_with(
        &p,
        LoadOptions {
            test_split: Some(0.5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (ds.width(), ds.class_names.is_none(), ds.classes),
        (2, true, 2)
    );
    let p = write(&dir.join("last.csv"), "a,b,y\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n");
    let seeded = || {
        let options = LoadOptions {
            test_split: Some(0.25),
            seed: 3,
            ..Default::default()
        };
        load_with(&p, options).unwrap()
    };
    let ds = seeded();
    assert_eq!((ds.train.len(), ds.test.len()), (3, 1));
    // The held-out row depends on the seed only: the same seed holds out the same row.
    let again = seeded();
    assert_eq!(ds.test.features, again.test.features);

    // Numeric labels beyond a byte's range are classes in numeric order.
    let numbers = write(
        &dir.join("numbers.csv"),
        "a,label\n1,10\n2,9\n3,-1\n4,100\n",
    );
    let ds = load_with(
        &numbers,
        LoadOptions {
            test_split: Some(0.5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.class_names.unwrap(), ["-1", "9", "10", "100"]);
    // --class-names overrides, and must name every class.
    let names = Some(vec!["no".to_string(), "yes".to_string()]);
    let ds = load_with(
        &p,
        LoadOptions {
            test_split: Some(0.25),
            class_names: names,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.class_names.unwrap(), ["no", "yes"]);
    let three = Some(vec!["a".into(), "b".into(), "c".into()]);
    let ds = load_with(
        &p,
        LoadOptions {
            test_split: Some(0.25),
            class_names: three,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.classes, 3, "three names make three classes");
}

#[test]
fn bad_csv_files_are_refused_naming_row_and_column() {
    let dir = temp_dir("csv_hostile");
    let split = || LoadOptions {
        test_split: Some(0.5),
        ..Default::default()
    };
    let cases = [
        (
            "missing.csv",
            "a,b,label\n1,2,x\n3,,y\n",
            vec!["missing.csv", "row 3", "\"b\"", "missing"],
        ),
        (
            "word.csv",
            "a,b,label\n1,two,x\n3,4,y\n",
            vec!["row 2", "\"b\"", "\"two\" is not a number"],
        ),
        (
            "nan.csv",
            "a,b,label\n1,nan,x\n3,4,y\n",
            vec!["row 2", "not a finite number"],
        ),
        ("ragged.csv", "a,b,label\n1,2,x\n3,4\n", vec!["ragged.csv"]),
        ("empty.csv", "a,b,label\n", vec!["empty.csv", "no rows"]),
        (
            "nolabel.csv",
            "a,b,label\n1,2,\n",
            vec!["row 2", "label", "missing"],
        ),
        ("one.csv", "label\n1\n2\n", vec!["one.csv", "1 column"]),
        (
            "semicolons.csv",
            "a;b;label\n1;2;x\n",
            vec!["1 column", "separated by ';'"],
        ),
    ];
    for (name, text, needles) in cases {
        let p = write(&dir.join(name), text);
        refused(load_with(&p, split()), &needles);
    }
    let p = write(&dir.join("ok.csv"), "a,label\n1,x\n2,y\n");
    refused(
        load_with(
            &p,
            LoadOptions {
                label_column: Some("kind".into()),
                test_split: Some(0.5),
                ..Default::default()
            },
        ),
        &["no column \"kind\"", "\"a\", \"label\""],
    );
    refused(load(&p), &["test_data", "test_split", "single table"]);
    let other = write(&dir.join("other.csv"), "a,b,label\n1,2,x\n");
    refused(
        load_with(
            &p,
            LoadOptions {
                test_data: Some(other),
                ..Default::default()
            },
        ),
        &["other.csv", "2 feature columns", "takes 1"],
    );
    let many: String = (0..65_537).map(|i| format!("{i},c{i}\n")).collect();
    let p = write(&dir.join("many.csv"), &format!("a,label\n{many}"));
    refused(load_with(&p, split()), &["65537 distinct labels"]);

    // A sparse file without a line break (`truncate -s`): refused after one
    // bounded line, not read whole as a header field; so is a row that long.
    let sparse = dir.join("sparse.csv");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(1 << 28).unwrap();
    drop(f);
    let started = std::time::Instant::now();
    refused(
        load_with(&sparse, split()),
        &["sparse.csv", "a line longer than 67108864 bytes"],
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    std::fs::remove_file(&sparse).unwrap();
}

// ---------------------------------------------------------------- CIFAR

fn cifar_records(labels: &[&[u8]]) -> Vec<u8> {
    labels
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            let mut r = l.to_vec();
            r.extend((0..3072).map(|p| ((p + i) % 251) as u8));
            r
        })
        .collect()
}

#[test]
fn cifar_10_and_100_directories_are_read_with_their_names() {
    let dir = temp_dir("cifar10");
    for b in 1..=5u8 {
        std::fs::write(
            dir.join(format!("data_batch_{b}.bin")),
            cifar_records(&[&[b], &[b + 1]]),
        )
        .unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_records(&[&[9]])).unwrap();
    let names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
    std::fs::write(dir.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();
    let ds = load(&dir).unwrap();
    assert_eq!(
        (ds.channels, ds.rows, ds.cols, ds.layout, ds.classes),
        (3, 32, 32, Layout::Planes, 10)
    );
    assert_eq!(ds.train.labels(), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert_eq!(ds.class_names.unwrap()[9], "truck");
    assert_eq!(ds.test.image(0).unwrap()[..3], [0, 1, 2]);
    // A torn record, a label past the classes.
    std::fs::write(dir.join("test_batch.bin"), &cifar_records(&[&[9]])[..3000]).unwrap();
    refused(
        load(&dir),
        &["test_batch.bin", "whole number of 3073-byte records"],
    );
    std::fs::write(dir.join("test_batch.bin"), cifar_records(&[&[10]])).unwrap();
    refused(load(&dir), &["test_batch.bin", "label 10 of record 0"]);

    let dir = temp_dir("cifar100");
    std::fs::write(dir.join("train.bin"), cifar_records(&[&[3, 17], &[19, 99]])).unwrap();
    std::fs::write(dir.join("test.bin"), cifar_records(&[&[0, 5]])).unwrap();
    let fine = load(&dir).unwrap();
    assert_eq!((fine.classes, fine.train.labels()), (100, &[17u32, 99][..]));
    let coarse = load_with(
        &dir,
        LoadOptions {
            coarse_labels: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (coarse.classes, coarse.train.labels()),
        (20, &[3u32, 19][..])
    );
    std::fs::write(dir.join("coarse_label_names.txt"), "a\nb\n").unwrap();
    refused(
        load_with(
            &dir,
            LoadOptions {
                coarse_labels: true,
                ..Default::default()
            },
        ),
        &["coarse_label_names.txt", "2 class names for 20 classes"],
    );
}

#[test]
fn formats_are_detected_and_overrides_checked() {
    let dir = temp_dir("detect");
    refused(load(&dir), &["neither IDX files", "CIFAR"]);
    let p = write(&dir.join("t.csv"), "a,label\n1,0\n2,1\n");
    refused(
        load_with(
            &p,
            LoadOptions {
                format: Some(data::Format::Npz),
                ..Default::default()
            },
        ),
        &["t.csv", "zip"],
    );
    let idx = temp_dir("detect_idx");
    common::write_idx_dir(&idx, &common::synthetic_dataset(1, 3, 4, 10, 5), false);
    refused(
        load_with(
            &idx,
            LoadOptions {
                test_split: Some(0.2),
                ..Default::default()
            },
        ),
        &["test_split", "CSV"],
    );
    // Classes come from the labels when nothing names them.
    assert_eq!(load(&idx).unwrap().classes, 3);
}

#[test]
fn archives_written_by_numpy_are_read_as_numpy_wrote_them() {
    let Some(python) = common::python_with(&["numpy"]) else {
        return;
    };
    let dir = temp_dir("npz_numpy");
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
y = rng.integers(0, 5, 7).astype(np.int64)
np.savez(d + "/u8.npz", x_train=x, y_train=y, x_test=x[:3], y_test=y[:3].astype(np.uint8))
f = rng.normal(size=(6, 5)) * 1000
np.savez_compressed(d + "/f64.npz", x_train=f, y_train=np.arange(6) % 2, x_test=f[:2].astype(np.float32), y_test=np.array([1, 0], dtype=np.int16))
print(int(x.astype(np.int64).sum()), repr(float(f.astype(np.float32)[3, 2])))
"#;
    let printed = common::stdout_of(std::process::Command::new(python).args([
        "-c",
        script,
        dir.to_str().unwrap(),
    ]));
    let printed = String::from_utf8(printed).unwrap();
    let mut printed = printed.split_whitespace();
    let (sum, value): (u64, f32) = (
        printed.next().unwrap().parse().unwrap(),
        printed.next().unwrap().parse().unwrap(),
    );

    let ds = load(&dir.join("u8.npz")).unwrap();
    assert_eq!(
        (ds.channels, ds.rows, ds.cols, ds.layout),
        (3, 4, 4, Layout::Interleaved)
    );
    let bytes = ds.train.features.as_u8().unwrap();
    assert_eq!(bytes.iter().map(|&b| b as u64).sum::<u64>(), sum);
    assert_eq!(ds.test.labels(), &ds.train.labels()[..3]);

    let ds = load(&dir.join("f64.npz")).unwrap();
    let Features::F32(x) = &ds.train.features else {
        panic!("floats expected")
    };
    assert_eq!(
        x[3 * 5 + 2],
        value,
        "f64 values rounded to f32 as numpy rounds them"
    );
    assert_eq!(
        (ds.train.labels(), ds.test.labels()),
        (&[0u32, 1, 0, 1, 0, 1][..], &[1u32, 0][..])
    );
}

#[test]
fn data_and_checkpoints_in_memory_read_as_their_files_do() {
    // IDX files (raw and gzip) and an .npz as bytes, as a page's uploads arrive.
    let dir = temp_dir("from_bytes");
    let ds = common::synthetic_dataset(3, 4, 5, 30, 10);
    common::write_idx_dir(&dir, &ds, true);
    let from_dir = data::load_dir(&dir, 4).unwrap();
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    let file = |n: &str| {
        (
            PathBuf::from(n),
            std::fs::read(dir.join(format!("{n}.gz"))).unwrap(),
        )
    };
    let from_bytes = data::idx::load_bytes(names.map(file)).unwrap();
    assert_eq!(
        (&from_bytes.train, &from_bytes.test),
        (&from_dir.train, &from_dir.test)
    );
    let mut torn = names.map(file);
    torn[2].1.truncate(40);
    let err = data::idx::load_bytes(torn).unwrap_err().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte"), "{err}");

    let npz = dir.join("a.npz");
    keras_npz(&npz, &[2, 3], ("|u1", &|i: usize| vec![i as u8; 6]), true);
    let bytes = std::fs::read(&npz).unwrap();
    let a = load(&npz).unwrap();
    let b = data::npz::load_bytes(Path::new("a.npz"), &bytes).unwrap();
    assert_eq!(
        (&a.train, &a.test, a.classes),
        (&b.train, &b.test, b.classes)
    );
    let err = data::npz::load_bytes(Path::new("a.npz"), &bytes[..bytes.len() / 2]).unwrap_err();
    assert!(err.to_string().contains("a.npz"), "{err}");

    // A checkpoint's bytes are its file's, and read back equal.
    let model = common::ok(&[
        "train",
        "--cpu",
        "--quiet",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--data",
        dir.to_str().unwrap(),
        "--save",
        dir.join("m.st").to_str().unwrap(),
    ]);
    assert!(model.contains("test_acc"));
    let c = gpu_mlp::checkpoint::Checkpoint::load(&dir.join("m.st")).unwrap();
    let bytes = c.to_bytes("m.st").unwrap();
    assert_eq!(bytes, std::fs::read(dir.join("m.st")).unwrap());
    assert_eq!(
        gpu_mlp::checkpoint::Checkpoint::from_bytes(&bytes, Path::new("m.st")).unwrap(),
        c
    );
}

#[test]
fn a_tables_header_and_labels_are_escaped_in_messages() {
    let dir = temp_dir("csv_escaped_names");
    let p = dir.join("odd.csv");
    std::fs::write(&p, "a,\u{1b}[31mb,label\n1,2,x\n3,4,y\n").unwrap();
    let options = LoadOptions {
        test_split: Some(0.5),
        label_column: Some("nope".into()),
        ..Default::default()
    };
    let msg = refused(
        load_with(&p, options),
        &["has no column \"nope\"", "\"\\u{1b}[31mb\""],
    );
    assert!(!msg.contains('\u{1b}'), "{msg:?}");
    let options = LoadOptions {
        test_split: Some(0.5),
        class_names: Some(vec!["x".into(), "\u{1b}[2Jz".into()]),
        ..Default::default()
    };
    let msg = refused(
        load_with(&p, options),
        &["label \"y\" is not one of the class names"],
    );
    assert!(!msg.contains('\u{1b}'), "{msg:?}");
}

#[test]
fn a_models_class_names_decide_integer_labels_too() {
    // A model whose classes are the labels "-1", "9", "10" (named, as a negative
    // label makes them) reads a later table of 9s and 10s by those names: classes
    // 1 and 2, not indices 9 and 10.
    let dir = temp_dir("csv_names_first");
    let p = dir.join("later.csv");
    std::fs::write(&p, "a,label\n1,9\n2,10\n3,9\n4,10\n").unwrap();
    let named = LoadOptions {
        test_split: Some(0.5),
        class_names: Some(vec!["-1".into(), "9".into(), "10".into()]),
        ..Default::default()
    };
    let ds = load_with(&p, named).unwrap();
    let mut labels = ds.train.labels().to_vec();
    labels.extend_from_slice(ds.test.labels());
    labels.sort_unstable();
    assert_eq!((ds.classes, labels), (3, vec![1, 1, 2, 2]));
    // Names the labels are not among (a flag naming classes 0..10): indices.
    let names: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
    let indexed = LoadOptions {
        test_split: Some(0.5),
        class_names: Some(names),
        ..Default::default()
    };
    let ds = load_with(&p, indexed).unwrap();
    assert!(ds.train.labels().iter().all(|&l| l == 9 || l == 10));
}
