#!/usr/bin/env bash
# The whole test suite, from a fresh machine: creates .venv, installs spii with its test
# dependencies, installs Debian's chromium for the browser tests when missing, runs pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k keyring`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

# Debian packages the tests drive: chromium (browser tests), faketime (the simulated-year test
# moves a real collector's wall clock with libfaketime).
missing=()
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

exec .venv/bin/python -m pytest "$@"
