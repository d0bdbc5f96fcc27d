#!/usr/bin/env bash
# A project-local PostgreSQL server for the dbt `postgres` target and its tests.
#
#   scripts/postgres.sh start    install the server if needed, create the cluster once,
#                                start it (a fast no-op when it already runs), print the URL
#   scripts/postgres.sh stop     stop it (no-op when stopped)
#   scripts/postgres.sh status   exit 0 when it runs, 3 when it does not
#   scripts/postgres.sh url      print the connection URL
#
# The cluster lives in .pg/ (git-ignored; delete it to start over) and listens on
# 127.0.0.1 only, port $NURTURE_PG_PORT (default 55432), so it never clashes with
# a system PostgreSQL on 5432. Role and database come from NURTURE_PG_USER and
# NURTURE_PG_DATABASE (default nurture, nurture); the role logs in over TCP from
# 127.0.0.1 with trust auth (a disposable local test warehouse, rebuilt from the
# raw zone at any time). The superuser is reachable only through a Unix socket in
# a directory only the cluster's owner can enter.
#
# As root (CI) the server runs as the `postgres` OS user (initdb refuses root) and a
# missing server is installed with apt-get. Durability is traded for speed
# (fsync off): after a machine crash, `stop`, delete .pg/ and `start` again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_HOST=127.0.0.1
PG_PORT="${NURTURE_PG_PORT:-55432}"
PG_USER="${NURTURE_PG_USER:-nurture}"
PG_DATABASE="${NURTURE_PG_DATABASE:-nurture}"
PG_PASSWORD="${NURTURE_PG_PASSWORD:-}"

die() { echo "postgres.sh: $*" >&2; exit 1; }
note() { echo "postgres.sh: $*" >&2; }

# --- who runs the server, where -------------------------------------------------

if [[ $EUID -eq 0 ]]; then
    OWNER=postgres
    as_owner() { (cd / && runuser -u postgres -- "$@"); }  # cwd may be closed to it
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

