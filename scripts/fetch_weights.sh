#!/usr/bin/env bash
# Fetches dlib's ResNet face-embedding network (public domain), the SSD MobileNet v1 face
# detector and the 68-point landmark net (MIT), as shipped inside the
# npm package @vladmandic/face-api, into .cache/weights/face-api (not committed), and
# checks the files against their expected sizes. Safe to re-run: it skips work done.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="1.7.15"
DEST="${TOONREID_WEIGHTS_DIR:-$ROOT/.cache/weights}/face-api"
# Expected byte sizes of the files toonreid reads.
declare -A SIZES=(
  [face_recognition_model.bin]=6444032
  [face_recognition_model-weights_manifest.json]=19615
  [ssd_mobilenetv1_model.bin]=5616957
  [ssd_mobilenetv1_model-weights_manifest.json]=28233
  [face_landmark_68_model.bin]=356840
  [face_landmark_68_model-weights_manifest.json]=8485
)

check() {
  for f in "${!SIZES[@]}"; do
    [[ -f "$DEST/$f" ]] || return 1
    [[ $(stat -c %s "$DEST/$f") -eq ${SIZES[$f]} ]] || return 1
  done
}

if check; then
  echo "fetch_weights: face-api $VERSION weights present in $DEST"
  exit 0
fi

if ! command -v npm >/dev/null; then
  echo "fetch_weights: npm is missing (run make deps)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch_weights: npm pack @vladmandic/face-api@$VERSION"
(cd "$tmp" && npm pack --silent "@vladmandic/face-api@$VERSION" >/dev/null)
tar -xzf "$tmp"/vladmandic-face-api-"$VERSION".tgz -C "$tmp"
mkdir -p "$DEST"
for f in "${!SIZES[@]}"; do
  src="$tmp/package/model/$f"
  [[ -f "$src" ]] || { echo "fetch_weights: $f not found in the package" >&2; exit 1; }
  actual=$(stat -c %s "$src")
  if [[ $actual -ne ${SIZES[$f]} ]]; then
    echo "fetch_weights: $f has $actual bytes, expected ${SIZES[$f]}; refusing to install it" >&2
    exit 1
  fi
  cp "$src" "$DEST/$f.tmp" && mv "$DEST/$f.tmp" "$DEST/$f"
done
echo "fetch_weights: installed face-api $VERSION weights into $DEST"
