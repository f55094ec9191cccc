#!/usr/bin/env bash
# Regenerate collector/http/static/spii.min.js from the readable spii.js with terser (npm).
# Run after editing spii.js; tests/tracker/test_size.py fails when the committed copy is stale
# (spii.min.js.source-sha256 records the source it was made from) or over 1,280 bytes gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
src=collector/http/static/spii.js
out=collector/http/static/spii.min.js
${TERSER:-npx --yes terser@5} "$src" --ecma 2020 -m toplevel \
  -c passes=5,unsafe=true,unsafe_comps=true,pure_getters=true,booleans_as_integers=true,unsafe_arrows=true > "$out.tmp"
mv "$out.tmp" "$out"
# which source the committed copy was made from (a comment inside would cost ~70 gzipped bytes)
sha256sum "$src" | cut -c1-64 > "$out.source-sha256"
python3 -c "import gzip,sys; b=open('$out','rb').read(); print(len(b), 'bytes,', len(gzip.compress(b, 9, mtime=0)), 'gzipped')"
