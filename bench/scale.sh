#!/usr/bin/env bash
# Multi-process scaling on a many-core machine: N workers, `wrk -tT -cC` on the same machine,
# for Rush, the raw epoll ceiling and gunicorn + Flask (the setup the original Rush published:
# 12 workers, wrk -t12 -c1000). Loopback only; every run is bounded by -d.
#   bash bench/scale.sh [WORKERS] [THREADS] [CONNECTIONS] [SECONDS]
# Needs: python3 with rush's dependencies (and gunicorn + flask for that peer), wrk on PATH.
set -u
cd "$(dirname "$0")/.."
WORKERS=${1:-12}; THREADS=${2:-12}; CONNS=${3:-1000}; SECS=${4:-10}
PY=${PYTHON:-python3}
declare -A PATHS=([redirect]=/easter [static]=/ [params]="/hello?name=bill" [json]=/users/42)

wait_port() {  # wait until something answers on 127.0.0.1:$1 (at most 20 s)
    for _ in $(seq 200); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null' EXIT  # never leave one behind

run_server() {  # name port command...
    local name=$1 port=$2; shift 2
    "$@" >"/tmp/scale-$name.log" 2>&1 &
    local pid=$!
    SERVER_PID=$pid
    if ! wait_port "$port"; then
        echo "$name: did not start"; tail -5 "/tmp/scale-$name.log"; kill "$pid" 2>/dev/null; return
    fi
    sleep 1  # every worker listening
    for workload in redirect static params json; do
        local url="http://127.0.0.1:$port${PATHS[$workload]}"
        wrk -t"$THREADS" -c"$CONNS" -d2 "$url" >/dev/null 2>&1  # warm-up
        local rps
        rps=$(wrk -t"$THREADS" -c"$CONNS" -d"$SECS" "$url" 2>&1 | awk '/Requests\/sec/ {print $2}')
        printf '%-9s %-9s %12s req/s\n' "$name" "$workload" "$rps"
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    SERVER_PID=""
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "python: $($PY --version 2>&1); wrk -t$THREADS -c$CONNS -d${SECS}s; $WORKERS workers"
run_server rush 8101 "$PY" -m rush examples.app:app --workers "$WORKERS" --bind 127.0.0.1:8101 \
    --backlog 4096 --log-level warning
run_server raw 8102 "$PY" bench/peers/raw_epoll.py 127.0.0.1 8102 --workers "$WORKERS"
run_server gunicorn 8103 "$PY" -m gunicorn -k sync -w "$WORKERS" -b 127.0.0.1:8103 \
    --chdir bench/peers --log-level warning flask_app:app
