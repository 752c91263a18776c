#!/usr/bin/env python3
"""gpu_mlp's estimators against scikit-learn's, side by side in one process.

The same data, network (hidden_layer_sizes=(100,), relu, adam at 0.001, batch
200), the same number of epochs (tol-based stopping off on both: every run
trains exactly --epochs epochs) and the same inputs (Fashion-MNIST as float32
pixels ÷ 255 for both, gpu_mlp with normalize='none'; the tables standardized
by a StandardScaler in a pipeline for both, the regression's target too, through
TransformedTargetRegressor, with gpu_mlp's own target scaling off). Rounds are interleaved (gpu_mlp,
scikit-learn, gpu_mlp, …) so that a busy machine slows both alike; the table
gives the median fit time of each and their ratio, and the test figure.

* Fashion-MNIST (60,000 × 784 training, 10,000 test; /usr/share/datasets/fashion-mnist
  or --fashion DIR): MLPClassifier, test accuracy.
* breast cancer (569 × 30, 70/30 split): MLPClassifier, test accuracy.
* diabetes (442 × 10, 70/30 split): MLPRegressor, test R².

Usage:
    estimators_vs_sklearn.py [--epochs 10] [--rounds 3] [--device cpu] [--json]
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import struct
import time
import warnings

import numpy as np
import sklearn
from sklearn import neural_network
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpu_mlp


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion(root):
    def part(name):
        return read_idx(os.path.join(root, name))

    X = part("train-images-idx3-ubyte.gz").reshape(-1, 784)
    Xt = part("t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    y = part("train-labels-idx1-ubyte.gz")
    yt = part("t10k-labels-idx1-ubyte.gz")
    return (X / np.float32(255)).astype(np.float32), y, (Xt / np.float32(255)).astype(np.float32), yt


def tables(seed=0):
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    return {
        "breast cancer": ("classify", *train_test_split(Xc, yc, test_size=0.3, random_state=seed, stratify=yc)),
        "diabetes": ("regress", *train_test_split(Xd, yd, test_size=0.3, random_state=seed)),
    }


def common(epochs):
    return dict(
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        learning_rate_init=0.001,
        batch_size=200,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        random_state=0,
    )


def timed_fit(make, X, y, Xt, yt):
    est = make()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, est.score(Xt, yt)


def compare(name, figure, ours, theirs, data, rounds):
    times = {"gpu_mlp": [], "scikit-learn": []}
    scores = {"gpu_mlp": [], "scikit-learn": []}
    for _ in range(rounds):
        for who, make in (("gpu_mlp", ours), ("scikit-learn", theirs)):
            s, score = timed_fit(make, *data)
            times[who].append(s)
            scores[who].append(score)
    row = {"data": name, "figure": figure}
    for who in times:
        row[who] = {"seconds": statistics.median(times[who]), "score": statistics.median(scores[who])}
    row["speedup"] = row["scikit-learn"]["seconds"] / row["gpu_mlp"]["seconds"]
    return row


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--table-epochs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="gpu_mlp's device (cpu, gpu, an adapter's name)")
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rows = []
    if os.path.isdir(args.fashion):
        data = fashion(args.fashion)
        p = common(args.epochs)
        rows.append(compare(
            f"Fashion-MNIST, {args.epochs} epochs", "test accuracy",
            lambda: gpu_mlp.MLPClassifier(**p, normalize="none", device=args.device),
            lambda: neural_network.MLPClassifier(**p),
            data, args.rounds,
        ))
    for name, (task, X, Xt, y, yt) in tables().items():
        p = common(args.table_epochs)
        ours, theirs = (
            (gpu_mlp.MLPClassifier, neural_network.MLPClassifier)
            if task == "classify"
            else (gpu_mlp.MLPRegressor, neural_network.MLPRegressor)
        )
        extra = {} if task == "classify" else {"normalize_targets": False}

        def scaled(model, task=task):
            pipe = make_pipeline(StandardScaler(), model)
            if task == "classify":
                return pipe
            return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())

        rows.append(compare(
            f"{name}, {args.table_epochs} epochs", "test accuracy" if task == "classify" else "test R²",
            lambda ours=ours, extra=extra, scaled=scaled: scaled(ours(**p, **extra, device=args.device)),
            lambda theirs=theirs, scaled=scaled: scaled(theirs(**p)),
            (X, y, Xt, yt), args.rounds,
        ))

    meta = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu_mlp": gpu_mlp.__version__,
        "device": args.device,
        "scikit-learn": sklearn.__version__,
        "rounds": args.rounds,
    }
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=1))
        return
    print(f"# {meta['cpu']}, {meta['cores']} cores; gpu_mlp device={args.device}; "
          f"scikit-learn {meta['scikit-learn']}; median of {args.rounds} interleaved rounds")
    print("| data | figure | gpu_mlp s | scikit-learn s | speed-up | gpu_mlp | scikit-learn |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        g, s = r["gpu_mlp"], r["scikit-learn"]
        print(f"| {r['data']} | {r['figure']} | {g['seconds']:.2f} | {s['seconds']:.2f} | "
              f"{r['speedup']:.1f}× | {g['score']:.4f} | {s['score']:.4f} |")


if __name__ == "__main__":
    main()
