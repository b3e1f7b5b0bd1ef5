#!/usr/bin/env bash
# Regenerates the committed sample bags in bags/ from their seeds, bit for bit.
# Usage: bash scripts/generate_sample_bags.sh   (after bash scripts/setup.sh)
# BAGS_DIR=/tmp/x writes them elsewhere (the tests compare that with the committed ones).
# Committed bags leave the depth noise off: noisy 16UC1 frames barely compress and would
# not fit 15 MB; generate noisy ones locally (jwo_sim_generate --difficulty hard).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GENERATE="$ROOT/.venv/bin/jwo_sim_generate"
BAGS_DIR="${BAGS_DIR:-bags}"

sample() {  # name store seed shoppers duration_s difficulty [jwo_sim_generate options]
  rm -rf "${BAGS_DIR:?}/$1"
  "$GENERATE" --store "config/$2/store.yaml" --seed "$3" --shoppers "$4" --duration "$5" \
    --difficulty "$6" --out "$BAGS_DIR/$1" "${@:7}"
}

mkdir -p "$BAGS_DIR"
sample london_easy london 101 4 30 easy
sample london_crowded london 102 10 40 medium --fault depth_noise_mm_at_1m=0
sample london_tricky london 103 6 40 hard --fault depth_noise_mm_at_1m=0 \
  --fault depth_hole_probability=0.002
sample seattle_easy seattle 202 4 30 easy
