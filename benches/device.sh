#!/usr/bin/env bash
# The real-GPU measurements in one go, for a machine that has a GPU but no Rust
# toolchain and no network: run `make device-kit` where the project builds, carry
# .device-kit to the GPU machine, and there run
#
#   benches/device.sh .device-kit OUTDIR
#
# It runs, each step under its own time limit (a few minutes in all on a
# data-centre GPU): the adapters; the matmul kernels at 4096³ and at the two
# networks' shapes; `bench` of both networks with every matmul variant, and a
# --profile of each; the default 5-epoch training (to compare with the CPU's 83.02 %);
# the GPU kernel and training tests; and PyTorch on CUDA with the same networks.
# Everything goes to OUTDIR/device.log.
set -u
kit=${1:?usage: benches/device.sh KIT_DIR OUT_DIR}
out=${2:?usage: benches/device.sh KIT_DIR OUT_DIR}
mkdir -p "$out"
log="$out/device.log"
bin="$kit/gpu-mlp"
data="$kit/data"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

step() {
  local limit=$1
  shift
  echo "=== $* (limit ${limit}s)" | tee -a "$log"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | grep -v XDG_RUNTIME_DIR | tee -a "$log"
  echo "=== exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s" | tee -a "$log"
}

{
  date -u
  uname -a
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
} | tee -a "$log"
step 30 "$bin" devices

# The kernels alone: every variant beside the simple one, and the CPU GEMM.
for shape in 4096,4096,4096 100,784,128 256,1024,1024; do
  step 120 "$bin" bench --backend vulkan --matmul "$shape"
done

# Both networks with each matmul variant (the default for this adapter first).
small=(--data "$data")
large=(--data "$data" --hidden 1024,1024 --batch-size 256)
for net in small large; do
  declare -n args=$net
  step 120 "$bin" bench --backend vulkan "${args[@]}" --epochs 2
  for variant in tiled blocked texture; do
    step 120 env GPU_MLP_MATMUL=$variant "$bin" bench --backend vulkan "${args[@]}" --epochs 2
  done
  step 120 "$bin" bench --backend vulkan "${args[@]}" --steps 300 --profile
done

# Correctness on a real GPU: the default run must print the CPU's numbers
# (83.02 % after 5 epochs), and the kernel and training tests must pass.
step 180 "$bin" train --backend vulkan --data "$data"
for t in "$kit"/tests/*; do
  step 180 env GPU_MLP_TEST_BACKEND=vulkan "$t" --test-threads 1
done

# The peer: PyTorch on CUDA, same networks.
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  step 180 python3 "$kit/torch_cuda_mlp.py" --data "$data" --epochs 5
  step 180 python3 "$kit/torch_cuda_mlp.py" --data "$data" --hidden 1024,1024 --batch 256 --epochs 3
else
  echo "no PyTorch with CUDA here: peer skipped" | tee -a "$log"
fi
echo "done in $SECONDS s" | tee -a "$log"
