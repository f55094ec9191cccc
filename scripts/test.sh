#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the Debian packages it needs when missing
# (a C compiler, chromium, faketime), creates .venv, installs spii (its hot path compiled) with its
# test dependencies, runs pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k keyring`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, first: the C compiler the install below uses, chromium (browser tests), faketime
# (the simulated-year test moves a real collector's wall clock with libfaketime).
missing=()
command -v cc >/dev/null || missing+=(gcc)  # pip install compiles the hot path (setup.py); tests/test_build.py checks it did
command -v curl >/dev/null || missing+=(curl)
command -v npm >/dev/null || missing+=(npm)  # axe-core for the browser tests' accessibility checks  # the README's examples, run by tests/docs/test_examples.py
[ -x /usr/bin/chromium ] || [ "${SPII_SKIP_BROWSER_INSTALL:-0}" = "1" ] || missing+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1 ] || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing ${missing[*]} and no root: the tests that need them will be skipped" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

# axe-core for the accessibility checks of the browser tests (tests/browser/package.json)
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null; then
  npm ci --prefix tests/browser --no-audit --no-fund --silent || echo "npm ci failed: the axe-core checks will be skipped" >&2
fi

exec .venv/bin/python -m pytest "$@"
