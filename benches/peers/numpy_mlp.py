"""The network gpu-mlp trains, written as the classic numpy tutorial writes it:
Z = A·W + b per layer, the activation, softmax + cross-entropy (mean over the
batch), backpropagation by hand with `@`, plain minibatch SGD."""
import os
import time

import common

args = common.parse_args()
# The BLAS reads its thread count when numpy is first imported.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

dtype = np.dtype(args.dtype)
rng = np.random.default_rng(args.seed)
xtr, ytr, xte, yte = common.load(args)
xtr, xte = xtr.astype(dtype), xte.astype(dtype)
# nn.Linear's default initialisation, U(±1/√fan_in) for W and b, as the PyTorch peer.
weights, biases = [], []
for fan_in, fan_out in zip(args.sizes, args.sizes[1:]):
    bound = 1.0 / np.sqrt(fan_in)
    weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
    biases.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
np.seterr(over="ignore")  # exp(-z) overflowing in the sigmoid saturates it to 0, as it should
print(f"numpy {np.__version__} {args.dtype}, {args.threads} BLAS threads, sizes {args.sizes}, "
      f"{len(xtr)} train / {len(xte)} test")


def activate(z):
    if args.act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return np.maximum(z, 0) if args.act == "relu" else np.tanh(z)


def derivative(a):
    """The activation's derivative from its output a."""
    if args.act == "sigmoid":
        return a * (1.0 - a)
    return (a > 0).astype(a.dtype) if args.act == "relu" else 1.0 - a * a


def forward(x):
    """Every layer's output after its activation, and the softmax probabilities."""
    acts = [x]
    for w, b in zip(weights[:-1], biases[:-1]):
        acts.append(activate(acts[-1] @ w + b))
    z = acts[-1] @ weights[-1] + biases[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return acts, e / e.sum(axis=1, keepdims=True)


def step(x, y):
    """One SGD step on a batch; returns its mean cross-entropy."""
    m = len(x)
    acts, probs = forward(x)
    loss = float(-np.log(probs[np.arange(m), y] + 1e-12).mean())
    delta = probs  # d(mean loss)/d logits = (softmax − onehot) / m
    delta[np.arange(m), y] -= 1.0
    delta /= m
    for i in reversed(range(len(weights))):
        grad_w, grad_b = acts[i].T @ delta, delta.sum(axis=0)
        if i > 0:
            delta = (delta @ weights[i].T) * derivative(acts[i])
        weights[i] -= args.lr * grad_w
        biases[i] -= args.lr * grad_b
    return loss


n, seconds, acc = len(xtr), [], 0.0
for epoch in range(1, args.epochs + 1):
    started = time.perf_counter()
    order = rng.permutation(n)
    losses = [step(xtr[b], ytr[b]) for b in np.array_split(order, range(args.batch, n, args.batch))]
    seconds.append(time.perf_counter() - started)
    acc = float((forward(xte)[1].argmax(1) == yte).mean())
    common.report_epoch(epoch, seconds[-1], float(np.mean(losses)), acc)
common.summary(f"numpy-{args.dtype}", args.sizes, n, seconds, acc)
