#!/usr/bin/env bash
# Install what the tests need (system packages, .venv with the test extras) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/venv.sh test
export PYTHONUNBUFFERED=1 GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
