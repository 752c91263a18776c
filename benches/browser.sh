#!/usr/bin/env bash
# gpu-mlp's page against TensorFlow.js in the same headless Chromium: the network
# 784-128-10 sigmoid, SGD 0.1, batch 100, on the first 10,000 Fashion-MNIST training
# images, 3 epochs per run; each run's median epoch time over epochs 2..3, then the
# median over interleaved rounds. Usage: benches/browser.sh [--rounds R]
# Needs `make web` (done here), chromium and node; fetches the npm packages once.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
[ "${1:-}" = "--rounds" ] && rounds=$2
make -s web >/dev/null
[ -d web/test/node_modules/puppeteer-core ] || npm install --prefix web/test --silent --no-audit --no-fund
[ -d benches/tfjs/node_modules/@tensorflow/tfjs ] || npm install --prefix benches/tfjs --silent --no-audit --no-fund
out=$(mktemp)
for round in $(seq "$rounds"); do
  for b in webgpu cpu; do
    printf 'gpu-mlp %s ' "$b" >>"$out"
    node web/test/drive.mjs web/www "autorun=1&backend=$b&epochs=3&train-limit=10000&seed=1" 600000 2>/dev/null >>"$out"
  done
  for b in wasm webgl webgpu cpu; do
    printf 'tfjs %s ' "$b" >>"$out"
    node web/test/drive.mjs . "backend=$b&epochs=3&train-limit=10000" 900000 benches/tfjs/index.html 2>/dev/null >>"$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, backend, text = line.split(" ", 2)
    r = json.loads(text)
    if "error" in r:
        print(f"{who} {backend}: {r['error']}"); continue
    runs.setdefault((who, backend), []).append((statistics.median(r["seconds"][1:]), r["test_accuracy"]))
rows = {k: (statistics.median(s for s, _ in v), v[-1][1], len(v)) for k, v in runs.items()}
fastest_tfjs = min((s for (who, _), (s, _, _) in rows.items() if who == "tfjs"), default=None)
print("| run | s per epoch (median) | samples/s | test accuracy | ÷ TF.js fastest |")
print("|---|---|---|---|---|")
for (who, backend), (s, acc, n) in sorted(rows.items(), key=lambda kv: kv[1][0]):
    ratio = f"{s / fastest_tfjs:.2f}" if fastest_tfjs else ""
    print(f"| {who} {backend} | {s:.3f} | {10000 / s:,.0f} | {100 * acc:.2f} % | {ratio} |")
PY
rm -f "$out"
