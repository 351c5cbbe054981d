#!/usr/bin/env bash
# toonreid's re-ranking and metrics against the NumPy references, side by side in one
# run: the same features, one process per measurement, median seconds and median memory
# of REPS runs. Memory: the computation's own peak (resident memory above what the
# process held before it, both sides measured alike from /proc/self/status); the whole
# processes' peaks are printed too (LibTorch alone keeps ~165 MB resident, NumPy ~30 MB) (default 3; BIG_REPS for the 20000 x 100000 metrics case,
# default 1). Needs python3-numpy.
#   bench/compare_numpy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/blas_env.sh
BUILD=${1:-build}
PY=/usr/bin/python3
REPS=${REPS:-3}
BIG_REPS=${BIG_REPS:-1}
export TOONREID_BENCH_THREADS=${TOONREID_BENCH_THREADS:-2}
export OPENBLAS_NUM_THREADS=$TOONREID_BENCH_THREADS OMP_NUM_THREADS=$TOONREID_BENCH_THREADS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs a command, prints its JSON output with peak_rss_mb (the child's maximum RSS) added.
measure() {
  $PY - "$@" <<'PY'
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout
r = json.loads(out.strip().splitlines()[-1])
r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(r))
PY
}

# compare NAME REPS MODE DIR: medians for both sides and the ratios.
compare() {
  local name=$1 reps=$2 mode=$3 dir=$4 cpp=() py=()
  for ((i = 0; i < reps; i++)); do
    cpp+=("$(measure "$BUILD/bench/bench_retrieval" "$mode" "$dir")")
    py+=("$(measure $PY bench/reference/retrieval_numpy.py "$mode" "$dir")")
  done
  $PY - "$name" "${#cpp[@]}" "${cpp[@]}" "${py[@]}" <<'PY'
import json, statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
cpp = [json.loads(x) for x in sys.argv[3:3 + n]]
py = [json.loads(x) for x in sys.argv[3 + n:]]
med = lambda rs, k: statistics.median(r[k] for r in rs)
ct, pt, cm, pm = med(cpp, "seconds"), med(py, "seconds"), med(cpp, "work_mb"), med(py, "work_mb")
cr, pr = med(cpp, "peak_rss_mb"), med(py, "peak_rss_mb")
extra = ""
if "mAP" in cpp[0]:
    extra = f"   mAP toonreid {cpp[0]['mAP']:.6f} NumPy {py[0]['mAP']:.6f}"
print(f"{name:<32} toonreid {ct:7.2f} s {cm:6.0f} MB   NumPy {pt:7.2f} s {pm:6.0f} MB   "
      f"speed {pt / ct:5.1f}x   memory {pm / cm:5.1f}x less   (process peaks {cr:.0f} / {pr:.0f} MB, n={n}){extra}")
PY
}

echo "threads: $TOONREID_BENCH_THREADS; OpenBLAS kernel: ${OPENBLAS_CORETYPE:-as detected}; medians of $REPS runs (big metrics case: $BIG_REPS)"
for size in "2500 3300" "5000 6000"; do
  set -- $size
  d="$work/rerank_$1_$2"
  $PY bench/reference/retrieval_numpy.py make "$d" --queries "$1" --gallery "$2" --dim 2048 --ids 400
  compare "re-ranking ($1, $2), 2048-d" "$REPS" rerank "$d"
  if [ "$1" = 2500 ]; then  # agreement of the two implementations
    "$BUILD/bench/bench_retrieval" rerank "$d" --out "$d/cpp.npy" > /dev/null
    $PY bench/reference/retrieval_numpy.py rerank "$d" --out "$d/py.npy" > /dev/null
    $PY -c "import numpy as np; a=np.load('$d/cpp.npy'); b=np.load('$d/py.npy'); print(f'  re-ranked distances, max |toonreid - NumPy| = {abs(a-b).max():.2e}')"
  fi
  rm -rf "$d"
done
# N = 20,000 (queries + gallery): toonreid only (the dense reference would need ~10 GB).
d="$work/rerank_10000_10000"
$PY bench/reference/retrieval_numpy.py make "$d" --queries 10000 --gallery 10000 --dim 2048 --ids 1000
$PY - "$(measure "$BUILD/bench/bench_retrieval" rerank "$d")" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"re-ranking (10000, 10000), 2048-d  toonreid {r['seconds']:7.2f} s {r['work_mb']:6.0f} MB   (process peak {r['peak_rss_mb']:.0f} MB, one run)")
PY
rm -rf "$d"
for size in "2500 3300 $REPS" "20000 100000 $BIG_REPS"; do
  set -- $size
  d="$work/metrics_$1_$2"
  $PY bench/reference/retrieval_numpy.py make "$d" --queries "$1" --gallery "$2" --dim 128 --ids 1000
  compare "mAP/CMC/mINP ($1, $2), 128-d" "$3" metrics "$d"
  rm -rf "$d"
done
