#!/usr/bin/env bash
# The main job: set up (idempotent), then run the demo store's whole stack on its sample
# bag and print what it charged beside the truth, a score table and a floor plot.
# Usage: bash scripts/demo.sh [store config, default config/london/store.yaml] [run_store.py options]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
STORE="${1:-$ROOT/config/london/store.yaml}"
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/run_store.py" --store "$STORE" "${@:2}"
