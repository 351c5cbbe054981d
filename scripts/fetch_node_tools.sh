#!/usr/bin/env bash
# Node packages the tests use, into .cache/node (not committed): playwright-core drives
# the system Chromium (Debian `chromium`) in the web page's browser test.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/.cache/node"
VERSION=1.49.1
if [ -f "$DEST/node_modules/playwright-core/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DEST/node_modules/playwright-core/package.json"; then
  echo "fetch_node_tools: playwright-core $VERSION present in $DEST"
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "fetch_node_tools: npm is missing (run make deps)" >&2
  exit 1
fi
mkdir -p "$DEST"
# playwright-core alone: no browser download (the system Chromium is used).
(cd "$DEST" && npm install --silent --no-audit --no-fund --prefix "$DEST" "playwright-core@$VERSION")
echo "fetch_node_tools: installed playwright-core $VERSION into $DEST"
