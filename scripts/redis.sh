#!/usr/bin/env bash
# A project-local Redis: the Celery broker of Airflow's distributed executor
# (docker-compose.yml's `redis` service, and tests/test_celery_executor.py).
#
#   scripts/redis.sh install   install the server if needed (a fast no-op when it is
#                              there), print the path of redis-server
#   scripts/redis.sh start     install if needed, start the project's server (a no-op
#                              when it already runs), print its URL
#   scripts/redis.sh stop      stop it (no-op when stopped)
#   scripts/redis.sh status    exit 0 when it runs, 3 when it does not
#   scripts/redis.sh url       print the broker URL
#
# `make test` only runs `install`: the Celery test starts a private server of its own
# on a free port and stops it at the end (a fresh broker for every run, nothing left
# behind). `start` is for running the CeleryExecutor by hand against a long-lived
# broker: it listens on 127.0.0.1 only, port $NURTURE_REDIS_PORT (default 56379, so
# it never clashes with a system Redis on 6379), keeps no snapshot (a broker's
# queues are rebuilt by Airflow's scheduler) and puts its pid file and log in
# .redis/ (git-ignored; delete it to start over).
#
# The version: as root, a missing server is installed from Debian's own package,
# pinned to the upstream release Debian 12 ships, 7.0.15 (compose runs the 7.2
# image; Celery's Redis transport needs 5 or later). Only the Debian revision is a
# wildcard (`5:7.0.15-1~deb12u*`): the archive keeps only the newest security
# revision, so an exact pin would fail as soon as the next one is published.
# NURTURE_REDIS_DEB_VERSION overrides the pin, NURTURE_REDIS_SERVER the binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REDIS_HOST=127.0.0.1
REDIS_PORT="${NURTURE_REDIS_PORT:-56379}"
REDIS_HOME="${NURTURE_REDIS_DIR:-$ROOT/.redis}"
DEB_VERSION="${NURTURE_REDIS_DEB_VERSION:-5:7.0.15-1~deb12u*}"
PIDFILE="$REDIS_HOME/redis.pid"
LOG="$REDIS_HOME/server.log"

die() { echo "redis.sh: $*" >&2; exit 1; }
note() { echo "redis.sh: $*" >&2; }

find_server() {
    if [[ -n "${NURTURE_REDIS_SERVER:-}" ]]; then
        [[ -x "$NURTURE_REDIS_SERVER" ]] && echo "$NURTURE_REDIS_SERVER"
        return 0
    fi
    command -v redis-server || true
}

install_server() {
    [[ $EUID -eq 0 ]] || die "no redis-server found; install it (sudo apt-get install redis-server) or set NURTURE_REDIS_SERVER"
    command -v apt-get >/dev/null || die "no redis-server found and no apt-get to install one; set NURTURE_REDIS_SERVER"
    note "installing redis-server $DEB_VERSION with apt-get (once per machine)"
    export DEBIAN_FRONTEND=noninteractive
    # We only want the binary: keep the package from starting a system server on 6379
    # (Docker-style policy-rc.d; one that is already there is left as it is).
    local policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get -q update
    apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        install --no-install-recommends "redis-server=$DEB_VERSION"
}

SERVER="$(find_server)"
ensure_server() {
    if [[ -z "$SERVER" ]]; then
        install_server
        SERVER="$(find_server)"
        [[ -n "$SERVER" ]] || die "redis-server was installed but is not on PATH"
    fi
}

is_running() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

url() { echo "redis://$REDIS_HOST:$REDIS_PORT/0"; }

cmd_start() {
    ensure_server
    mkdir -p "$REDIS_HOME"
    exec 9>"$REDIS_HOME/lock"
    flock 9
    if is_running; then
        url
        return 0
    fi
    rm -f "$PIDFILE"
    "$SERVER" --bind "$REDIS_HOST" --port "$REDIS_PORT" --protected-mode yes \
        --save '' --appendonly no --dir "$REDIS_HOME" \
        --daemonize yes --pidfile "$PIDFILE" --logfile "$LOG" 9>&-
    for _ in $(seq 50); do
        is_running && { url; return 0; }
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2 || true
    die "the server did not start (log: $LOG)"
}

cmd_stop() {
    if is_running; then
        local pid
        pid="$(cat "$PIDFILE")"
        kill "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || { note "stopped"; return 0; }
            sleep 0.1
        done
        die "the server (pid $pid) did not stop"
    else
        note "not running"
    fi
}

cmd_status() {
    if is_running; then
        echo "running on $REDIS_HOST:$REDIS_PORT (pid $(cat "$PIDFILE"))"
    else
        echo "not running"
        return 3
    fi
}

case "${1:-}" in
    install)
        ensure_server
        echo "$SERVER"
        ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) url ;;
    *) echo "usage: $0 install|start|stop|status|url" >&2; exit 2 ;;
esac
