#!/usr/bin/env bash
# The whole test suite from a fresh clone: format and lint checks, the SAM
# template (translated and linted), Rust unit and integration tests (mock
# upstreams, Redis Stack, the DynamoDB emulator, the Lambda door behind a
# Runtime API emulator), then acceptance tests with the official OpenAI
# Python SDK, including the release binary under `cargo lambda watch`.
# Installs what it needs (a Python venv under .venv, Redis Stack and the
# DynamoDB emulator under .tools) and starts every server itself on free
# loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# A one-off build gains nothing from incremental caches (~600 MB).
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
df -h "$ROOT" 2>/dev/null | tail -n 1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "SAM template: translated and linted"
infra/sam/check-template.sh

step "services: Redis Stack on a free loopback port"
REDIS_DIR=$(mktemp -d)
REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'infra/local/redis-stack.sh stop "$REDIS_DIR"' EXIT
infra/local/redis-stack.sh start "$REDIS_PORT" "$REDIS_DIR"
export REDIS_TEST_URL="redis://127.0.0.1:$REDIS_PORT"

step "services: DynamoDB emulator on a free loopback port"
DYNAMO_DIR=$(mktemp -d)
DYNAMO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'infra/local/redis-stack.sh stop "$REDIS_DIR"; infra/local/dynamodb-emulator.sh stop "$DYNAMO_DIR"' EXIT
infra/local/dynamodb-emulator.sh start "$DYNAMO_PORT" "$DYNAMO_DIR"
export DYNAMODB_TEST_URL="http://127.0.0.1:$DYNAMO_PORT"

step "Rust unit and integration tests"
cargo test --workspace --locked

step "OpenAI Python SDK acceptance tests"
VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/acceptance/requirements.txt
# The Vercel AI SDK, pinned by its lock file (the machine's Node.js and npm).
(cd tests/acceptance/vercel && npm ci --no-audit --no-fund --loglevel=error)
cargo build --workspace --bins --locked
# The Lambda door under cargo lambda watch runs the release binary.
cargo build --release --bin llm-gateway --locked
CL_VENV="$ROOT/.tools/cargo-lambda-venv"
[ -x "$CL_VENV/bin/python" ] || python3 -m venv "$CL_VENV"
[ -x "$CL_VENV/bin/cargo-lambda" ] \
  || "$CL_VENV/bin/pip" install --quiet --disable-pip-version-check cargo-lambda==1.9.2
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/acceptance
