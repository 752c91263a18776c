#!/usr/bin/env bash
# Side-by-side epoch times: gpu-mlp against the PyTorch and numpy baselines in
# ../shared/bench (same network, data, flags and thread count), run back to back in
# one go so that the ratios, not the absolute times, are what to quote.
#
#   benches/peers.sh [--hidden 128] [--act sigmoid] [--batch 100] [--epochs 3] [--gpu]
#
# Needs: a release build (make build), python3 with numpy and torch
# (PYTHON=/path/to/venv/bin/python), the bench scripts (BENCH_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-../shared/bench}
PYTHON=${PYTHON:-/tmp/bench-venv/bin/python}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
THREADS=${THREADS:-$(nproc)}
hidden=128 act=sigmoid batch=100 epochs=3 gpu=0 lr=0.1
while [ $# -gt 0 ]; do
  case "$1" in
    --hidden) hidden=$2; shift 2 ;;
    --act) act=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --gpu) gpu=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -x target/release/gpu-mlp ] || { echo "build first: make build" >&2; exit 1; }
[ -f "$BENCH_DIR/torch_mlp.py" ] || { echo "no peer scripts in $BENCH_DIR (set BENCH_DIR)" >&2; exit 1; }
out=$(mktemp -d)
# Runs a command and records its peak resident memory (ru_maxrss of the child, KiB).
cat >"$out/rss.py" <<'PY'
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "network 784-${hidden//,/-}-10 $act, batch $batch, SGD lr $lr, $epochs epochs, $THREADS threads"

peer() { # name script [extra]
  local name=$1 script=$2; shift 2
  python3 "$out/rss.py" "$out/$name.rss" "$PYTHON" "$BENCH_DIR/$script" --data "$DATA" --hidden "$hidden" --act "$act" --batch "$batch" \
    --lr "$lr" --epochs "$epochs" --threads "$THREADS" "$@" >"$out/$name.log" 2>&1 \
    || { echo "$name failed:"; tail -5 "$out/$name.log"; return 0; }
  grep '^epoch' "$out/$name.log" | sed 's/.*train_s \([0-9.]*\).*/\1/' >"$out/$name.times"
  grep -o 'final_test_acc=[0-9.]*' "$out/$name.log" | cut -d= -f2 >"$out/$name.acc"
}
ours() { # name flags...
  local name=$1; shift
  GPU_MLP_THREADS=$THREADS python3 "$out/rss.py" "$out/$name.rss" target/release/gpu-mlp train --data "$DATA" --hidden "$hidden" --activation "$act" \
    --batch-size "$batch" --lr "$lr" --epochs "$epochs" --metrics "$out/$name.jsonl" "$@" >"$out/$name.log" 2>&1 \
    || { echo "$name failed:"; tail -5 "$out/$name.log"; return 0; }
  python3 -c "import json,sys; [print(json.loads(l)['seconds']) for l in open(sys.argv[1])]" "$out/$name.jsonl" >"$out/$name.times"
  python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['test_accuracy'])" "$out/$name.jsonl" >"$out/$name.acc"
}

ours gpu-mlp-cpu --cpu
peer pytorch torch_mlp.py
peer numpy numpy_mlp.py
[ "$gpu" = 1 ] && ours gpu-mlp-gpu

python3 - "$out" <<'PY'
import os, statistics, sys
out = sys.argv[1]
def median_epoch(name):
    p = os.path.join(out, name + ".times")
    if not os.path.exists(p):
        return None
    t = [float(x) for x in open(p).read().split()]
    tail = t[1:] if len(t) > 1 else t   # epoch 1 includes warm-up, as in the peers' summary
    return statistics.median(tail)
rows = [n for n in ("gpu-mlp-cpu", "gpu-mlp-gpu", "pytorch", "numpy") if median_epoch(n) is not None]
ours = median_epoch("gpu-mlp-cpu")
def rss_mib(name):
    return int(open(os.path.join(out, name + ".rss")).read()) / 1024
print(f"{'run':<14} {'median epoch s (2..N)':>22} {'gpu-mlp --cpu / run':>20} {'final test acc':>15} {'peak RSS MiB':>13} {'RSS ratio':>10}")
for n in rows:
    m = median_epoch(n)
    acc = open(os.path.join(out, n + ".acc")).read().strip()
    print(f"{n:<14} {m:>22.3f} {ours / m:>20.2f} {acc:>15} {rss_mib(n):>13.0f} {rss_mib('gpu-mlp-cpu') / rss_mib(n):>10.2f}")
PY
rm -rf "$out"
