"""Independent check of a gpu-mlp checkpoint: load it with the `safetensors` package,
run the forward pass in numpy, and print the test accuracy as JSON.

usage: python3 forward.py MODEL.safetensors DATA_DIR [TEST_LIMIT]
"""
import gzip
import json
import os
import sys

import numpy as np
from safetensors import safe_open


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def find(data_dir, stem, suffix):
    for name in (f"{stem}-{suffix}", f"{stem}-{suffix}.gz", f"{stem}.{suffix}", f"{stem}.{suffix}.gz"):
        if os.path.exists(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    raise SystemExit(f"no {stem} file in {data_dir}")


model, data_dir = sys.argv[1], sys.argv[2]
with safe_open(model, framework="np") as f:
    meta = f.metadata()
    tensors = {k: f.get_tensor(k) for k in f.keys()}
sizes = [int(s) for s in meta["layers"].split(",")]
act = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[meta["activation"]]

x = read_idx(find(data_dir, "t10k-images", "idx3-ubyte")).reshape(-1, sizes[0]).astype(np.float32) / np.float32(255)
y = read_idx(find(data_dir, "t10k-labels", "idx1-ubyte")).astype(np.int64)
if len(sys.argv) > 3:
    x, y = x[: int(sys.argv[3])], y[: int(sys.argv[3])]
a = x
layers = len(sizes) - 1
for l in range(layers):
    w, b = tensors[f"layers.{l}.weight"], tensors[f"layers.{l}.bias"]   # w: [out, in], as torch.nn.Linear
    assert w.dtype == np.float32 and w.shape == (sizes[l + 1], sizes[l]), (w.dtype, w.shape)
    z = a @ w.T + b
    a = act(z) if l + 1 < layers else z
print(json.dumps({"accuracy": float((a.argmax(1) == y).mean()), "examples": int(len(y))}))
