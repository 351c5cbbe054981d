#!/usr/bin/env bash
# One training epoch and one re-ranking, before and after a change, side by side in one
# run: two toonreid programs (e.g. a copy of build/toonreid kept from the earlier commit,
# and the current one) run alternately, 3 times each; prints each time and the medians,
# and checks that both give the same results (the trained models' features and the
# re-ranked lists, byte for byte).
#   bench/refactor_before_after.sh BEFORE_TOONREID AFTER_TOONREID [FEATURES.npy CONFIG]
# Training: configs/tiny.yaml (ResNet-18, 64x64) on a 60-identity synthetic set, 1 epoch.
# Re-ranking: `rank --features` with k-reciprocal re-ranking forced onto its approximate
# (HNSW) path; default features: the synthetic set's zero-shot dlib features.
set -euo pipefail
before=$1 after=$2
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/toonreid_before_after.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$here"
"$after" synth --out "$work/synth" --identities 60 --photos 8 --cartoons 8 --size 96 --seed 7 --quiet >/dev/null
features=${3:-}
config=${4:-configs/synth_demo.yaml}
data_args=()
if [ -z "$features" ]; then
  "$after" extract --config configs/synth_demo.yaml --data "$work/synth" --out "$work/feat" --quiet >/dev/null
  features=$work/feat/features.npy
  data_args=(--data "$work/synth")
fi
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
declare -A train rerank
for round in 1 2 3; do
  for side in before after; do
    bin=${!side}
    t0=$(now)
    "$bin" train --config configs/tiny.yaml data.root="$work/synth" solver.epochs=1 train.eval=false \
      run.output_dir="$work/train_$side" run.threads=2 --quiet >/dev/null
    t1=$(now)
    "$bin" rank --config "$config" "${data_args[@]}" --features "$features" --out "$work/rank_$side.csv" --top-k 10 \
      test.rerank.enabled=true test.rerank.approximate_above=0 run.threads=2 --quiet >/dev/null
    t2=$(now)
    train[$side]+="$(echo "$t1 - $t0" | bc) "
    rerank[$side]+="$(echo "$t2 - $t1" | bc) "
  done
done
for side in before after; do
  # shellcheck disable=SC2086
  echo "$side: epoch ${train[$side]}s (median $(median ${train[$side]})), re-ranking ${rerank[$side]}s (median $(median ${rerank[$side]}))"
done
# FAISS builds the HNSW graph with OpenMP threads, so the approximate path's near-ties can
# differ between any two runs (of one program too); compare the exact path's lists.
for side in before after; do
  bin=${!side}
  "$bin" rank --config "$config" "${data_args[@]}" --features "$features" --out "$work/exact_$side.csv" --top-k 10 \
    test.rerank.enabled=true test.rerank.search=exact run.threads=2 --quiet >/dev/null
done
cmp -s "$work/exact_before.csv" "$work/exact_after.csv" && echo "re-ranked lists (exact path): identical" ||
  echo "re-ranked lists (exact path): DIFFER"
# The checkpoints embed their config (new keys make the files differ): compare what they compute.
for side in before after; do
  "$after" extract --config configs/tiny.yaml --weights "$work/train_$side/model_final.pt" --data "$work/synth" \
    --out "$work/trained_$side" --quiet >/dev/null
done
cmp -s "$work/trained_before/features.npy" "$work/trained_after/features.npy" &&
  echo "trained models' features: identical" || echo "trained models' features: DIFFER"
