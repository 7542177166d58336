#!/usr/bin/env bash
# A NATS JetStream cluster of 3 nodes on loopback, for make test-cluster and for trying a cluster out
# (docs/scaling.md, "NATS cluster"; decision 0087).
#
#   scripts/cluster/nats.sh start DIR      start nodes n1..n3 (files, logs and pids under DIR), wait for
#                                          JetStream, create or update the relay's stream with 3 replicas,
#                                          print the RETAILCORE_NATS_URL to use
#   scripts/cluster/nats.sh stop DIR       stop every node of DIR
#   scripts/cluster/nats.sh kill DIR N     kill -9 node N (1-3), as a crash would
#   scripts/cluster/nats.sh start-node DIR N   start node N again (it catches up from the others)
#   scripts/cluster/nats.sh url            the servers, comma-separated (RETAILCORE_NATS_URL)
#
# Ports: clients NATS_CLIENT_PORT+0..2 (14222-14224), routes NATS_ROUTE_PORT+0..2 (16222-16224),
# monitoring NATS_HTTP_PORT+0..2 (18222-18224). The stream is RETAILCORE_NATS_STREAM (RETAILCORE) on
# RETAILCORE_NATS_SUBJECT_PREFIX.> (retailcore.>), made by the relay's own code (PYTHON, .venv/bin/python).
set -euo pipefail

NODES=3
CLIENT=${NATS_CLIENT_PORT:-14222}
ROUTE=${NATS_ROUTE_PORT:-16222}
HTTP=${NATS_HTTP_PORT:-18222}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$HERE/.venv/bin/python}

url() {
    local servers=()
    for n in $(seq 1 $NODES); do servers+=("nats://127.0.0.1:$((CLIENT + n - 1))"); done
    (IFS=,; echo "${servers[*]}")
}

config() {  # DIR N: node N's configuration file
    local dir=$1 n=$2 routes=()
    for m in $(seq 1 $NODES); do
        [ "$m" = "$n" ] || routes+=("nats-route://127.0.0.1:$((ROUTE + m - 1))")
    done
    mkdir -p "$dir/n$n"
    cat >"$dir/n$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:$((CLIENT + n - 1))
http: 127.0.0.1:$((HTTP + n - 1))
jetstream {
    store_dir: "$dir/n$n"
    max_memory_store: 64MB
    max_file_store: 1GB
}
cluster {
    name: retailcore
    listen: 127.0.0.1:$((ROUTE + n - 1))
    routes: [$(IFS=,; echo "${routes[*]}")]
}
CONF
}

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() {  # DIR N
    local dir=$1 n=$2
    if [ -f "$dir/n$n.pid" ] && kill -0 "$(cat "$dir/n$n.pid")" 2>/dev/null; then
        echo "n$n is running (pid $(cat "$dir/n$n.pid"))" >&2
        return
    fi
    config "$dir" "$n"
    nats-server -c "$dir/n$n.conf" >>"$dir/n$n.log" 2>&1 &
    echo $! >"$dir/n$n.pid"
    for _ in $(seq 1 100); do
        listening $((CLIENT + n - 1)) && return
        sleep 0.1
    done
    echo "n$n did not listen on $((CLIENT + n - 1)); see $dir/n$n.log" >&2
    exit 1
}

wait_for_jetstream() {  # DIR: until a node's /healthz says JetStream is ready (a meta leader elected)
    for _ in $(seq 1 150); do
        for n in $(seq 1 $NODES); do
            if curl -sf "http://127.0.0.1:$((HTTP + n - 1))/healthz" 2>/dev/null | grep -q '"ok"'; then
                return
            fi
        done
        sleep 0.2
    done
    echo "JetStream is not ready after 30 s; see $1/n*.log" >&2
    exit 1
}

ensure_stream() {  # the relay's stream, with 3 replicas (retried while the cluster elects its leaders)
    RETAILCORE_NATS_URL=$(url) RETAILCORE_NATS_REPLICAS=$NODES "$PYTHON" - <<'PY'
import asyncio
import time

from retailcore.adapters.jetstream import JetStreamPublisher, PublishFailed
from retailcore.entrypoints.relaying import stream_settings
from retailcore.entrypoints.settings import Settings


async def main() -> None:
    settings = stream_settings(Settings())
    deadline = time.monotonic() + 30
    while True:
        publisher = JetStreamPublisher(settings)
        try:
            await publisher.connect()
            info = await publisher._js.stream_info(settings.stream)
            print(f"stream {settings.stream}: {info.config.num_replicas} replicas, {info.state.messages} messages")
            return
        except (PublishFailed, Exception) as error:  # no leader yet: try again
            if time.monotonic() > deadline:
                raise SystemExit(f"cannot create the stream: {error}") from error
            await asyncio.sleep(0.5)
        finally:
            try:
                await publisher.close()
            except Exception:
                pass


asyncio.run(main())
PY
}

stop() {  # DIR
    local dir=$1
    for n in $(seq 1 $NODES); do
        if [ -f "$dir/n$n.pid" ]; then
            local pid
            pid=$(cat "$dir/n$n.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/n$n.pid"
        fi
    done
}

command=${1:-}
case "$command" in
    start)
        dir=$(mkdir -p "${2:?DIR}" && cd "$2" && pwd)
        for n in $(seq 1 $NODES); do start_node "$dir" "$n"; done
        wait_for_jetstream "$dir"
        ensure_stream
        echo "RETAILCORE_NATS_URL=$(url)"
        ;;
    stop) stop "${2:?DIR}" ;;
    kill)
        dir=${2:?DIR}; n=${3:?N}
        kill -9 "$(cat "$dir/n$n.pid")"
        rm -f "$dir/n$n.pid"
        ;;
    start-node)
        dir=$(cd "${2:?DIR}" && pwd)
        start_node "$dir" "${3:?N}"
        ;;
    url) url ;;
    *)
        sed -n '2,15p' "$0" >&2
        exit 2
        ;;
esac
