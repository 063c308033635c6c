#!/usr/bin/env bash
# Rebuilds the semantic cache's models in models/cache from scratch, on CPU,
# with fixed seeds: the static embedding table (model2vec distillation of
# all-MiniLM-L6-v2) and the cross-encoder verifier (fine-tuned from the
# same weights on the pairs make_pairs.py generates). Needs only the package
# registries; ~40 minutes on 2 cores. The test suite never runs this: it
# uses the committed models.
#
# Usage: bench/cache_quality/train/train.sh [OUT_DIR]   (default models/cache)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/models/cache}
VENV=${TRAIN_VENV:-$ROOT/.tools/train-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
EMBEDDING_MODEL_DIR="$ROOT/models/all-MiniLM-L6-v2" "$ROOT/infra/local/install-model.sh"
BASE="$ROOT/models/all-MiniLM-L6-v2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$HERE/make_pairs.py" "$work/train.jsonl"
"$VENV/bin/python" "$HERE/distill_static.py" "$BASE" "$OUT"
"$VENV/bin/python" "$HERE/train_verifier.py" "$BASE" "$work/train.jsonl" "$OUT"
echo "models written to $OUT"
