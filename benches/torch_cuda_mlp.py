"""PyTorch on CUDA: the peer for gpu-mlp's GPU path on a real GPU.

The same network, loss, optimizer and data as `gpu-mlp train` and as
benches/peers/torch_mlp.py (which is CPU-only): nn.Linear layers with sigmoid or
relu between them, mean cross-entropy, plain SGD. The whole data set is moved to the
GPU once, as gpu-mlp does, so an epoch is only GPU work plus kernel launches.

    python3 torch_cuda_mlp.py --data DIR [--hidden 128] [--act sigmoid] [--batch 100]
                              [--lr 0.1] [--epochs 5] [--seed 0]

Prints one line per epoch and a summary with the median epoch time over epochs 2..N
(epoch 1 pays for CUDA's start-up and kernel selection).
"""
import argparse
import gzip
import statistics
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data, stem):
    for name in (f"{stem}.gz", stem, f"{stem.replace('-idx', '.idx')}.gz", stem.replace("-idx", ".idx")):
        if (Path(data) / name).exists():
            return Path(data) / name
    raise SystemExit(f"{data}: no {stem}[.gz]")


p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--hidden", default="128")
p.add_argument("--act", default="sigmoid", choices=["sigmoid", "relu"])
p.add_argument("--batch", type=int, default=100)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

dev = torch.device("cuda")
torch.manual_seed(args.seed)
xtr = read_idx(find(args.data, "train-images-idx3-ubyte"))
ytr = read_idx(find(args.data, "train-labels-idx1-ubyte"))
xte = read_idx(find(args.data, "t10k-images-idx3-ubyte"))
yte = read_idx(find(args.data, "t10k-labels-idx1-ubyte"))
to_x = lambda a: torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0).to(dev)
to_y = lambda a: torch.from_numpy(a.astype(np.int64)).to(dev)
xtr, ytr, xte, yte = to_x(xtr), to_y(ytr), to_x(xte), to_y(yte)
n = xtr.shape[0]

sizes = [xtr.shape[1]] + [int(h) for h in args.hidden.split(",") if h] + [10]
layers = []
for i in range(len(sizes) - 1):
    layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    if i < len(sizes) - 2:
        layers.append(nn.Sigmoid() if args.act == "sigmoid" else nn.ReLU())
model = nn.Sequential(*layers).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
print(f"torch {torch.__version__} on {torch.cuda.get_device_name()} sizes={sizes} batch={args.batch}", flush=True)

secs = []
acc = 0.0
for ep in range(1, args.epochs + 1):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    perm = torch.randperm(n, device=dev)
    loss_sum = torch.zeros((), device=dev)
    nb = 0
    for s in range(0, n, args.batch):
        bi = perm[s:s + args.batch]
        loss = F.cross_entropy(model(xtr[bi]), ytr[bi])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
        nb += 1
    train_loss = loss_sum.item() / nb  # synchronises
    dt = time.perf_counter() - t0
    secs.append(dt)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {ep} train_s {dt:.4f} train_loss {train_loss:.4f} test_acc {acc:.4f}", flush=True)

median = statistics.median(secs[1:] if len(secs) > 1 else secs)
print(f"summary torch-cuda sizes={sizes} batch={args.batch} median_epoch_s {median:.4f} "
      f"samples_per_s {n / median:.0f} test_acc {acc:.4f}", flush=True)
