#!/usr/bin/env bash
# Data-parallel training on this machine: 1 process vs 2 (toonreid launch, Gloo over
# loopback) on the same global batches, side by side in one run. Each configuration
# trains REPS times; per run the median over its steps (the first WARMUP skipped), then
# the median over runs. Reported: images/s in total and per process, the wait for the
# gradient all-reduce after backward (what overlapping leaves exposed) and its share of
# the step, and the same with one bucket launched after backward (no overlap: the
# all-reduce's whole time).
#   bench/distributed_training.sh [BUILD_DIR]
# Environment: REPS (3), STEPS (24), WARMUP (4), CONFIG (configs/tiny.yaml), EXTRA (overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/blas_env.sh
BUILD=${1:-build}
PY=/usr/bin/python3
REPS=${REPS:-3}
STEPS=${STEPS:-24}
WARMUP=${WARMUP:-4}
CONFIG=${CONFIG:-configs/tiny.yaml}
CORES=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$BUILD/toonreid" synth --out "$work/toons" --identities 40 --photos 6 --cartoons 6 --size 64 --seed 3 --quiet > /dev/null
common=(--config "$CONFIG" "data.root=$work/toons" "solver.epochs=1" "train.max_batches_per_epoch=$STEPS"
        "train.eval=false" "loader.workers=1" ${EXTRA:-})

# run NAME NPROC [overrides...]: one training; prints its steps' medians as JSON.
run() {
  local name=$1 nproc=$2 out="$work/$1"
  shift 2
  rm -rf "$out"
  if [[ $nproc == 1 ]]; then
    "$BUILD/toonreid" train "${common[@]}" "run.output_dir=$out" "run.threads=$CORES" "$@" --quiet > /dev/null
  else
    "$BUILD/toonreid" launch --nproc "$nproc" --master-port $((29600 + RANDOM % 300)) -- \
      train "${common[@]}" "run.output_dir=$out" "$@" --quiet > /dev/null
  fi
  $PY - "$out/train_log.jsonl" "$WARMUP" "$nproc" <<'PY'
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"iter"' in l][int(sys.argv[2]):]
med = lambda k: statistics.median(s[k] for s in steps)
n = int(sys.argv[3])
print(json.dumps({"img_s": med("img_per_s"), "img_s_per_process": med("img_per_s") / n,
                  "step_ms": 1000 * med("step_s"), "wait_ms": 1000 * med("sync_wait_s")}))
PY
}

declare -A results
for ((i = 0; i < REPS; i++)); do
  results[one]+="$(run one 1)"$'\n'
  results[two]+="$(run two 2)"$'\n'
  results[two_one_bucket]+="$(run two_one_bucket 2 dist.bucket_mb=100000)"$'\n'
  results[two_global]+="$(run two_global 2 dist.gather_features=true dist.sync_bn=true)"$'\n'
done

$PY - "$CORES" "${results[one]}" "${results[two]}" "${results[two_one_bucket]}" "${results[two_global]}" <<'PY'
import json, statistics, sys
cores = sys.argv[1]
names = ["1 process (%s threads)" % cores, "2 processes", "2 processes, one bucket (no overlap)",
         "2 processes, gather_features + sync_bn"]
rows = []
for name, text in zip(names, sys.argv[2:]):
    runs = [json.loads(l) for l in text.splitlines() if l.strip()]
    m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rows.append((name, m))
base = rows[0][1]["img_s"]
print("| configuration | images/s total | per process | vs 1 process | step ms | all-reduce wait ms | share |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, m in rows:
    print("| %s | %.1f | %.1f | %.2fx | %.0f | %.1f | %.1f%% |" % (name, m["img_s"], m["img_s_per_process"], m["img_s"] / base,
          m["step_ms"], m["wait_ms"], 100 * m["wait_ms"] / m["step_ms"]))
PY
