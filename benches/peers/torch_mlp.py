"""The network gpu-mlp trains, in PyTorch on the CPU: nn.Sequential of nn.Linear
and the activation, F.cross_entropy (mean over the batch), plain SGD, the data
preloaded as tensors and shuffled with randperm each epoch."""
import time

import common

args = common.parse_args()

import torch  # noqa: E402  (after argument parsing: --help needs no torch)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
xtr, ytr, xte, yte = (torch.from_numpy(a) for a in common.load(args))
activation = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[args.act]
layers = []
for i, (fan_in, fan_out) in enumerate(zip(args.sizes, args.sizes[1:])):
    layers.append(nn.Linear(fan_in, fan_out))
    if i + 2 < len(args.sizes):
        layers.append(activation())
model = nn.Sequential(*layers)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, sizes {args.sizes}, "
      f"{len(xtr)} train / {len(xte)} test")

n, seconds, acc = len(xtr), [], 0.0
for epoch in range(1, args.epochs + 1):
    started = time.perf_counter()
    losses = []
    for batch in torch.randperm(n).split(args.batch):
        loss = F.cross_entropy(model(xtr[batch]), ytr[batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    train_loss = torch.stack(losses).mean().item()
    seconds.append(time.perf_counter() - started)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    common.report_epoch(epoch, seconds[-1], train_loss, acc)
common.summary("torch", args.sizes, n, seconds, acc)
