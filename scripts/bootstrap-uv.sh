#!/usr/bin/env bash
# Make sure uv is available without touching the system interpreter.
#
# A `uv` on PATH is used as it is. Otherwise uv is installed with pip into a private virtual
# environment inside the checkout (.tools/), which PEP 668 allows even where the distribution's
# python3 refuses `pip install` (Debian, Ubuntu, Fedora's "externally managed" interpreters).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
UV_SPEC='uv>=0.9,<0.14'
PYTHON=${PYTHON:-python3}

command -v uv >/dev/null 2>&1 && exit 0
"$TOOLS/bin/uv" --version >/dev/null 2>&1 && exit 0

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found: install Python 3.11 or newer (or uv: https://docs.astral.sh/uv/)" >&2
  exit 1
fi
# Debian and Ubuntu ship venv and ensurepip in a separate package; without it `-m venv` fails late.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $PYTHON cannot create virtual environments: install the python3-venv package (sudo apt install python3-venv)" >&2
  exit 1
fi
echo "bootstrapping uv into $TOOLS/ (a private virtual environment; the system Python is not touched)"
rm -rf "$TOOLS"
# Unset: a virtual environment the caller has active must not decide where this one's pip installs.
env -u VIRTUAL_ENV -u PYTHONHOME "$PYTHON" -m venv "$TOOLS"
if ! env -u VIRTUAL_ENV "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$UV_SPEC"; then
  rm -rf "$TOOLS"
  echo "error: could not install uv with pip into $TOOLS/ (is the package registry reachable?)" >&2
  exit 1
fi
"$TOOLS/bin/uv" --version
