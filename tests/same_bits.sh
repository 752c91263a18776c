#!/usr/bin/env bash
# Same bits before and after a change that must not change the numbers (a
# refactor): trains a fixed set of runs with two gpu-mlp binaries, on the CPU
# path and on the GPU path, and compares every checkpoint, metrics file and
# prediction byte for byte. Checkpoints record what was learned, not how long it
# took, so two identical runs write identical files.
#
#   tests/same_bits.sh OLD_BINARY NEW_BINARY [cpu|gpu|both]
#
# Needs Fashion-MNIST (/usr/share/datasets/fashion-mnist, `make deps`) and, for the
# GPU runs, a Vulkan adapter (lavapipe is enough). Exits non-zero on any difference.
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
paths=${3:-both}
data=${FASHION:-/usr/share/datasets/fashion-mnist}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A table with float features and string labels (the CSV path, standardized inputs).
python3 - "$work/table.csv" <<'EOF'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    f.write("a,b,c,d,label\n")
    for i in range(600):
        c = random.randrange(3)
        xs = [random.gauss(c * 0.8 + j * 0.1, 1.0) for j in range(4)]
        f.write(",".join(f"{x:.5f}" for x in xs) + f",{'xyz'[c]}\n")
EOF

small="--data $data --train-limit 2000 --test-limit 500"
# name|flags (each run writes --save, --metrics, and for some --save-last)
runs=(
  "sgd-sigmoid-ce|$small --epochs 2"
  "momentum-relu-mse-cosine|$small --epochs 2 --optimizer momentum --activation relu --loss softmax-mse --lr-schedule cosine --hidden 64,32"
  "adam-tanh-dropout-step|$small --epochs 2 --optimizer adam --activation tanh --dropout 0.2 --lr-schedule step --lr-step-every 1 --lr-gamma 0.5"
  "adamw-relu-onecycle-wd|$small --epochs 2 --optimizer adamw --activation relu --weight-decay 0.01 --lr-schedule onecycle --batch-size 64"
  "val-patience|$small --epochs 4 --optimizer adam --val-split 0.2 --patience 1 --monitor val_accuracy --save-last @/last.st --plot @/curves.png"
  "sgd-momentum-warmup|$small --epochs 2 --momentum 0.5 --warmup 1 --seed 3"
  "table|--data $work/table.csv --test-split 0.25 --epochs 3 --hidden 16 --optimizer adam --batch-size 32"
)

run() { # binary out-dir device-flags flags...
  local bin=$1 out=$2 dev=$3
  shift 3
  mkdir -p "$out"
  local flags=${*//@/$out}
  # shellcheck disable=SC2086
  env $envs "$bin" train $dev -q $flags --save "$out/model.st" --metrics "$out/metrics.jsonl" >"$out/stdout" 2>"$out/stderr" \
    || { echo "FAILED: $bin train $dev $flags"; cat "$out/stderr"; return 1; }
  # The metrics file records seconds: compare it without them.
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l); [d.pop(k, None) for k in ("seconds", "samples_per_second")]; print(json.dumps(d, sort_keys=True))' \
    "$out/metrics.jsonl" >"$out/metrics.cmp" && rm "$out/metrics.jsonl"
  local data_flags
  data_flags=$(echo "${flags%%--epochs*}" | sed 's/--train-limit [0-9]*//')
  # shellcheck disable=SC2086
  (cd "$out" && "$bin" eval $dev --model model.st $data_flags >eval 2>&1) \
    || { echo "FAILED: $bin eval $dev --model $out/model.st $data_flags"; cat "$out/eval"; return 1; }
}

resume() { # binary out-dir device-flags
  local bin=$1 out=$2 dev=$3
  mkdir -p "$out"
  # shellcheck disable=SC2086
  "$bin" train $dev -q $small --epochs 1 --optimizer momentum --save "$out/first.st" >/dev/null 2>&1
  # shellcheck disable=SC2086
  "$bin" train $dev -q $small --epochs 1 --resume "$out/first.st" --save "$out/resumed.st" >/dev/null 2>&1
}

devices=()
case $paths in
  cpu) devices=("--cpu") ;;
  gpu) devices=("--backend vulkan") ;;
  *) devices=("--cpu" "--backend vulkan") ;;
esac

envs=""
failed=0
for dev in "${devices[@]}"; do
  tag=${dev//[- ]/}
  for spec in "${runs[@]}"; do
    name=${spec%%|*}
    flags=${spec#*|}
    # shellcheck disable=SC2086
    run "$old" "$work/old/$tag/$name" "$dev" $flags
    # shellcheck disable=SC2086
    run "$new" "$work/new/$tag/$name" "$dev" $flags
  done
  resume "$old" "$work/old/$tag/resume" "$dev"
  resume "$new" "$work/new/$tag/resume" "$dev"
  if [ "$tag" = backendvulkan ]; then
    # A training split streamed through windows (a binding budget below its size).
    envs="GPU_MLP_BINDING_BUDGET=1M"
    run "$old" "$work/old/$tag/streamed" "$dev" $small --epochs 2
    run "$new" "$work/new/$tag/streamed" "$dev" $small --epochs 2
    envs=""
  fi
done

(cd "$work/old" && find . -type f ! -name stderr | sort | xargs sha256sum) >"$work/old.sums"
(cd "$work/new" && find . -type f ! -name stderr | sort | xargs sha256sum) >"$work/new.sums"
if diff "$work/old.sums" "$work/new.sums"; then
  echo "same bits: $(wc -l <"$work/old.sums") files identical"
else
  echo "DIFFERENT: the files above differ" >&2
  failed=1
fi
exit $failed
