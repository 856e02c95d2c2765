#!/usr/bin/env bash
# A 3-member raftkube cluster on loopback, formed the way the product intends:
# member 1 bootstraps alone; members 2 and 3 start empty, are added as learners
# (raftctl member add-learner), catch up, and are promoted together in one joint
# change (raftctl member change --promote 2 --promote 3).
#
# Usage:
#   hack/run-local.sh               build, start, print the endpoints, wait for
#                                   Ctrl-C (SIGINT/SIGTERM), then stop all three
#                                   with SIGTERM and remove the data
#   hack/run-local.sh --detach DIR  build, start with data and logs under DIR (new
#                                   or empty), write DIR/pids and DIR/endpoints, return
#                                   once the cluster is ready (used by bench-cluster.sh)
#   hack/run-local.sh --stop DIR    SIGTERM the members listed in DIR/pids and wait
#                                   for them (DIR itself is left in place)
#
# Environment:
#   BASE_PORT=21379   member i listens for clients on BASE_PORT+100*(i-1), for
#                     peers on that +1 and for HTTP (/readyz, /metrics) on that +2
#   KEEP_DATA=1       interactive mode: keep the data dir on exit
#   NO_BUILD=1        use bin/raftnode and bin/raftctl as they are
#   RAFTNODE, RAFTCTL the binaries (default bin/raftnode, bin/raftctl; setting
#                     either implies NO_BUILD=1)
#   LOG_LEVEL=info    raftnode --log-level
#   READY_TIMEOUT=30  seconds to wait for each step of the start
#   NO_HTTP=1         do not pass --listen-http even if raftnode has it; readiness
#                     is then checked with raftctl (status, a linearizable get)
#
# Member i is named member-i, logs to DIR/member-i.log, keeps its data in
# DIR/member-i/. All addresses are 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
RAFTNODE=${RAFTNODE:-$BIN/raftnode}
RAFTCTL=${RAFTCTL:-$BIN/raftctl}
BASE_PORT=${BASE_PORT:-21379}
LOG_LEVEL=${LOG_LEVEL:-info}
READY_TIMEOUT=${READY_TIMEOUT:-30}
MEMBERS=(1 2 3)

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'run-local.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

[[ $BASE_PORT =~ ^[0-9]+$ ]] && ((BASE_PORT > 0 && BASE_PORT + 300 < 65536)) ||
	die "BASE_PORT must be a port number below 65236, got '$BASE_PORT'"
