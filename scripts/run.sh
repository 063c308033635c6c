#!/usr/bin/env bash
# Runs the gateway locally with embedded defaults (in-memory stores, the
# semantic cache's models from models/cache): starts the release build.
# Settings come from the environment (docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --bin llm-gateway -- "$@"
