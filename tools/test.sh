#!/usr/bin/env bash
# Set up .venv, then run the whole test suite once per Keras backend, each in its own process.
# Fails if any backend fails. Extra arguments go to pytest (e.g. tools/test.sh -k rms_norm).
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
status=0
for backend in ${DLZOO_BACKENDS:-tensorflow torch jax}; do
  echo "=== KERAS_BACKEND=$backend ==="
  start=$(date +%s)
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@"
  rc=$?
  echo "=== $backend: exit $rc in $(( $(date +%s) - start )) s ==="
  [ $rc -eq 0 ] || status=1
done
exit $status
