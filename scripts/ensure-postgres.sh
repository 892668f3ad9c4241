#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is up and accepts our login.
#
#   HANDOVER_TEST_PG_HOST      (default 127.0.0.1)
#   HANDOVER_TEST_PG_PORT      (default 5432)
#   HANDOVER_TEST_PG_USER      (default postgres)
#   HANDOVER_TEST_PG_PASSWORD  (default empty)
#
# If the server is not accepting connections and PostgreSQL is installed on this machine
# (/etc/postgresql exists), its cluster is started. If it still cannot be reached, this fails:
# the PostgreSQL tests are never skipped.
set -euo pipefail

HOST="${HANDOVER_TEST_PG_HOST:-127.0.0.1}"
PORT="${HANDOVER_TEST_PG_PORT:-5432}"
USER_="${HANDOVER_TEST_PG_USER:-postgres}"
PASSWORD="${HANDOVER_TEST_PG_PASSWORD:-}"
WAIT_SECONDS="${HANDOVER_TEST_PG_WAIT:-30}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PY="$ROOT/.venv/bin/python"

say() { echo "ensure-postgres: $*"; }

fail() {
    {
        echo
        echo "=================================================================="
        echo " PostgreSQL IS REQUIRED FOR THE TESTS AND IS NOT AVAILABLE"
        echo "=================================================================="
        echo " $*"
        echo
        echo " Server:  ${HOST}:${PORT}   user: ${USER_}   database: postgres"
        echo " Start a local server, or point the tests at one with"
        echo "   HANDOVER_TEST_PG_HOST / _PORT / _USER / _PASSWORD"
        echo "=================================================================="
        echo
    } >&2
    exit 1
}

# Is the server accepting connections (not: does our login work)?
accepting() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT" -t 3
    elif [[ -x "$VENV_PY" ]]; then
        "$VENV_PY" - "$HOST" "$PORT" <<'PY'
import sys
import psycopg

host, port = sys.argv[1], int(sys.argv[2])
try:
    psycopg.connect(host=host, port=port, dbname="postgres", user="__probe__",
                    connect_timeout=3).close()
except psycopg.OperationalError as e:
    text = str(e).lower()
    # The server answered (it refused this made-up login): it is accepting connections.
    sys.exit(0 if ("authentication" in text or "role" in text or "password" in text) else 1)
PY
    else
        # Neither pg_isready nor the virtualenv: a bare TCP check.
        (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null
    fi
}

is_local() {
    case "$HOST" in
        127.0.0.1 | localhost | ::1 | /*) return 0 ;;
        *) return 1 ;;
    esac
}

start_local_cluster() {
    local version out
    for version in $(ls /etc/postgresql); do
        [[ -d "/etc/postgresql/$version/main" ]] || continue
        say "starting PostgreSQL $version (cluster main)"
        if ! out="$(pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1)"; then
            if grep -qi "already running" <<<"$out"; then
                say "PostgreSQL $version main is already running"
            else
                echo "$out" >&2
                say "pg_ctlcluster could not start PostgreSQL $version main (see above)"
            fi
        fi
    done
}

if accepting; then
    say "PostgreSQL is accepting connections at ${HOST}:${PORT}"
else
    say "PostgreSQL is not accepting connections at ${HOST}:${PORT}"
    if is_local && [[ -d /etc/postgresql ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
        start_local_cluster
        for ((i = 0; i < WAIT_SECONDS; i++)); do
            accepting && break
            sleep 1
        done
        accepting || fail "The local PostgreSQL server was started but does not accept connections after ${WAIT_SECONDS}s (see /var/log/postgresql/)."
        say "PostgreSQL is accepting connections at ${HOST}:${PORT}"
    elif is_local; then
        fail "Nothing answers at ${HOST}:${PORT}, and no local PostgreSQL installation was found (/etc/postgresql)."
    else
        fail "Nothing answers at ${HOST}:${PORT}."
    fi
fi

# The login the tests use, on the maintenance database; the tests create and drop databases.
if command -v psql >/dev/null 2>&1; then
    if ! out="$(PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -t -A -w \
            -h "$HOST" -p "$PORT" -U "$USER_" -d postgres \
            -c "select rolsuper or rolcreatedb from pg_roles where rolname = current_user" 2>&1)"; then
        fail "The server is up but the login failed: ${out}"
    fi
elif [[ -x "$VENV_PY" ]]; then
    if ! out="$(HOST="$HOST" PORT="$PORT" USER_="$USER_" PASSWORD="$PASSWORD" "$VENV_PY" - 2>&1 <<'PY'
import os
import sys
import psycopg

try:
    with psycopg.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]),
                         user=os.environ["USER_"], password=os.environ["PASSWORD"],
                         dbname="postgres", connect_timeout=5) as conn:
        row = conn.execute("select rolsuper or rolcreatedb from pg_roles "
                           "where rolname = current_user").fetchone()
except psycopg.Error as e:
    print(str(e).strip())
    sys.exit(1)
print("t" if row and row[0] else "f")
PY
)"; then
        fail "The server is up but the login failed: ${out}"
    fi
else
    fail "Neither psql nor the project's virtualenv (.venv) is available to check the login."
fi
out="$(tr -d '[:space:]' <<<"$out")"
[[ "$out" == "t" ]] || fail "User ${USER_} may not create databases (the tests create a fresh database per run)."

say "connected as ${USER_} to database postgres at ${HOST}:${PORT}"
