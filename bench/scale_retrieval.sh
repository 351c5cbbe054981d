#!/usr/bin/env bash
# Retrieval at the scale of real galleries (issue: the recipe as a library, and retrieval
# at 100,000 images), side by side in one run, medians of REPS runs (default 3):
#   - k-reciprocal re-ranking (20, 6, 0.3) at N = 20,000 (2,000 queries, 18,000 gallery):
#     exact against approximate gallery neighbours (HNSW, IVF), the re-ranked mAP of each;
#   - re-ranking at N = 100,000 (5,000 queries, 95,000 gallery), 2048-d and 128-d, with the
#     default approximate neighbours (HNSW): time, the computation's memory, process peak;
#   - mAP / CMC / mINP of 10,000 queries against 50,000 gallery items from 128-d features.
# Features: clustered synthetic ones (bench/reference/retrieval_numpy.py make --latent 64:
# identities spread in a 64-d subspace, projected to the stated dimension, as embeddings
# are; noise chosen so that plain mAP is 0.5-0.8, not saturated). Needs python3-numpy.
#   bench/scale_retrieval.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/blas_env.sh
BUILD=${1:-build}
PY=/usr/bin/python3
REPS=${REPS:-3}
export TOONREID_BENCH_THREADS=${TOONREID_BENCH_THREADS:-2}
export OPENBLAS_NUM_THREADS=$TOONREID_BENCH_THREADS OMP_NUM_THREADS=$TOONREID_BENCH_THREADS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_data() {  # NAME QUERIES GALLERY DIM IDS NOISE
  $PY bench/reference/retrieval_numpy.py make "$work/$1" --queries "$2" --gallery "$3" --dim "$4" --ids "$5" \
    --latent 64 --noise "$6"
}

# run LABEL ARGS...: REPS runs of bench_retrieval, one line of medians.
run() {
  local label=$1 outs=()
  shift
  for ((i = 0; i < REPS; i++)); do outs+=("$("$BUILD/bench/bench_retrieval" "$@" | tail -1)"); done
  $PY - "$label" "${outs[@]}" <<'PY'
import json, statistics, sys
label, runs = sys.argv[1], [json.loads(x) for x in sys.argv[2:]]
med = lambda k: statistics.median(r[k] for r in runs)
line = f"{label:<44} {med('seconds'):7.2f} s   work {med('work_mb'):6.0f} MB"
if "process_peak_mb" in runs[0]:
    line += f"   process peak {med('process_peak_mb'):6.0f} MB"
if "rerank_mAP" in runs[0]:
    line += f"   re-ranked mAP {100 * runs[0]['rerank_mAP']:.2f}"
if "mAP" in runs[0]:
    line += f"   mAP {100 * runs[0]['mAP']:.2f}"
print(line + f"   (n={len(runs)})", flush=True)
PY
}

echo "threads: $TOONREID_BENCH_THREADS; OpenBLAS kernel: ${OPENBLAS_CORETYPE:-as detected}; medians of $REPS runs"
for dim in 2048 128; do
  noise=$([ "$dim" = 2048 ] && echo 1.1 || echo 1.1)
  make_data "n20k_$dim" 2000 18000 "$dim" 1000 "$noise"
  run "re-ranking N=20,000 ${dim}-d, exact" rerank "$work/n20k_$dim" --search exact
  run "re-ranking N=20,000 ${dim}-d, hnsw" rerank "$work/n20k_$dim" --search hnsw --approximate-above 0
  run "re-ranking N=20,000 ${dim}-d, ivf" rerank "$work/n20k_$dim" --search ivf --approximate-above 0
  rm -rf "$work/n20k_$dim"
  make_data "n100k_$dim" 5000 95000 "$dim" 5000 "$noise"
  run "re-ranking N=100,000 ${dim}-d, hnsw (default)" rerank "$work/n100k_$dim"
  rm -rf "$work/n100k_$dim"
done
make_data metrics 10000 50000 128 2500 1.1
run "mAP/CMC/mINP 10,000 x 50,000, 128-d" metrics "$work/metrics"