[[ $READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "READY_TIMEOUT must be a positive integer, got '$READY_TIMEOUT'"

client_addr() { echo "127.0.0.1:$((BASE_PORT + 100 * ($1 - 1)))"; }
peer_addr() { echo "127.0.0.1:$((BASE_PORT + 100 * ($1 - 1) + 1))"; }
http_addr() { echo "127.0.0.1:$((BASE_PORT + 100 * ($1 - 1) + 2))"; }

endpoints() {
	local eps=() i
	for i in "${MEMBERS[@]}"; do eps+=("$(client_addr "$i")"); done
	local IFS=,
	echo "${eps[*]}"
}

# port_busy ADDR: true when something accepts connections on ADDR (host:port).
port_busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# http_get_ok ADDR PATH: true when GET http://ADDR/PATH answers 200. Plain bash,
# so the script needs no curl.
http_get_ok() {
	local addr=$1 path=$2 line
	line=$(timeout 3 bash -c '
		exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$1" >&3
		IFS= read -r line <&3 && printf "%s" "$line"' _ "$addr" "$path" 2>/dev/null) || return 1
	[[ $line == "HTTP/1."?" 200"* ]]
}

build() {
	if [[ ${NO_BUILD:-} == 1 || $RAFTNODE != "$BIN/raftnode" || $RAFTCTL != "$BIN/raftctl" ]]; then
		[[ -x $RAFTNODE && -x $RAFTCTL ]] || die "$RAFTNODE or $RAFTCTL is missing or not executable (run 'make run-local' once to build them)"
		return
	fi
	command -v go >/dev/null || die "go is not on PATH"
	log "building bin/raftnode and bin/raftctl"
	(cd "$ROOT" && go build -o "$RAFTNODE" ./cmd/node && go build -o "$RAFTCTL" ./cmd/raftctl) ||
		die "build failed (cd $ROOT && go build -o bin/raftnode ./cmd/node && go build -o bin/raftctl ./cmd/raftctl)"
}

# DIR is the cluster's directory; set by start.
DIR=
# HTTP is 1 when raftnode has --listen-http (its /readyz is the readiness check).
HTTP=0
declare -A PID=()

ctl() { "$RAFTCTL" --dial-timeout 1s --command-timeout 10s "$@"; }

# fail_member I MSG: the start failed because of member I; show its log tail.
fail_member() {
	local i=$1
	shift
	printf 'run-local.sh: error: member-%s: %s\n' "$i" "$*" >&2
	if [[ -s $DIR/member-$i.log ]]; then
		printf -- '--- last lines of %s ---\n' "$DIR/member-$i.log" >&2
		tail -n 25 "$DIR/member-$i.log" >&2
		printf -- '---\n' >&2
	fi
	stop_members
	exit 1
}

# alive I: member I's process is still running (fails the start otherwise).
alive() {
	kill -0 "${PID[$1]}" 2>/dev/null || {
		local rc=0
		wait "${PID[$1]}" 2>/dev/null || rc=$?
		fail_member "$1" "exited during start (status $rc)"
	}
}

# wait_for I WHAT CMD...: polls CMD until it succeeds, while member I runs.
wait_for() {
	local i=$1 what=$2 deadline=$((SECONDS + READY_TIMEOUT))
	shift 2
	until "$@" >/dev/null 2>&1; do
		alive "$i"
		((SECONDS < deadline)) || fail_member "$i" "not $what after ${READY_TIMEOUT}s (last try: $(
			"$@" 2>&1 | tail -n 3 | tr '\n' ' '
		))"
		sleep 0.2
	done
}

start_member() {
	local i=$1
	shift
	local args=(--name "member-$i" --data-dir "$DIR/member-$i" --listen-peer "$(peer_addr "$i")"
		--listen-client "$(client_addr "$i")" --log-level "$LOG_LEVEL")
	((HTTP)) && args+=(--listen-http "$(http_addr "$i")")
	# stdin from /dev/null and every output to the log, so a caller's pipe
	# (bench-cluster.sh, $(...)) never waits on the members.
	"$RAFTNODE" "${args[@]}" "$@" </dev/null >>"$DIR/member-$i.log" 2>&1 &
	PID[$i]=$!
	echo "$i ${PID[$i]}" >>"$DIR/pids"
}

# status_field EP FIELD: one field of raftctl status -o json for one endpoint
# (no jq needed: the JSON is indented, one field per line).
status_field() {
	ctl --endpoints "$1" status -o json | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n 1
}

is_leader() { [[ $(status_field "$1" role) == leader ]]; }
knows_leader() { [[ -n $(status_field "$1" leader) ]]; }
applied_at_least() { (($(status_field "$1" applied_index) >= $2)); }

# ready I: member I serves linearizable requests: its /readyz, or without the
# HTTP endpoint, it knows a leader and a linearizable get completes.
ready() {
	if ((HTTP)); then
		http_get_ok "$(http_addr "$1")" /readyz
		return
	fi
	local ep out
	ep=$(client_addr "$1")
	knows_leader "$ep" || return 1
	out=$(ctl --endpoints "$ep" get run-local/probe 2>&1) && return 0
	grep -qi 'not found' <<<"$out"
}

# three_voters: the leader's member list has three voters and nothing else.
three_voters() {
	local out
	out=$(ctl --endpoints "$(endpoints)" member list) || return 1
	[[ $(grep -c ' voter ' <<<"$out") -eq 3 && $(grep -cE ' (learner|outgoing|learner-next) ' <<<"$out") -eq 0 ]]
}

# preflight: the ports are free; HTTP says whether raftnode has --listen-http.
preflight() {
	local i a help
	for i in "${MEMBERS[@]}"; do
		for a in "$(client_addr "$i")" "$(peer_addr "$i")" "$(http_addr "$i")"; do
			port_busy "$a" && die "$a is in use (another cluster running? set BASE_PORT to use other ports)"
		done
	done
	help=$("$RAFTNODE" --help 2>&1 || true) # the flag package exits 2 after -help
	if [[ ${NO_HTTP:-} != 1 && $help == *-listen-http* ]]; then
		HTTP=1
	elif [[ ${NO_HTTP:-} != 1 ]]; then
		log "this raftnode has no --listen-http: readiness is checked with raftctl"
	fi
}

# start DIR: starts the cluster with its data and logs in DIR (new or empty).
start() {
	DIR=$1
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	[[ -z $(ls -A "$DIR") ]] || die "$DIR is not empty"
	local i
	: >"$DIR/pids"

	log "starting member-1 (--bootstrap) in $DIR/member-1"
	start_member 1 --bootstrap
	wait_for 1 "leader of its one-member cluster" is_leader "$(client_addr 1)"

	local ids=()
	for i in 2 3; do
		log "starting member-$i (empty) in $DIR/member-$i"
		start_member "$i"
	done
	for i in 2 3; do
		wait_for "$i" "answering status" status_field "$(client_addr "$i")" id
		ids[i]=$(status_field "$(client_addr "$i")" id)
		[[ -n ${ids[i]} ]] || fail_member "$i" "status shows no member id"
	done

	local idx=0 out
	for i in 2 3; do
		log "raftctl member add-learner ${ids[i]} member-$i $(peer_addr "$i") $(client_addr "$i")"
		out=$(ctl --endpoints "$(client_addr 1)" -o json member add-learner "${ids[i]}" "member-$i" \
			"$(peer_addr "$i")" "$(client_addr "$i")" 2>&1) || fail_member 1 "add-learner member-$i failed: $out"
		idx=$(sed -n 's/^ *"index": \([0-9]*\),*$/\1/p' <<<"$out")
	done
	# Promote only learners that hold the log up to their own addition.
	for i in 2 3; do
		wait_for "$i" "caught up to index $idx" applied_at_least "$(client_addr "$i")" "$idx"
	done

	log "raftctl member change --promote ${ids[2]} --promote ${ids[3]} (one joint change)"
	out=$(ctl --endpoints "$(client_addr 1)" member change --promote "${ids[2]}" --promote "${ids[3]}" 2>&1) ||
		fail_member 1 "promotion failed: $out"
	wait_for 1 "showing three voters" three_voters
	for i in "${MEMBERS[@]}"; do
		wait_for "$i" "ready" ready "$i"
	done
	endpoints >"$DIR/endpoints"
	log "cluster ready: $(endpoints)"
}

# stop_members: SIGTERM every member in DIR/pids, then wait for them (up to 20s
# each, then SIGKILL).
stop_members() {
	[[ -s $DIR/pids ]] || return 0
	local i p
	while read -r i p; do
		kill -TERM "$p" 2>/dev/null || true
	done <"$DIR/pids"
	while read -r i p; do
		local deadline=$((SECONDS + 20))
		while kill -0 "$p" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				log "member-$i (pid $p) still running 20s after SIGTERM: sending SIGKILL"
				kill -KILL "$p" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
		wait "$p" 2>/dev/null || true
	done <"$DIR/pids"
	: >"$DIR/pids"
}

print_usage_help() {
	local eps ctl=$RAFTCTL
	eps=$(endpoints)
	[[ $ctl == "$PWD/"* ]] && ctl=${ctl#"$PWD/"}
	cat <<EOF

raftkube: 3 members on loopback, data and logs in $DIR
EOF
	for i in "${MEMBERS[@]}"; do
		printf '  member-%s  pid %-7s client %s  peer %s' "$i" "${PID[$i]}" "$(client_addr "$i")" "$(peer_addr "$i")"
		((HTTP)) && printf '  http://%s/readyz' "$(http_addr "$i")"
		printf '\n            log %s\n' "$DIR/member-$i.log"
	done
	cat <<EOF

Try (or: export RAFTCTL_ENDPOINTS=$eps):
  $ctl --endpoints $eps status
  $ctl --endpoints $eps member list
  $ctl --endpoints $eps put greeting hello
  $ctl --endpoints $eps get greeting
  $ctl --endpoints $eps bench put --clients 100 --total 20000 --value-size 256

Ctrl-C stops the cluster$([[ ${KEEP_DATA:-} == 1 ]] && echo " (KEEP_DATA=1: the data is kept)" || echo " and removes $DIR (KEEP_DATA=1 keeps it)").
EOF
}

interactive() {
	build
	preflight
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/raftkube-local.XXXXXX")
	STOPPING=0
	cleanup() {
		local rc=$?
		trap - INT TERM EXIT
		log "stopping the members (SIGTERM)"
		stop_members
		if [[ ${KEEP_DATA:-} == 1 ]]; then
			log "data kept in $DIR"
		elif ((rc != 0 && !STOPPING)); then
			log "logs and data kept for a look in $DIR"
		else
			rm -rf "$DIR"
			log "removed $DIR"
		fi
	}
	trap cleanup EXIT
	# A signal during the start stops it at the next check.
	trap 'STOPPING=1; exit 130' INT TERM
	start "$DIR"
	trap 'STOPPING=1' INT TERM
	print_usage_help
	# wait -n returns when a member exits or a trapped signal arrives.
	while ((!STOPPING)); do
		local rc=0
		wait -n "${PID[@]}" || rc=$?
		((STOPPING)) && break
		for i in "${MEMBERS[@]}"; do
			if ! kill -0 "${PID[$i]}" 2>/dev/null; then
				printf 'run-local.sh: member-%s exited (status %s); its log ends:\n' "$i" "$rc" >&2
				tail -n 25 "$DIR/member-$i.log" >&2
				exit 1
			fi
		done
	done
}

case ${1:-} in
"") interactive ;;
--detach)
	[[ $# -eq 2 ]] || usage
	build
	preflight
	start "$2"
	;;
--stop)
	[[ $# -eq 2 ]] || usage
	[[ -d $2 ]] || die "$2 is not a directory"
	DIR=$(cd "$2" && pwd)
	[[ -f $DIR/pids ]] || die "$DIR/pids not found: not a run-local.sh --detach directory"
	stop_members
	;;
-h | --help) usage ;;
*) usage ;;
esac
