#!/usr/bin/env bash
# A lecture hall on one machine: PostgreSQL for the rooms (or a database you give), N
# Streamlit app servers sharing one app home, and nginx in front with sticky sessions.
# Everything it makes lives in one state folder, which it prints. See docs/deploy.md.
#
#   deploy/hall.sh start [--servers N] [--listen HOST:PORT] [--db URL] [--state DIR]
#                        [--public-url URL]
#   deploy/hall.sh status [--state DIR]
#   deploy/hall.sh stop [--state DIR]          (the rooms stay in the state folder)
#   deploy/hall.sh db stop|start [--state DIR] (the hall's own PostgreSQL: an outage drill)
#
# PYTHON names the Python with the app's packages (default: .venv/bin/python). As root,
# PostgreSQL runs as the user "postgres" (else "nobody"; HALL_DB_USER to choose) and
# nginx's worker as "nobody": postgres refuses to run as root.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # "&" in a replacement is itself

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
STATE=${MNIST_HALL_STATE:-/tmp/mnist-hall}
SERVERS=2
LISTEN=0.0.0.0:8080
DB_URL=""
PUBLIC_URL=""
STARTING=0

say() { printf '%s\n' "$*"; }
die() { # one sentence, status 2; a half-started hall is stopped again
	printf 'hall.sh: %s\n' "$*" >&2
	if [ "$STARTING" = 1 ]; then
		STARTING=0
		stop_all >/dev/null 2>&1 || true
	fi
	exit 2
}
usage() {
	die "usage: deploy/hall.sh start [--servers N] [--listen HOST:PORT] [--db URL] [--state DIR] [--public-url URL] | status | stop | db stop|start [--state DIR]"
}

as_root() { [ "$(id -u)" -eq 0 ]; }
db_user() {
	if [ -n "${HALL_DB_USER:-}" ]; then
		say "$HALL_DB_USER"
	elif id postgres >/dev/null 2>&1; then say postgres; else say nobody; fi
}
as_db() { # run a PostgreSQL tool as the unprivileged user that owns the data
	if as_root; then runuser -u "$(db_user)" -- "$@"; else "$@"; fi
}
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }

pg_bin() { # the newest Debian PostgreSQL, else one on the PATH
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && {
			say "$d"
			return
		}
	done
	command -v pg_ctl >/dev/null 2>&1 && {
		dirname "$(command -v pg_ctl)"
		return
	}
	return 1
}
nginx_bin() {
	command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && say /usr/sbin/nginx; } || return 1
}
free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
healthy() { curl -fsS -o /dev/null --max-time 2 "$1/_stcore/health" 2>/dev/null; }

parse() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--servers | --listen | --db | --state | --public-url)
			[ $# -ge 2 ] || die "$1 needs a value"
			;;&
		--servers) SERVERS=${2:-} && shift ;;
		--listen) LISTEN=${2:-} && shift ;;
		--db) DB_URL=${2:-} && shift ;;
		--state) STATE=${2:-} && shift ;;
		--public-url) PUBLIC_URL=${2:-} && shift ;;
		*) die "unknown option $1 (see deploy/hall.sh --help)" ;;
		esac
		shift
	done
	[ -n "$STATE" ] || die "--state needs a folder"
	if [ "$cmd" = start ]; then
		mkdir -p "$STATE" 2>/dev/null || die "cannot make the state folder $STATE"
	fi
	if [ -d "$STATE" ]; then STATE=$(cd "$STATE" && pwd); fi
	PG=$STATE/pg
	SOCKETS=$PG/sockets
}

# ------------------------------------------------------------------ PostgreSQL

own_db() { [ -d "$PG/data" ]; }
own_db_url() { say "postgresql+psycopg://postgres@/rooms?host=$SOCKETS&port=5432"; }

