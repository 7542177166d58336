#!/usr/bin/env bash
# Several `retailcore serve` processes on loopback behind haproxy (round robin, health checks on
# /api/v1/health), against one database (docs/scaling.md, "Several API nodes"; decision 0087).
#
#   scripts/cluster/api.sh start DIR         start API_NODES nodes (2) and haproxy; config, logs and pids
#                                            under DIR; prints the URL clients use
#   scripts/cluster/api.sh stop DIR          stop haproxy and every node of DIR
#   scripts/cluster/api.sh kill DIR N        kill -9 node N, as a crash would
#   scripts/cluster/api.sh start-node DIR N  start node N again (haproxy takes it back when healthy)
#
# Environment: RETAILCORE_DATABASE_URL (PostgreSQL: every node shares it), API_PORT (18000: haproxy;
# node N listens on API_PORT+N), API_NODES (2). What makes the nodes interchangeable is set here unless
# given: RETAILCORE_SESSION_KEY (one key for every node, kept in DIR/session_key), and
# RETAILCORE_RATE_LIMIT_STORE=database. RETAILCORE_NATS_URL and RETAILCORE_RELAY_IN_SERVE pass through;
# run one `retailcore relay` beside the nodes rather than a relay in each (decision 0027).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/../.." && pwd)
RETAILCORE=${RETAILCORE:-$HERE/.venv/bin/retailcore}
PORT=${API_PORT:-18000}
NODES=${API_NODES:-2}

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

shared_env() {  # DIR: the settings every node must share
    local dir=$1
    : "${RETAILCORE_DATABASE_URL:?set RETAILCORE_DATABASE_URL to the PostgreSQL database the nodes share}"
    if [ -z "${RETAILCORE_SESSION_KEY:-}" ]; then
        [ -f "$dir/session_key" ] || (umask 077; head -c 32 /dev/urandom | base64 >"$dir/session_key")
        RETAILCORE_SESSION_KEY=$(cat "$dir/session_key")
    fi
    export RETAILCORE_SESSION_KEY
    export RETAILCORE_RATE_LIMIT_STORE=${RETAILCORE_RATE_LIMIT_STORE:-database}
}

start_node() {  # DIR N
    local dir=$1 n=$2 port=$((PORT + $2))
    if [ -f "$dir/api$n.pid" ] && kill -0 "$(cat "$dir/api$n.pid")" 2>/dev/null; then
        echo "api$n is running (pid $(cat "$dir/api$n.pid"))" >&2
        return
    fi
    shared_env "$dir"
    "$RETAILCORE" serve --host 127.0.0.1 --port "$port" >>"$dir/api$n.log" 2>&1 &
    echo $! >"$dir/api$n.pid"
}

wait_healthy() {  # DIR N
    local port=$((PORT + $2))
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && return
        kill -0 "$(cat "$1/api$2.pid")" 2>/dev/null || { echo "api$2 died; see $1/api$2.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "api$2 is not healthy after 60 s; see $1/api$2.log" >&2
    exit 1
}

haproxy_config() {  # DIR
    local dir=$1
    {
        cat <<CONF
global
    maxconn 2000
    pidfile $dir/haproxy.pid

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    # A node that refuses the connection (killed, restarting): try another one. Only refused
    # connections are retried, never a request a node may have begun to work on.
    retries 3
    option redispatch 1

frontend api
    bind 127.0.0.1:$PORT
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /api/v1/health
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    # Which node answered: make test-cluster checks that a sign-in holds on each.
    http-response set-header X-Retailcore-Node %s
CONF
        for n in $(seq 1 "$NODES"); do
            echo "    server api$n 127.0.0.1:$((PORT + n)) check"
        done
    } >"$dir/haproxy.cfg"
}

stop_pid() {  # PIDFILE
    [ -f "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}

command=${1:-}
case "$command" in
    start)
        dir=$(mkdir -p "${2:?DIR}" && cd "$2" && pwd)
        for n in $(seq 1 "$NODES"); do start_node "$dir" "$n"; done
        for n in $(seq 1 "$NODES"); do wait_healthy "$dir" "$n"; done
        haproxy_config "$dir"
        haproxy -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 &
        echo $! >"$dir/haproxy.pid"
        for _ in $(seq 1 100); do
            curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1 && break
            sleep 0.1
        done
        echo "API=http://127.0.0.1:$PORT/api/v1"
        ;;
    stop)
        dir=${2:?DIR}
        stop_pid "$dir/haproxy.pid"
        for n in $(seq 1 "$NODES"); do stop_pid "$dir/api$n.pid"; done
        ;;
    kill)
        dir=${2:?DIR}; n=${3:?N}
        kill -9 "$(cat "$dir/api$n.pid")"
        rm -f "$dir/api$n.pid"
        ;;
    start-node)
        dir=$(cd "${2:?DIR}" && pwd)
        start_node "$dir" "${3:?N}"
        wait_healthy "$dir" "${3:?N}"
        ;;
    *)
        sed -n '2,16p' "$0" >&2
        exit 2
        ;;
esac
