#!/usr/bin/env bash
# Install streamanon into .venv and anonymize a generated sample clip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh synthetic,demo
exec .venv/bin/streamanon demo --out-dir streamanon-demo
