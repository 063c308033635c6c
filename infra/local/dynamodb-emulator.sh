#!/usr/bin/env bash
# A DynamoDB emulator (moto's server, from PyPI) for local work and the test
# suite. Installs once into .tools/ (or $GATEWAY_TOOLS_DIR), then starts or
# stops a server on loopback.
#
#   infra/local/dynamodb-emulator.sh install
#   infra/local/dynamodb-emulator.sh start PORT DIR   # background, pid in DIR/moto.pid
#   infra/local/dynamodb-emulator.sh stop DIR
#
# Point the gateway at it with AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT,
# AWS_REGION=us-east-1 and any AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${GATEWAY_TOOLS_DIR:-$ROOT/.tools}
VENV=$TOOLS/moto-venv
MOTO="moto[server]==5.2.5"

install() {
  mkdir -p "$TOOLS"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  [ -x "$VENV/bin/moto_server" ] \
    || "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO"
}

start() {
  local port=$1 dir=$2
  install
  mkdir -p "$dir"
  # One request at a time: moto's threaded server applies concurrent
  # conditional updates and ADDs to one item without a lock (lost updates,
  # over-granted buckets); served serially, each call is atomic as in
  # DynamoDB. Without threads werkzeug speaks HTTP/1.0, one call per
  # connection, so clients never wait on another's idle keep-alive.
  MOTO_PORT=$port "$VENV/bin/python" -c '
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
' "$port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  for _ in $(seq 1 200); do
    if "$VENV/bin/python" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "moto_server did not start on port $port; see $dir/moto.log" >&2
  return 1
}

stop() {
  local dir=$1
  [ -f "$dir/moto.pid" ] || return 0
  kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
  rm -f "$dir/moto.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start PORT DIR | stop DIR" >&2; exit 2 ;;
esac
