#!/usr/bin/env bash
# Runs toonreid's training benchmarks and the PyTorch reference side by side with the
# same model, batch and threads, and prints the speed ratios (medians).
#   bench/compare_pytorch.sh [BUILD_DIR]     (needs python3-torch, python3-pil)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
THREADS=${TOONREID_BENCH_THREADS:-2}
PY=/usr/bin/python3
export TOONREID_BENCH_THREADS=$THREADS
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$BUILD/bench/bench_train" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out"
cpp_step=$($PY -c "import json,sys; b=[x for x in json.load(open('$out'))['benchmarks'] if x['name'].startswith('BM_TrainStep') and x.get('aggregate_name')=='median'][0]; print(b['real_time']/1000)")
cpp_epoch=$($PY -c "import json,sys; b=[x for x in json.load(open('$out'))['benchmarks'] if x['name'].startswith('BM_TrainBatches') and x.get('aggregate_name')=='median']; print(b[0]['items_per_second'] if b else 0)")

py_steps=(); py_epochs=()
for i in 1 2 3; do
  py_steps+=("$($PY bench/reference/train_step.py step --threads "$THREADS" | $PY -c 'import json,sys; print(json.load(sys.stdin)["median_s"])')")
  py_epochs+=("$($PY bench/reference/train_step.py epoch --threads "$THREADS" --workers 2 | $PY -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
py_step=$(median "${py_steps[@]}"); py_epoch=$(median "${py_epochs[@]}")

$PY - "$cpp_step" "$py_step" "$cpp_epoch" "$py_epoch" "$THREADS" <<'PY'
import sys
cs, ps, ce, pe, t = map(float, sys.argv[1:])
print(f"threads: {int(t)}")
print(f"train step (64 x 150x150, dlib_resnet):  toonreid {cs*1000:.0f} ms   PyTorch {ps*1000:.0f} ms   speed ratio {ps/cs:.2f}x")
if ce > 0:
    print(f"training with data loading (2 workers):   toonreid {ce:.1f} img/s   PyTorch {pe:.1f} img/s   speed ratio {ce/pe:.2f}x")
PY
