#!/usr/bin/env bash
# Regenerates the committed sample bags in bags/ from their seeds, bit for bit.
# Usage: bash scripts/generate_sample_bags.sh   (after bash scripts/setup.sh)
# BAGS_DIR=/tmp/x writes them elsewhere (the tests compare that with the committed ones).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GENERATE="$ROOT/.venv/bin/jwo_sim_generate"
BAGS_DIR="${BAGS_DIR:-bags}"

sample() {  # name store seed shoppers duration_s difficulty
  rm -rf "${BAGS_DIR:?}/$1"
  "$GENERATE" --store "config/$2/store.yaml" --seed "$3" --shoppers "$4" --duration "$5" \
    --difficulty "$6" --out "$BAGS_DIR/$1"
}

mkdir -p "$BAGS_DIR"
sample london_easy london 101 3 45 easy
sample seattle_easy seattle 202 3 45 easy
