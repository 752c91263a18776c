"""One f32 matmul C = A·B of a given shape in numpy (its BLAS) and PyTorch, timed the
way `gpu-mlp bench --matmul` is set beside: after warm-up products, the best of three
windows, printed in GFLOP/s. Thread counts are set before the libraries load."""
import argparse
import os
import time

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--shape", default="256,1024,1024", help="M,K,N as for gpu-mlp bench --matmul")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--window", type=float, default=0.2, help="seconds per timing window")
args = ap.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

m, k, n = (int(v) for v in args.shape.split(","))
rng = np.random.default_rng(0)
a = rng.random((m, k), dtype=np.float32)
b = rng.random((k, n), dtype=np.float32)


def gflops(product):
    for _ in range(20):
        product()
    start = time.perf_counter()
    product()
    reps = max(1, int(args.window / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            product()
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * m * k * n / best / 1e9


print(f"numpy  {np.__version__:<8} {gflops(lambda: a @ b):8.1f} GFLOP/s  ({m}x{k}x{n}, {args.threads} threads)")
try:
    import torch

    torch.set_num_threads(args.threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    print(f"torch  {torch.__version__:<8} {gflops(lambda: torch.mm(ta, tb)):8.1f} GFLOP/s")
except ImportError:
    print("torch  not installed")
