#!/usr/bin/env bash
# Enrolment cost before and after a change, side by side in one run: bench_enrol built in
# this tree and in a worktree of an earlier commit (default: the commit before the gallery
# became log-structured), run alternately, medians of each program's repetitions.
#   bench/enrol_before_after.sh [BUILD_DIR] [BEFORE_COMMIT] [CASES...]
# A case is KIND:DIM:N, e.g. flat:2048:100000 (default: flat and hnsw at 10^4 and 10^5, 128-d
# and 2048-d, without hnsw:2048:100000, whose build alone takes minutes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
before=${2:-3d3a3f1}
shift $(( $# > 2 ? 2 : $# )) || true
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(flat:128:10000 flat:2048:10000 flat:128:100000 flat:2048:100000 hnsw:128:10000 hnsw:2048:10000 hnsw:128:100000)
wt=$here/.cache/bench_before_$before
if [ ! -d "$wt" ]; then git -C "$here" worktree add -f "$wt" "$before" >/dev/null; fi
mkdir -p "$wt/.cache"; ln -sfn "$here/.cache/weights" "$wt/.cache/weights"
cp "$here/bench/bench_enrol.cpp" "$wt/bench/bench_enrol.cpp"
grep -q bench_enrol "$wt/bench/CMakeLists.txt" || cat >> "$wt/bench/CMakeLists.txt" <<'CM'
add_executable(bench_enrol bench_enrol.cpp)
target_link_libraries(bench_enrol PRIVATE toonreid)
CM
[ -f "$wt/build/build.ninja" ] || cmake -S "$wt" -B "$wt/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$wt/build" --target bench_enrol -j "$(nproc)" >/dev/null
cmake --build "$build" --target bench_enrol -j "$(nproc)" >/dev/null
for c in "${cases[@]}"; do
  IFS=: read -r kind dim n <<<"$c"
  echo "== $kind ${dim}-d, $n items"
  echo -n "before: "; "$wt/build/bench/bench_enrol" --kind "$kind" --dim "$dim" --n "$n" --repeats 5 --appended 0
  echo -n "after:  "; "$build/bench/bench_enrol" --kind "$kind" --dim "$dim" --n "$n" --repeats 5 --appended 10000
done
