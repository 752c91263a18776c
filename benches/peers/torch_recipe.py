"""The training recipe of `gpu-mlp train --hidden 256,128 --activation relu --optimizer
adamw --lr 0.001 --dropout 0.2 --lr-schedule cosine --val-split 0.1 --patience 3
--epochs 30`, written as a PyTorch user writes it: random_split for the validation
set, nn.Dropout after each hidden layer, AdamW (weight_decay 0.01), CosineAnnealingLR
stepped per epoch, early stopping on the validation loss keeping the best state,
and the test set evaluated once with that state.

usage: torch_recipe.py --data DIR [--threads N] [--seed S] [--epochs 30] [--patience 3]
"""
import argparse
import copy
import time

import common

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--patience", type=int, default=3)
args = ap.parse_args()
args.train_limit = args.test_limit = None

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
xtr, ytr, xte, yte = (torch.from_numpy(a) for a in common.load(args))
n_val = -(-len(xtr) // 10)
perm = torch.randperm(len(xtr))
xval, yval = xtr[perm[-n_val:]], ytr[perm[-n_val:]]
xtr, ytr = xtr[perm[:-n_val]], ytr[perm[:-n_val]]
model = nn.Sequential(
    nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(128, 10),
)
opt = torch.optim.AdamW(model.parameters(), lr=0.001, weight_decay=0.01)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)


def evaluate(x, y):
    model.eval()
    with torch.no_grad():
        z = model(x)
        loss, acc = F.cross_entropy(z, y).item(), (z.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


best, best_state, since, seconds = None, None, 0, []
for epoch in range(1, args.epochs + 1):
    started = time.perf_counter()
    for batch in torch.randperm(len(xtr)).split(100):
        loss = F.cross_entropy(model(xtr[batch]), ytr[batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sched.step()
    seconds.append(time.perf_counter() - started)
    val_loss, val_acc = evaluate(xval, yval)
    improved = best is None or val_loss < best[0]
    if improved:
        best, best_state, since = (val_loss, epoch), copy.deepcopy(model.state_dict()), 0
    else:
        since += 1
    print(f"epoch {epoch} train_s {seconds[-1]:.3f} val_loss {val_loss:.4f} val_acc {val_acc:.4f}{' *' if improved else ''}", flush=True)
    if since >= args.patience:
        break
model.load_state_dict(best_state)
test_loss, test_acc = evaluate(xte, yte)
print(f"summary peer=torch-recipe epochs={epoch} best_epoch={best[1]} median_epoch_s={sorted(seconds)[len(seconds) // 2]:.3f} "
      f"test_loss={test_loss:.4f} final_test_acc={test_acc:.4f}")
