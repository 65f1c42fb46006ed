#!/usr/bin/env bash
# Creates .venv-deface (the `deface` tool, MIT, with its bundled CenterFace detector) so that
# `streamanon eval --suite` can run deface as a baseline. The suite skips deface cleanly when
# this venv is absent. Run from the repository root:  bash benchmarks/deface_baseline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DEFACE_VENV:-.venv-deface}"
if [ ! -x "$VENV/bin/deface" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet deface
fi
"$VENV/bin/deface" --help >/dev/null
echo "deface ready: $VENV/bin/deface"
