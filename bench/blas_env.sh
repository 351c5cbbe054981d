# Sourced by the comparison scripts: the same OpenBLAS kernel for both sides. toonreid's
# programs pick it themselves (ensure_fast_blas in src/core/runtime.h) because OpenBLAS
# misdetects virtual CPUs as "Prescott" (SSE3); Python would otherwise keep the slow one.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  _flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [[ $_flags == *avx512f* && $_flags == *avx512bw* && $_flags == *avx512vl* && $_flags == *avx512dq* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $_flags == *avx2* && $_flags == *fma* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
