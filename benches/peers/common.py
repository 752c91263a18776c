"""What the two peer trainers share: their flags (named like gpu-mlp's), the IDX
reader, and the closing summary line that benches/peers.sh reads."""
import argparse
import gzip
import os
import statistics
import struct

import numpy as np


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="directory of the four IDX files (raw or .gz)")
    ap.add_argument("--hidden", default="128", help="hidden widths, e.g. 128 or 1024,1024")
    ap.add_argument("--act", choices=["sigmoid", "relu", "tanh"], default="sigmoid")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int)
    ap.add_argument("--test-limit", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="numpy only: the compute type")
    args = ap.parse_args()
    args.sizes = [784] + [int(h) for h in args.hidden.split(",") if h.strip()] + [10]
    return args


def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, kind, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or kind != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    values = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {values.size} bytes for shape {dims}")
    return values.reshape(dims)


def _split(directory, stem):
    def find(kind, suffix):
        for name in (f"{stem}-{kind}-{suffix}", f"{stem}-{kind}-{suffix}.gz"):
            if os.path.exists(os.path.join(directory, name)):
                return os.path.join(directory, name)
        raise FileNotFoundError(f"{directory}: no {stem}-{kind}-{suffix}[.gz]")
    images = _read_idx(find("images", "idx3-ubyte"))
    labels = _read_idx(find("labels", "idx1-ubyte"))
    # The same scaling as gpu-mlp: a byte times the rounded constant 1/255.
    x = images.reshape(len(images), -1).astype(np.float32) * np.float32(1.0 / 255.0)
    return x, labels.astype(np.int64)


def load(args):
    """(x_train, y_train, x_test, y_test), limited as the flags say."""
    xtr, ytr = _split(args.data, "train")
    xte, yte = _split(args.data, "t10k")
    return xtr[:args.train_limit], ytr[:args.train_limit], xte[:args.test_limit], yte[:args.test_limit]


def report_epoch(epoch, seconds, train_loss, test_acc):
    print(f"epoch {epoch} train_s {seconds:.3f} train_loss {train_loss:.4f} test_acc {test_acc:.4f}", flush=True)


def summary(peer, sizes, n_train, epoch_seconds, test_acc):
    """The median epoch over epochs 2..N (epoch 1 carries the warm-up) and 6·P·N GFLOP/s."""
    params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    tail = epoch_seconds[1:] or epoch_seconds
    median = statistics.median(tail)
    print(f"summary peer={peer} sizes={'-'.join(map(str, sizes))} params={params} n_train={n_train} "
          f"median_epoch_s(2..N)={median:.3f} gflops={6.0 * params * n_train / median / 1e9:.2f} "
          f"final_test_acc={test_acc:.4f}")
