#!/usr/bin/env bash
# Runs every test of the workspace, setting up what the tests need first:
# PostgreSQL 15 on 127.0.0.1:5432 with trust auth for local TCP (installed
# from Debian's packages and started when missing), and an S3-compatible
# server (moto, from PyPI into .venv-s3) on a free local port, stopped when
# this script exits. Arguments go to `cargo test` (a test name, `-p fsa-store`).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=/usr/lib/postgresql/15/bin
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -z "${FSA_TEST_PG_URL:-}" ]; then
  if [ ! -x "$PG_BIN/initdb" ]; then
    echo "test.sh: installing PostgreSQL 15" >&2
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql-15 \
      || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
  fi
  if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432; then
    echo "test.sh: starting PostgreSQL" >&2
    as_root pg_ctlcluster --skip-systemctl-redirect 15 main start
  fi
  for _ in $(seq 1 30); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    echo "test.sh: trusting local TCP logins to PostgreSQL" >&2
    hba=$(as_root runuser -u postgres -- psql -tAc 'SHOW hba_file')
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    as_root runuser -u postgres -- psql -c 'SELECT pg_reload_conf()' >/dev/null
  fi
fi

moto_pid=
if [ -z "${FSA_TEST_S3_ENDPOINT:-}" ]; then
  if [ ! -x .venv-s3/bin/moto_server ]; then
    echo "test.sh: installing moto into .venv-s3" >&2
    python3 -m venv .venv-s3
    .venv-s3/bin/pip install -q --no-cache-dir 'moto[server]'
  fi
  s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv-s3/bin/moto_server -H 127.0.0.1 -p "$s3_port" >"${TMPDIR:-/tmp}/fsa-test-moto.log" 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
  export FSA_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$FSA_TEST_S3_ENDPOINT/" 2>/dev/null && break
    sleep 0.2
  done
fi

cargo test --workspace "$@"