db_start() {
	local bin conns
	bin=$(pg_bin) || die "PostgreSQL is not installed: run scripts/install_postgres.sh or give --db URL"
	if as_root; then
		mkdir -p "$PG"
		chown "$(db_user)" "$PG"
		chmod go+x "$STATE" # the server's user passes through (its secrets stay 0600)
		as_db test -x "$PG" ||
			die "PostgreSQL runs as $(db_user), who cannot reach $STATE: choose a --state under /tmp or /srv"
	else
		mkdir -p "$PG"
	fi
	chmod 700 "$PG"
	if [ ! -f "$PG/data/PG_VERSION" ]; then
		as_db "$bin/initdb" -D "$PG/data" -U postgres --auth-local=trust --auth-host=reject \
			-E UTF8 >"$PG/initdb.log" 2>&1 || die "initdb failed: see $PG/initdb.log"
		# Only the unix socket in the state folder, readable by its owner (and root): no TCP.
		cat >>"$PG/data/postgresql.conf" <<EOF

# deploy/hall.sh: the rooms of one machine's hall
listen_addresses = ''
port = 5432
unix_socket_directories = '$SOCKETS'
unix_socket_permissions = 0700
EOF
	fi
	as_db mkdir -p "$SOCKETS"
	# Each server's pool holds up to 24 connections (rooms/sql.py), plus room for the CLI.
	conns=$((SERVERS * 24 + 20))
	[ "$conns" -ge 100 ] || conns=100
	as_db "$bin/pg_ctl" status -D "$PG/data" >/dev/null 2>&1 ||
		as_db "$bin/pg_ctl" start -w -t 60 -D "$PG/data" -l "$PG/server.log" \
			-o "-c max_connections=$conns" >/dev/null ||
		die "PostgreSQL did not start: see $PG/server.log"
	"$bin/psql" -h "$SOCKETS" -p 5432 -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'rooms'" | grep -q 1 ||
		"$bin/createdb" -h "$SOCKETS" -p 5432 -U postgres rooms ||
		die "cannot create the rooms database: see $PG/server.log"
}

db_stop() {
	local bin
	own_db || return 0
	bin=$(pg_bin) || return 0
	if as_db "$bin/pg_ctl" status -D "$PG/data" >/dev/null 2>&1; then
		as_db "$bin/pg_ctl" stop -D "$PG/data" -m fast -w >/dev/null
	fi
}

# ------------------------------------------------------------------ app servers and proxy

secret() { # a private value kept in the state folder: made once, then the same every start
	local file=$STATE/$1
	[ -s "$file" ] || (umask 077 && "$PY" -c "$2" >"$file")
	cat "$file"
}

