#!/usr/bin/env python3
"""gpu-mlp's tasks beyond classification against scikit-learn on its bundled data.

For each seed, one 70/30 split written as CSV tables, then the same network (one
hidden layer of 16 relu units, adam, lr 0.01, batch 16, 200 epochs) trained by
scikit-learn and by `gpu-mlp train --cpu`, inputs standardized on both sides:

* diabetes (442 × 10, one target) and linnerud (20 × 3, three targets):
  MLPRegressor with its targets standardized too (TransformedTargetRegressor,
  as gpu-mlp's default), against `--task regress`; test R² and RMSE.
* breast cancer (569 × 30): `--task binary` (one sigmoid logit) and the 2-class
  softmax (`--task classify`) against MLPClassifier; test accuracy.
* make_multilabel_classification (1000 × 20, 5 labels): `--task multilabel`
  against MLPClassifier's multilabel mode; subset accuracy and micro F1.

Usage:
    tasks_vs_sklearn.py --gpu-mlp target/release/gpu-mlp [--seeds 3] [--json]
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

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_linnerud,
                              make_multilabel_classification)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HIDDEN, LR, BATCH, EPOCHS = 16, 0.01, 16, 200
NET = dict(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam",
           learning_rate_init=LR, batch_size=BATCH, max_iter=EPOCHS, n_iter_no_change=EPOCHS)


def write_csv(path, x, y, names):
    """Targets as numpy holds them: floats written as floats (151.0, a value to
    regress), integers as integers (class labels)."""
    y = y.reshape(len(y), -1)
    cell = repr if y.dtype.kind == "f" else str
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{j}" for j in range(x.shape[1])] + names)
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [cell(v.item()) for v in t])


def gpu_mlp(binary, train_csv, test_csv, seed, flags):
    start = time.perf_counter()
    out = subprocess.run(
        [binary, "train", "--cpu", "--data", train_csv, "--test-data", test_csv,
         "--hidden", str(HIDDEN), "--activation", "relu", "--optimizer", "adam",
         "--lr", str(LR), "--batch-size", str(BATCH), "--epochs", str(EPOCHS),
         "--seed", str(seed), "-q"] + flags,
        capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    figures = {k: float(v) for k, v in re.findall(r"test_(\w+) ([-0-9.]+)", out.stdout)}
    return figures, seconds


def timed(fit):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # linnerud's 14 training rows are fewer than a batch: both clip it.
        warnings.simplefilter("ignore", UserWarning)
        model = fit()
    return model, time.perf_counter() - start


def regression(x_tr, x_te, y_tr, y_te, seed):
    reg = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), MLPRegressor(random_state=seed, **NET)),
        transformer=StandardScaler())
    model, seconds = timed(lambda: reg.fit(x_tr, y_tr))
    p = model.predict(x_te)
    return {"r2": r2_score(y_te, p), "rmse": mean_squared_error(y_te, p) ** 0.5}, seconds


def classifier(x_tr, x_te, y_tr, y_te, seed):
    clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=seed, **NET))
    model, seconds = timed(lambda: clf.fit(x_tr, y_tr))
    p = model.predict(x_te)
    if y_te.ndim == 1:
        return {"acc": float((p == y_te).mean()) * 100}, seconds
    return {"acc": float((p == y_te).all(axis=1).mean()) * 100,
            "micro_f1": f1_score(y_te, p, average="micro")}, seconds


def sets():
    d = load_diabetes()
    yield "diabetes", d.data, d.target, ["y"], regression, [[]], ["r2", "rmse"]
    l = load_linnerud()
    yield ("linnerud", l.data, l.target, list(l.target_names), regression,
           [["--target", ",".join(l.target_names)]], ["r2", "rmse"])
    b = load_breast_cancer()
    yield ("breast_cancer", b.data, b.target, ["label"], classifier,
           [["--task", "binary"], ["--task", "classify"]], ["acc"])
    x, y = make_multilabel_classification(n_samples=1000, n_features=20, n_classes=5, random_state=0)
    yield ("multilabel", x.astype(float), y, [f"l{j}" for j in range(5)], classifier,
           [["--target", "l0,l1,l2,l3,l4", "--task", "multilabel"]], ["acc", "micro_f1"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpu-mlp", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, x, y, names, sklearn, variants, keys in sets():
            runs = []
            for seed in range(args.seeds):
                x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed)
                tr, te = os.path.join(tmp, f"{name}_tr.csv"), os.path.join(tmp, f"{name}_te.csv")
                write_csv(tr, x_tr, y_tr, names)
                write_csv(te, x_te, y_te, names)
                run = {"sklearn": sklearn(x_tr, x_te, y_tr, y_te, seed)}
                for flags in variants:
                    run[" ".join(flags) or "regress"] = gpu_mlp(args.gpu_mlp, tr, te, seed, flags)
                runs.append(run)
            results[name] = {
                who: ({k: float(np.mean([r[who][0][k] for r in runs])) for k in keys},
                      float(np.mean([r[who][1] for r in runs])))
                for who in runs[0]}
    if args.json:
        print(json.dumps(results))
        return
    print(f"{HIDDEN} hidden relu, adam lr {LR}, batch {BATCH}, {EPOCHS} epochs, 70/30 splits, "
          f"{args.seeds} seeds; mean test figures (mean seconds per run)")
    for name, r in results.items():
        for who, (figures, seconds) in r.items():
            text = "  ".join(f"{k} {v:.4f}" for k, v in figures.items())
            print(f"{name:<14} {who:<40} {text}  ({seconds:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
