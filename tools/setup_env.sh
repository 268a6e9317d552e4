#!/usr/bin/env bash
# Create (or reuse) the virtual environment at .venv and install dlzoo with every extra.
# torch is pinned by tools/constraints.txt to this machine's local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.dlzoo-installed
want=$(cat pyproject.toml tools/constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q -c tools/constraints.txt "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -c tools/constraints.txt -e ".[all]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import dlzoo, keras, torch, jax, tensorflow" >/dev/null 2>&1 || { echo "setup failed: dlzoo or a backend does not import" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
