#!/usr/bin/env bash
# Set up (idempotent), then run every test. Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JWO_TEST_SERVICES=1 bash "$ROOT/scripts/setup.sh"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
