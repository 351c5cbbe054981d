#!/usr/bin/env bash
# Runs toonreid's training benchmarks and the PyTorch reference side by side with the
# same model, batch and threads, and prints the speed ratios (medians).
#   bench/compare_pytorch.sh [BUILD_DIR]     (needs python3-torch, python3-pil)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/blas_env.sh
BUILD=${1:-build}
THREADS=${TOONREID_BENCH_THREADS:-2}
PY=/usr/bin/python3
export TOONREID_BENCH_THREADS=$THREADS
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$BUILD/bench/bench_train" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out"
cpp_step=$($PY -c "import json,sys; b=[x for x in json.load(open('$out'))['benchmarks'] if x['name'].startswith('BM_TrainStep') and x.get('aggregate_name')=='median'][0]; print(b['real_time']/1000)")
epoch_field() { $PY -c "import json,sys; b=[x for x in json.load(open('$out'))['benchmarks'] if x['name'].startswith('BM_TrainEpoch') and x.get('aggregate_name')=='median']; print(b[0]['$1'] if b else 0)"; }
cpp_epoch=$(epoch_field items_per_second)
batches=$(epoch_field batches | cut -d. -f1)

py_steps=(); py_epochs=()
for i in 1 2 3; do
  py_steps+=("$($PY bench/reference/train_step.py step --threads "$THREADS" | $PY -c 'import json,sys; print(json.load(sys.stdin)["median_s"])')")
  if [ "$batches" -gt 0 ]; then
    py_epochs+=("$($PY bench/reference/train_step.py epoch --threads "$THREADS" --workers 2 --batches "$batches" | $PY -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
  else py_epochs+=(0); fi
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
py_step=$(median "${py_steps[@]}"); py_epoch=$(median "${py_epochs[@]}")

$PY - "$cpp_step" "$py_step" "$cpp_epoch" "$py_epoch" "$THREADS" "$batches" <<'PY'
import sys
cs, ps, ce, pe, t, nb = map(float, sys.argv[1:])
print(f"threads: {int(t)}")
import os; print("OpenBLAS kernel:", os.environ.get("OPENBLAS_CORETYPE", "as detected"))
print(f"train step (64 x 150x150, dlib_resnet):  toonreid {cs*1000:.0f} ms   PyTorch {ps*1000:.0f} ms   speed ratio {ps/cs:.2f}x")
if ce > 0:
    print(f"one CaVI epoch ({int(nb)} batches, 2 workers): toonreid {ce:.1f} img/s   PyTorch {pe:.1f} img/s   speed ratio {ce/pe:.2f}x")
PY
