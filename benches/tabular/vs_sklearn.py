#!/usr/bin/env python3
"""gpu-mlp against scikit-learn's MLPClassifier on real tabular data.

For each data set shipped with scikit-learn (wine, iris, breast cancer) and each
seed: one stratified 70/30 split, written as CSV tables with string class labels;
MLPClassifier (StandardScaler in front, as gpu-mlp's default `--normalize standard`)
and `gpu-mlp train --cpu` then train the same network (one hidden layer, relu, adam,
same learning rate, batch size and epochs) on it, and both test accuracies are
reported. Usage:

    vs_sklearn.py --gpu-mlp target/release/gpu-mlp [--seeds 5] [--json]
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATASETS = {"wine": load_wine, "iris": load_iris, "breast_cancer": load_breast_cancer}
HIDDEN, LR, BATCH, EPOCHS = 16, 0.01, 16, 100


def write_csv(path, names, x, y, classes):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(names) + ["class"])
        for row, label in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [classes[label]])


def sklearn_accuracy(x_train, y_train, x_test, y_test, seed):
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam",
                      learning_rate_init=LR, batch_size=BATCH, max_iter=EPOCHS,
                      n_iter_no_change=EPOCHS, random_state=seed),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return model.score(x_test, y_test), time.perf_counter() - start


def gpu_mlp_accuracy(binary, train_csv, test_csv, seed):
    start = time.perf_counter()
    out = subprocess.run(
        [binary, "train", "--cpu", "--data", train_csv, "--test-data", test_csv,
         "--hidden", str(HIDDEN), "--activation", "relu", "--optimizer", "adam",
         "--lr", str(LR), "--batch-size", str(BATCH), "--epochs", str(EPOCHS),
         "--seed", str(seed), "-q"],
        capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    accuracy = float(re.search(r"test_acc ([0-9.]+)%", out.stdout).group(1)) / 100
    return accuracy, seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpu-mlp", required=True)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, loader in DATASETS.items():
            d = loader()
            rows = []
            for seed in range(args.seeds):
                x_tr, x_te, y_tr, y_te = train_test_split(
                    d.data, d.target, test_size=0.3, stratify=d.target, random_state=seed)
                train_csv = os.path.join(tmp, f"{name}_{seed}_train.csv")
                test_csv = os.path.join(tmp, f"{name}_{seed}_test.csv")
                write_csv(train_csv, d.feature_names, x_tr, y_tr, d.target_names)
                write_csv(test_csv, d.feature_names, x_te, y_te, d.target_names)
                sk, sk_s = sklearn_accuracy(x_tr, y_tr, x_te, y_te, seed)
                ours, ours_s = gpu_mlp_accuracy(args.gpu_mlp, train_csv, test_csv, seed)
                rows.append({"seed": seed, "sklearn": sk, "gpu_mlp": ours,
                             "sklearn_s": sk_s, "gpu_mlp_s": ours_s})
            mean = lambda k: sum(r[k] for r in rows) / len(rows)
            results[name] = {"examples": len(d.target), "features": d.data.shape[1],
                             "classes": len(d.target_names), "runs": rows,
                             "sklearn": mean("sklearn"), "gpu_mlp": mean("gpu_mlp"),
                             "sklearn_s": mean("sklearn_s"), "gpu_mlp_s": mean("gpu_mlp_s")}
    if args.json:
        print(json.dumps(results))
        return
    print(f"{HIDDEN} hidden relu, adam lr {LR}, batch {BATCH}, {EPOCHS} epochs, "
          f"70/30 stratified splits, {args.seeds} seeds; mean test accuracy (mean seconds per run)")
    print(f"{'data set':<14} {'examples':>8} {'features':>8}  {'MLPClassifier':>20}  {'gpu-mlp --cpu':>20}")
    for name, r in results.items():
        print(f"{name:<14} {r['examples']:>8} {r['features']:>8}  "
              f"{100 * r['sklearn']:>11.2f}% ({r['sklearn_s']:.2f} s)  "
              f"{100 * r['gpu_mlp']:>11.2f}% ({r['gpu_mlp_s']:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
