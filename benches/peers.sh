#!/usr/bin/env bash
# Side-by-side epoch times: gpu-mlp against the PyTorch and numpy trainers in
# benches/peers/ (same network, data, flags and thread count), run back to back in
# one go so that the ratios, not the absolute times, are what to quote.
#
#   benches/peers.sh [--hidden 128] [--act sigmoid] [--batch 100] [--epochs 3] [--gpu] [--rounds 1]
#
# --rounds R runs the whole set R times, interleaved (ours, PyTorch, numpy, ours, …),
# and reports the median over rounds of each run's median epoch, with the range of
# the per-round ratios: on a shared machine a burst of load hits one run, not all.
#
# Needs: a release build (make build) and a Python with numpy and torch
# (PYTHON=/path/to/venv/bin/python; `make bench-venv` makes one in /tmp/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=benches/peers
PYTHON=${PYTHON:-/tmp/bench-venv/bin/python}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
THREADS=${THREADS:-$(nproc)}
hidden=128 act=sigmoid batch=100 epochs=3 gpu=0 lr=0.1 rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hidden) hidden=$2; shift 2 ;;
    --act) act=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -x target/release/gpu-mlp ] || { echo "build first: make build" >&2; exit 1; }
"$PYTHON" -c "import numpy, torch" 2>/dev/null || { echo "$PYTHON lacks numpy or torch: make bench-venv, or set PYTHON" >&2; exit 1; }
out=$(mktemp -d)
# Runs a command and records its peak resident memory (ru_maxrss of the child, KiB).
cat >"$out/rss.py" <<'PY'
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "network 784-${hidden//,/-}-10 $act, batch $batch, SGD lr $lr, $epochs epochs, $THREADS threads, $rounds round(s)"

peer() { # name script [extra]
  local name=$1 script=$2; shift 2
  python3 "$out/rss.py" "$out/$name.rss" "$PYTHON" "$PEERS/$script" --data "$DATA" --hidden "$hidden" --act "$act" --batch "$batch" \
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

for r in $(seq 1 "$rounds"); do
  ours "gpu-mlp-cpu.$r" --cpu
  peer "pytorch.$r" torch_mlp.py
  peer "numpy.$r" numpy_mlp.py
  [ "$gpu" = 1 ] && ours "gpu-mlp-gpu.$r"
done

python3 - "$out" "$rounds" <<'PY'
import os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def read(name, r, ext):
    p = os.path.join(out, f"{name}.{r}.{ext}")
    return open(p).read() if os.path.exists(p) else None
def round_medians(name):
    meds = []
    for r in range(1, rounds + 1):
        t = read(name, r, "times")
        if t is None:
            continue
        t = [float(x) for x in t.split()]
        tail = t[1:] if len(t) > 1 else t   # epoch 1 includes warm-up, as in the peers' summary
        meds.append(statistics.median(tail))
    return meds
names = [n for n in ("gpu-mlp-cpu", "gpu-mlp-gpu", "pytorch", "numpy") if round_medians(n)]
ours = round_medians("gpu-mlp-cpu")
def rss_mib(name):
    return max(int(read(name, r, "rss")) for r in range(1, rounds + 1) if read(name, r, "rss")) / 1024
print(f"{'run':<14} {'median epoch s (2..N)':>22} {'gpu-mlp --cpu / run':>20} {'per-round range':>16} {'final test acc':>15} {'peak RSS MiB':>13} {'RSS ratio':>10}")
for n in names:
    meds = round_medians(n)
    ratios = [o / m for o, m in zip(ours, meds)]
    acc = (read(n, len(meds), "acc") or "").strip()
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    print(f"{n:<14} {statistics.median(meds):>22.3f} {statistics.median(ours) / statistics.median(meds):>20.2f} "
          f"{spread:>16} {acc:>15} {rss_mib(n):>13.0f} {rss_mib('gpu-mlp-cpu') / rss_mib(n):>10.2f}")
PY
rm -rf "$out"
