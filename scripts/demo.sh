#!/usr/bin/env bash
# The main job: set up (idempotent), then run the demo store.
# Usage: bash scripts/demo.sh [store config, default config/london/store.yaml]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/smoke_store.py" --store "${1:-$ROOT/config/london/store.yaml}"
