#!/usr/bin/env bash
# Set up .venv, then run the main job: the LCM quickstart on a text corpus shipped with Python.
# Extra arguments go to `dlzoo quickstart` (e.g. --backend torch --model lcm-two-tower).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
exec .venv/bin/dlzoo quickstart "$@"