start_servers() {
	local i port pids=() passcode cookie
	mkdir -p "$STATE/servers" "$STATE/home"
	passcode=${MNIST_PRESENTER_PASSCODE:-$(secret passcode 'import secrets
a = "abcdefghjkmnpqrstuvwxyz23456789"
c = "".join(secrets.choice(a) for _ in range(8))
print(c[:4] + "-" + c[4:])')}
	# Streamlit signs its cookies with this: every replica needs the same one.
	cookie=$(secret cookie-secret 'import secrets; print(secrets.token_hex(32))')
	for i in $(seq 1 "$SERVERS"); do
		port=$(free_port)
		say "$port" >"$STATE/servers/$i.port"
		(
			cd "$ROOT"
			unset MNIST_LOCAL_MODE # behind a proxy nobody is "this machine"
			# FORWARDED_ALLOW_IPS="": uvicorn keeps the real peer (the proxy), and the app takes
			# the client's address from the proxy it trusts (as scripts/serve.py does), so
			# each phone has its own per-address limits (docs/network.md).
			export MNIST_APP_HOME=$STATE/home MNIST_ROOM_DB=$DB_URL MNIST_PUBLIC_URL=$PUBLIC_URL \
				MNIST_PRESENTER_PASSCODE=$passcode MNIST_TRUSTED_PROXIES=127.0.0.1 \
				STREAMLIT_SERVER_COOKIE_SECRET=$cookie FORWARDED_ALLOW_IPS=
			exec setsid "$PY" -m streamlit run app.py --server.port "$port" \
				--server.address 127.0.0.1 --server.headless true \
				--server.fileWatcherType none --browser.gatherUsageStats false \
				</dev/null >"$STATE/servers/$i.log" 2>&1
		) &
		say $! >"$STATE/servers/$i.pid"
		pids+=("$!")
	done
	local deadline=$((SECONDS + 180))
	for i in $(seq 1 "$SERVERS"); do
		port=$(cat "$STATE/servers/$i.port")
		until healthy "http://127.0.0.1:$port"; do
			alive "${pids[$((i - 1))]}" || die "app server $i stopped while starting: see $STATE/servers/$i.log"
			[ $SECONDS -lt $deadline ] || die "app server $i did not answer within 180 s: see $STATE/servers/$i.log"
			sleep 0.5
		done
	done
}

start_proxy() {
	local nginx conf servers="" i user=""
	nginx=$(nginx_bin) || die "nginx is not installed: run scripts/install_nginx.sh"
	mkdir -p "$STATE/nginx/tmp"
	for i in $(seq 1 "$SERVERS"); do
		servers+="        server 127.0.0.1:$(cat "$STATE/servers/$i.port") max_fails=3 fail_timeout=10s;"$'\n'
	done
	if as_root; then
		user="user nobody nogroup;  # the worker: no root needed to proxy"
		chown -R nobody "$STATE/nginx/tmp"
	fi
	conf=$(<"$ROOT/deploy/nginx.conf")
	conf=${conf//@STATE@/$STATE}
	conf=${conf//@LISTEN@/$LISTEN}
	conf=${conf//@USER@/$user}
	conf=${conf//@SERVERS@/${servers%$'\n'}}
	printf '%s\n' "$conf" >"$STATE/nginx/nginx.conf"
	"$nginx" -t -q -p "$STATE/nginx" -e "$STATE/nginx/error.log" -c "$STATE/nginx/nginx.conf" \
		2>"$STATE/nginx/check.log" || die "the proxy's configuration is refused: see $STATE/nginx/check.log"
	"$nginx" -p "$STATE/nginx" -e "$STATE/nginx/error.log" -c "$STATE/nginx/nginx.conf" \
		2>>"$STATE/nginx/error.log" ||
		die "nginx did not start (is $LISTEN in use?): see $STATE/nginx/error.log"
	local deadline=$((SECONDS + 30))
	until healthy "http://$(local_listen)"; do
		[ $SECONDS -lt $deadline ] || die "the proxy does not answer on $LISTEN: see $STATE/nginx/error.log"
		sleep 0.3
	done
}

local_listen() { # the listen address as this machine reaches it
	local host=${LISTEN%:*} port=${LISTEN##*:}
	case "$host" in 0.0.0.0 | "[::]" | "" | "$port") host=127.0.0.1 ;; esac
	say "$host:$port"
}

do_start() {
	case "$SERVERS" in '' | *[!0-9]*) die "--servers takes a whole number from 1 to 16, not '$SERVERS'" ;; esac
	[ "$SERVERS" -ge 1 ] && [ "$SERVERS" -le 16 ] ||
		die "--servers takes a whole number from 1 to 16, not $SERVERS"
	[[ "$LISTEN" =~ ^(.+:)?[0-9]{1,5}$ ]] || die "--listen takes HOST:PORT (e.g. 0.0.0.0:8080), not '$LISTEN'"
	"$PY" -c 'import streamlit' 2>/dev/null ||
		die "no Python with the app's packages at $PY: make .venv (README) or set PYTHON"
	command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"
	if status_quiet; then
		die "a hall already runs in $STATE: deploy/hall.sh stop --state $STATE first"
	fi
	STARTING=1
	local host=${LISTEN%:*} port=${LISTEN##*:}
	if [ -z "$PUBLIC_URL" ]; then # what phones open: this machine's address on the network
		case "$host" in
		0.0.0.0 | "[::]" | "$port")
			host=$(cd "$ROOT" && "$PY" -c 'from mnist_models.rooms.join import lan_address
print(lan_address() or "localhost")')
			;;
		esac
		PUBLIC_URL="http://$host:$port"
	fi
	if [ -z "$DB_URL" ]; then
		db_start
		DB_URL=$(own_db_url)
	fi
	# The app opens the store once here: tables made, and a bad URL is one sentence.
	(cd "$ROOT" && MNIST_ROOM_DB=$DB_URL "$PY" -c 'import sys
from mnist_models.rooms import rules, store
try:
    store.open_store().close()
except rules.StoreUnavailable as exc:
    sys.exit(exc.full())  # for this terminal: the sentence and why
except rules.RoomError as exc:
    sys.exit(str(exc))') 2>"$STATE/db-check.log" || die "$(tail -n 1 "$STATE/db-check.log")"
	{
		printf 'export MNIST_ROOM_DB=%q\n' "$DB_URL"
		printf 'export MNIST_APP_HOME=%q\n' "$STATE/home"
		printf 'HALL_URL=%q\n' "$PUBLIC_URL"
		printf 'HALL_LOCAL_URL=%q\n' "http://$(local_listen)"
		printf 'HALL_SERVERS=%q\n' "$SERVERS"
	} >"$STATE/hall.env"
	start_servers
	start_proxy
	STARTING=0
	local ports
	ports=$(for i in $(seq 1 "$SERVERS"); do printf '127.0.0.1:%s ' "$(cat "$STATE/servers/$i.port")"; done)
	say "The hall runs, its state in $STATE:"
	say "  open        $PUBLIC_URL  (the wall: $PUBLIC_URL/wall)"
	if [ -n "${MNIST_PRESENTER_PASSCODE:-}" ]; then
		say "  passcode    from MNIST_PRESENTER_PASSCODE"
	else
		say "  passcode    $(cat "$STATE/passcode")  (kept in $STATE/passcode)"
	fi
	say "  servers     $SERVERS: ${ports% } (logs: $STATE/servers/)"
	say "  proxy       nginx on $LISTEN (logs: $STATE/nginx/)"
	if own_db; then
		say "  rooms       PostgreSQL in $PG (socket $SOCKETS)"
	else
		say "  rooms       the database you gave"
	fi
	say "  app home    $STATE/home"
	say "Stop it with: deploy/hall.sh stop --state $STATE"
}

# ------------------------------------------------------------------ stop, status

stop_pid() { # TERM, then KILL after a while; only a process that is still what we started
	local pid=$1 what=$2 i
	alive "$pid" || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$what" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 60); do
		alive "$pid" || return 0
		sleep 0.25
	done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_all() {
	local f
	stop_pid "$(pid_of "$STATE/nginx/nginx.pid")" nginx
	for f in "$STATE"/servers/*.pid; do
		[ -f "$f" ] || continue
		stop_pid "$(pid_of "$f")" streamlit
		rm -f "$f"
	done
	db_stop
}

do_stop() {
	[ -f "$STATE/hall.env" ] || {
		say "No hall in $STATE: nothing to stop."
		return 0
	}
	stop_all
	if own_db; then
		say "The hall in $STATE is stopped; its rooms stay in $PG (start again to go on, or delete $STATE)."
	else
		say "The hall in $STATE is stopped."
	fi
}

status_quiet() { # whether any part of a hall runs in $STATE
	local f
	alive "$(pid_of "$STATE/nginx/nginx.pid")" && return 0
	for f in "$STATE"/servers/*.pid; do
		[ -f "$f" ] && alive "$(pid_of "$f")" && return 0
	done
	return 1
}

do_status() {
	local f i up=0 total=0 bin
	[ -f "$STATE/hall.env" ] || {
		say "No hall in $STATE."
		return 3
	}
	# shellcheck disable=SC1091
	. "$STATE/hall.env"
	for f in "$STATE"/servers/*.pid; do
		[ -f "$f" ] || continue
		i=$(basename "$f" .pid)
		total=$((total + 1))
		if alive "$(pid_of "$f")" && healthy "http://127.0.0.1:$(cat "$STATE/servers/$i.port")"; then
			up=$((up + 1))
		fi
	done
	say "app servers $up of $total answer"
	if alive "$(pid_of "$STATE/nginx/nginx.pid")" && healthy "$HALL_LOCAL_URL"; then
		say "proxy       answers on $HALL_LOCAL_URL (phones: $HALL_URL)"
	else
		say "proxy       not running"
		up=-1
	fi
	if own_db && bin=$(pg_bin); then
		if as_db "$bin/pg_ctl" status -D "$PG/data" >/dev/null 2>&1; then
			say "database    PostgreSQL runs in $PG"
		else
			say "database    PostgreSQL is stopped"
			up=-1
		fi
	fi
	[ "$up" -ge 1 ] && [ "$up" = "$total" ] || return 3
}

# ------------------------------------------------------------------ main

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start)
	parse "$@"
	do_start
	;;
stop)
	parse "$@"
	do_stop
	;;
status)
	parse "$@"
	do_status
	;;
db)
	sub=${1:-}
	[ $# -gt 0 ] && shift
	parse "$@"
	[ -f "$STATE/hall.env" ] || die "no hall in $STATE (deploy/hall.sh start first)"
	own_db || die "the hall in $STATE uses a database of its own (--db): stop and start it there"
	[ -f "$STATE/hall.env" ] && SERVERS=$(. "$STATE/hall.env" && say "$HALL_SERVERS")
	case "$sub" in
	stop) db_stop && say "PostgreSQL in $PG is stopped." ;;
	start) db_start && say "PostgreSQL in $PG runs." ;;
	*) die "usage: deploy/hall.sh db stop|start [--state DIR]" ;;
	esac
	;;
-h | --help | help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
*) usage ;;
esac