set_paths() {
    local hash
    hash="$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
    PG_HOME="${NURTURE_PG_DIR:-$ROOT/.pg}"
    # The postgres OS user must reach the cluster: a checkout under a private home
    # (/root) is closed to it, so the cluster goes to /var/tmp instead.
    if [[ -z "${NURTURE_PG_DIR:-}" && $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 \
        && ! runuser -u postgres -- test -x "$ROOT"; then
        PG_HOME="/var/tmp/nurture-pg-$hash"
    fi
    DATA="$PG_HOME/data"
    SOCKET_DIR="$PG_HOME/run"
    # Unix socket paths are limited to 107 bytes: a deep checkout puts the socket in /tmp.
    if (( ${#SOCKET_DIR} > 80 )); then
        SOCKET_DIR="/tmp/nurture-pg-$hash.run"
    fi
    LOG="$PG_HOME/server.log"
}
set_paths

# --- binaries -------------------------------------------------------------------

find_bindir() {
    local dir
    if [[ -n "${NURTURE_PG_BINDIR:-}" ]]; then
        [[ -x "$NURTURE_PG_BINDIR/pg_ctl" ]] && echo "$NURTURE_PG_BINDIR"
        return 0
    fi
    # Newest Debian server package first, then whatever is on PATH.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(command -v pg_ctl)"
    fi
}

install_server() {
    [[ $EUID -eq 0 ]] || die "no PostgreSQL server found; install it (sudo apt-get install postgresql) or set NURTURE_PG_BINDIR"
    command -v apt-get >/dev/null || die "no PostgreSQL server found and no apt-get to install one; set NURTURE_PG_BINDIR"
    note "installing PostgreSQL with apt-get (once per machine)"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    apt-get -q update
    # Like the official postgres images: no default `main` cluster on port 5432; we
    # only want the binaries, our cluster lives in .pg/.
    "${apt[@]}" install --no-install-recommends postgresql-common
    sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' /etc/postgresql-common/createcluster.conf
    "${apt[@]}" install --no-install-recommends postgresql
}

BINDIR="$(find_bindir)"
ensure_bindir() {
    if [[ -z "$BINDIR" ]]; then
        install_server
        set_paths  # the postgres OS user exists now
        BINDIR="$(find_bindir)"
        [[ -n "$BINDIR" ]] || die "PostgreSQL was installed but no server binaries were found"
    fi
}

# --- the cluster ----------------------------------------------------------------

is_running() {
    [[ -n "$BINDIR" && -f "$DATA/PG_VERSION" ]] && as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# The port the running server listens on (line 4 of postmaster.pid).
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }

url() {
    local auth="$PG_USER"
    if [[ -n "$PG_PASSWORD" ]]; then
        auth="$PG_USER:$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PG_PASSWORD")"
    fi
    echo "postgresql://$auth@$PG_HOST:$PG_PORT/$PG_DATABASE"
}

# The superuser's psql, through the owner-only socket.
admin_psql() {
    as_owner "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

init_cluster() {
    note "creating a cluster in $DATA"
    [[ "$PG_HOME" == "$ROOT/.pg" ]] || note "(the postgres OS user cannot reach $ROOT; NURTURE_PG_DIR picks another place)"
    if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    mkdir -p "$PG_HOME"
    rm -rf "$DATA"
    install -d -m 0700 -o "$OWNER" "$DATA"
    as_owner test -w "$DATA" || die "the $OWNER OS user cannot write $DATA (a parent directory is closed to it); set NURTURE_PG_DIR to a directory it can reach"
    as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=reject \
        --encoding=UTF8 --locale=C.UTF-8 >"$PG_HOME/initdb.log" 2>&1 \
        || { cat "$PG_HOME/initdb.log" >&2; die "initdb failed"; }
    # Superuser: socket only (its directory is the owner's alone). The app role: TCP
    # from 127.0.0.1, trust. Everything else is rejected.
    as_owner tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE        USER            ADDRESS          METHOD
local   all             all                              trust
host    all             $PG_USER        127.0.0.1/32     trust
EOF
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- scripts/postgres.sh: a disposable local test warehouse ---
listen_addresses = '$PG_HOST'
unix_socket_directories = '$SOCKET_DIR'
unix_socket_permissions = 0700
timezone = 'UTC'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 128MB
EOF
}

start_server() {
    install -d -m 0700 -o "$OWNER" "$SOCKET_DIR"  # /tmp may have been cleaned
    touch "$LOG" && chown "$OWNER" "$LOG"
    # The port is passed at start, so a changed NURTURE_PG_PORT applies on the next start.
    as_owner "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -o "-p $PG_PORT" >/dev/null 9>&- \
        || { tail -n 20 "$LOG" >&2 || true; die "the server did not start (log: $LOG)"; }
}

ensure_role_and_database() {
    local password_sql=""
    if [[ -n "$PG_PASSWORD" ]]; then
        password_sql="alter role \"$PG_USER\" password '${PG_PASSWORD//\'/\'\'}';"
    fi
    admin_psql <<EOF
select format('create role %I login', '$PG_USER')
where not exists (select from pg_roles where rolname = '$PG_USER') \gexec
$password_sql
select format('create database %I owner %I', '$PG_DATABASE', '$PG_USER')
where not exists (select from pg_database where datname = '$PG_DATABASE') \gexec
EOF
}

cmd_start() {
    ensure_bindir
    mkdir -p "$PG_HOME"
    # One starter at a time (two `make test` runs at once).
    exec 9>"$PG_HOME/lock"
    flock 9
    if is_running; then
        if [[ "$(running_port)" == "$PG_PORT" ]]; then
            url
            return 0
        fi
        note "running on port $(running_port), restarting on $PG_PORT"
        as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null
    fi
    [[ -f "$DATA/PG_VERSION" ]] || init_cluster
    start_server
    ensure_role_and_database
    url
}

cmd_stop() {
    if is_running; then
        as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null
        note "stopped"
    else
        note "not running"
    fi
}

cmd_status() {
    if is_running; then
        echo "running on $PG_HOST:$(running_port) (data: $DATA)"
    else
        echo "not running"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) url ;;
    *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
