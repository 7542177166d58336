#!/usr/bin/env bash
# make test's bounded fuzz run: SQLite (admin and finance tokens) and, when RETAILCORE_TEST_DATABASE_URL
# is set, PostgreSQL (admin token) at the same time. One run keeps about one core busy (schemathesis
# waits for each answer before it sends the next request), so on two cores both take the time of one.
# Each run's output is printed whole once it ends; the exit status is 1 if either failed.
set -u
python="${PYTHON:-.venv/bin/python}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

env -u RETAILCORE_TEST_DATABASE_URL "$python" tests/fuzz/run.py "$@" >"$logs/sqlite" 2>&1 &
sqlite=$!
if [ -n "${RETAILCORE_TEST_DATABASE_URL:-}" ]; then
    "$python" tests/fuzz/run.py --passes admin --database-url "$RETAILCORE_TEST_DATABASE_URL" "$@" \
        >"$logs/postgres" 2>&1 &
    postgres=$!
fi

status=0
wait "$sqlite" || status=1
echo "== fuzz, SQLite"
cat "$logs/sqlite"
if [ -n "${postgres:-}" ]; then
    wait "$postgres" || status=1
    echo "== fuzz, PostgreSQL: $RETAILCORE_TEST_DATABASE_URL"
    cat "$logs/postgres"
else
    echo "RETAILCORE_TEST_DATABASE_URL not set: PostgreSQL fuzz run skipped"
fi
exit "$status"
