#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document with schemathesis,
# every check on: status codes, content types, response schemas and headers,
# valid requests accepted, invalid ones refused, unsupported methods, auth.
#
# Starts `fsa serve` on SQLite in a temporary folder, onboards a tenant with a
# client and a technician, then runs two passes: the tenant API with the
# tenant admin's token and the admin API with the operator's token. Exits
# non-zero on any failure. scripts/fuzz/hooks.py says what the run supplies
# that a schema cannot (real ids for references, ordered ranges);
# scripts/fuzz/schemathesis.toml names the requests the service refuses by
# design (a cursor it never gave out, a reference to no record).
#
# Environment: FSA_FUZZ_EXAMPLES (cases per operation and phase, default 30),
# FSA_FUZZ_SEED (default 1; "random" for a new one), FSA_FUZZ_VENV (where
# schemathesis is installed, default .venv-fuzz), FSA_FUZZ_PHASES (default
# every phase), FSA_FUZZ_BIN (a built `fsa` binary; built when unset),
# FSA_FUZZ_PG (a PostgreSQL server URL with the service's least-privileged
# login, made once by `fsa db bootstrap`, such as postgres://fsa@127.0.0.1:5432:
# run on PostgreSQL instead, in databases made for the run and dropped after;
# the login owns them, so it drops them too).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
examples=${FSA_FUZZ_EXAMPLES:-30}
seed=${FSA_FUZZ_SEED:-1}
venv=${FSA_FUZZ_VENV:-$root/.venv-fuzz}
phases=${FSA_FUZZ_PHASES:-examples,coverage,fuzzing,stateful}
started=$(date +%s)

# One version, so that a run is repeatable: a later one may add checks.
schemathesis=4.32.5
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$schemathesis"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --no-cache-dir "schemathesis==$schemathesis"
fi

bin=${FSA_FUZZ_BIN:-}
if [ -z "$bin" ]; then
    # The binary the workspace's tests use (the CLI's integration tests
    # need it), built with the features every member's tests unify to:
    # after `cargo test --workspace`, as in CI, this builds nothing, where
    # `-p fsa-cli` would build much of the tree again with other features.
    cargo test -q --workspace --no-run
    bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/fsa
fi

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# The service refuses secrets shorter than 32 characters.
admin_token="fuzz-admin-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
catalog="sqlite://$data/catalog.db"
prefix="fsa_fuzz_$$_$RANDOM"
[ -n "${FSA_FUZZ_PG:-}" ] && catalog="${FSA_FUZZ_PG%/}/$prefix"
FSA_DATA_DIR="$data" FSA_LISTEN="127.0.0.1:$port" FSA_ADMIN_TOKEN="$admin_token" \
    FSA_DATABASE_URL="$catalog" FSA_JWT_SECRET="fuzz-jwt-$(python3 -c 'import secrets; print(secrets.token_hex(24))')" \
    RUST_LOG="${RUST_LOG:-warn}" "$bin" serve >"$data/serve.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [ -n "${FSA_FUZZ_PG:-}" ]; then
        for db in $(psql "${FSA_FUZZ_PG%/}/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'"); do
            psql "${FSA_FUZZ_PG%/}/postgres" -qc "DROP DATABASE \"$db\" WITH (FORCE)" || true
        done
    fi
    rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -fsS "$base/health" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "$base/health" >/dev/null || { cat "$data/serve.log"; exit 1; }

# call METHOD PATH TOKEN [BODY] -> the response body; fails on an error status.
call() {
    local args=(-fsS -X "$1" "$base$2" -H "Authorization: Bearer $3")
    [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data "$4")
    curl "${args[@]}"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

call POST /admin/tenants "$admin_token" \
    '{"slug":"fuzz","name":"Fuzz","plan":"enterprise","admin_email":"admin@fuzz.example","admin_password":"fuzz-password-1"}' >/dev/null
token=$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    --data '{"tenant":"fuzz","email":"admin@fuzz.example","password":"fuzz-password-1"}' | field token)
FSA_FUZZ_USER=$(call GET /api/v1/me "$token" | field id)
FSA_FUZZ_SPARE_USER=$(call POST /api/v1/users "$token" \
    '{"email":"spare@fuzz.example","name":"Spare","role":"viewer","password":"fuzz-password-2"}' | field id)
FSA_FUZZ_CLIENT=$(call POST /api/v1/clients "$token" '{"name":"Fixture client"}' | field id)
FSA_FUZZ_PERSONNEL=$(call POST /api/v1/personnel "$token" '{"name":"Fixture technician"}' | field id)
wo=$(call POST /api/v1/work-orders "$token" "{\"client_id\":\"$FSA_FUZZ_CLIENT\",\"title\":\"Fixture order\"}" | field id)
call POST "/api/v1/work-orders/$wo/tasks" "$token" '{"title":"Fixture task"}' >/dev/null
export FSA_FUZZ_USER FSA_FUZZ_SPARE_USER FSA_FUZZ_CLIENT FSA_FUZZ_PERSONNEL

export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$root/scripts/fuzz${PYTHONPATH:+:$PYTHONPATH}"
run() {
    local name=$1 regex=$2 tok=$3
    echo "== $name API"
    # One worker: the service is small, and parallel workers trip a race in
    # some Python 3.11 releases' parser (SystemError from ast.parse).
    "$venv/bin/st" --config-file "$root/scripts/fuzz/schemathesis.toml" run "$base/openapi.json" \
        --checks all \
        --phases "$phases" \
        --include-path-regex "$regex" \
        -H "Authorization: Bearer $tok" \
        --max-examples "$examples" \
        --workers 1 \
        --request-timeout 20 \
        --generation-database none \
        $( [ "$seed" = random ] || echo --seed "$seed" ) \
        --no-color
}
status=0
run tenant '^/api/' "$token" || status=1
run admin '^/admin/' "$admin_token" || status=1
if grep -q 'panicked' "$data/serve.log"; then
    echo "the server panicked:"; grep -A5 'panicked' "$data/serve.log"; status=1
fi
echo "fuzz-openapi: $(( $(date +%s) - started ))s, $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
