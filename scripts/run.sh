#!/usr/bin/env bash
# Runs the gateway locally with embedded defaults (in-memory stores, the
# local embedding model): installs the model for the semantic cache when it
# is missing, then starts the release build. Settings come from the
# environment (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CACHE_ENABLED:-true}" != "false" ] && [ "${EMBEDDINGS:-local}" = "local" ] && [ -z "${EMBEDDING_MODEL_DIR:-}" ]; then
  infra/local/install-model.sh \
    || echo "warning: the embedding model could not be installed; the gateway starts without its cache" >&2
fi
exec cargo run --release --bin llm-gateway -- "$@"
