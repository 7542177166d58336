#!/usr/bin/env bash
# A PostgreSQL primary and a streaming standby on this machine's loopback, for the read replica
# (docs/scaling.md, "Read replicas"; decision 0086) and the cluster tests.
#
#   scripts/cluster/postgres.sh start  DIR   # build (first time) or start both; prints their URLs
#   scripts/cluster/postgres.sh stop   DIR   # stop both (the standby first)
#   scripts/cluster/postgres.sh status DIR   # roles, replication state and lag; exit 3 if one is down
#
# DIR holds everything: primary/ and standby/ (data), run/ (sockets), *.log. The servers are Debian's
# PostgreSQL 15 (PG_BIN, default /usr/lib/postgresql/15/bin), on 127.0.0.1 only, ports
# PG_PRIMARY_PORT (55432) and PG_STANDBY_PORT (55433), trust authentication for the loopback: a test
# rig, not a production set-up. Run as root, the servers run as the postgres OS user (runuser);
# run as another user, as that user.
#
# Replication: the standby is a pg_basebackup -R of the primary with its own replication slot, and it
# is the primary's synchronous standby (synchronous_standby_names = 'FIRST 1 (standby1)',
# synchronous_commit = on): a commit the primary acknowledged is on both. A primary whose standby is
# down therefore waits at every commit; this script is meant to run both or neither.
set -euo pipefail

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PRIMARY_PORT=${PG_PRIMARY_PORT:-55432}
STANDBY_PORT=${PG_STANDBY_PORT:-55433}
DATABASE=${PG_DATABASE:-retailcore}
STANDBY_NAME=standby1

usage() {
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
ACTION=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)

if [ ! -x "$BIN/postgres" ]; then
    echo "PostgreSQL 15 binaries not found in $BIN (apt-get install postgresql-15, or set PG_BIN)" >&2
    exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
    OWNER=postgres
    as_owner() { runuser -u "$OWNER" -- "$@"; }
else
    OWNER=$(id -un)
    as_owner() { "$@"; }
fi

psql_at() { # port, then psql arguments
    local port=$1
    shift
    as_owner "$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

running() { # data directory
    [ -d "$1" ] && as_owner "$BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

start_server() { # data directory, log file
    if ! running "$1"; then
        as_owner "$BIN/pg_ctl" -D "$1" -l "$2" -w -t 60 start >/dev/null
    fi
}

wait_for() { # seconds, then a command that succeeds when ready
    local seconds=$1
    shift
    for _ in $(seq $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

standby_is() { # state wanted in pg_stat_replication (streaming) or sync_state (sync)
    local found
    found=$(psql_at "$PRIMARY_PORT" -At -c \
        "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '$STANDBY_NAME'")
    [[ " $found " == *" $1 "* ]]
}

init_primary() {
    as_owner "$BIN/initdb" -D "$DIR/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$DIR/primary/postgresql.conf" <<CONF

# -- scripts/cluster/postgres.sh ------------------------------------------------------------------
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$DIR/run'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
hot_standby = on
# A long report on the standby holds back the vacuum of the rows it reads instead of being cancelled.
hot_standby_feedback = on
synchronous_commit = on
shared_buffers = '64MB'
max_connections = 100
CONF
}

start() {
    mkdir -p "$DIR/run"
    chown "$OWNER" "$DIR" "$DIR/run"
    [ -d "$DIR/primary" ] || init_primary
    start_server "$DIR/primary" "$DIR/primary.log"
    if [ ! -d "$DIR/standby" ]; then
        # -R: standby.signal and primary_conninfo; -C -S: a slot, so the primary keeps the WAL the
        # standby has not received even while it is down.
        as_owner "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DIR/standby" \
            -R -X stream -C -S "$STANDBY_NAME"
        cat >>"$DIR/standby/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=postgres application_name=$STANDBY_NAME'
primary_slot_name = '$STANDBY_NAME'
CONF
    fi
    start_server "$DIR/standby" "$DIR/standby.log"
    if ! wait_for 60 standby_is streaming; then
        echo "the standby did not start streaming; see $DIR/standby.log" >&2
        exit 1
    fi
    # Synchronous only once the standby streams: until then every commit on the primary would wait.
    psql_at "$PRIMARY_PORT" -c "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ($STANDBY_NAME)'" \
        -c "SELECT pg_reload_conf()" >/dev/null
    if ! wait_for 30 standby_is sync; then
        echo "the standby did not become synchronous; see $DIR/primary.log" >&2
        exit 1
    fi
    if [ -z "$(psql_at "$PRIMARY_PORT" -At -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
        psql_at "$PRIMARY_PORT" -c "CREATE DATABASE \"$DATABASE\""
    fi
    echo "primary: postgresql://postgres@127.0.0.1:$PRIMARY_PORT/$DATABASE"
    echo "standby: postgresql://postgres@127.0.0.1:$STANDBY_PORT/$DATABASE"
}

stop() {
    for node in standby primary; do
        if running "$DIR/$node"; then
            as_owner "$BIN/pg_ctl" -D "$DIR/$node" -m fast -w -t 60 stop >/dev/null
            echo "$node: stopped"
        fi
    done
}

status() {
    local down=0
    for node in primary standby; do
        local port=$PRIMARY_PORT
        [ "$node" = standby ] && port=$STANDBY_PORT
        if running "$DIR/$node"; then
            echo "$node: running on 127.0.0.1:$port, in recovery: $(psql_at "$port" -At -c 'SELECT pg_is_in_recovery()')"
        else
            echo "$node: not running"
            down=1
        fi
    done
    if running "$DIR/primary"; then
        echo "replication (as the primary sees it):"
        psql_at "$PRIMARY_PORT" -c "SELECT application_name, state, sync_state, sent_lsn, replay_lsn,
            pg_wal_lsn_diff(pg_current_wal_insert_lsn(), replay_lsn) AS behind_bytes, replay_lag
            FROM pg_stat_replication"
    fi
    if running "$DIR/standby"; then
        echo "standby: replayed $(psql_at "$STANDBY_PORT" -At -c "SELECT pg_last_wal_replay_lsn() || ', last transaction ' ||
            coalesce(round(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::text || ' ms ago', 'none yet')")"
    fi
    return $((down * 3))
}

case "$ACTION" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
