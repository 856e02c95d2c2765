#!/usr/bin/env bash
# Cluster benchmarks, side by side: raftctl bench's workload against a 3-member
# raftkube cluster (hack/run-local.sh --detach), then the same workload against a
# 3-member etcd v3.6.16 cluster (built from hack/etcdcluster, a module of its
# own), driven by hack/etcdcluster/cmd/etcdbench, which copies raftctl bench's
# loop and percentile math. Both clusters: separate processes on 127.0.0.1, data
# under one temp dir (same disk), fsync on, 100 ms heartbeats and 1 s election
# timeouts. One cluster runs at a time; each round starts fresh clusters, and
# the sides take turns going first.
#
# Workloads, in this order on each side (both clients send to the leader):
#   warm-up: WARMUP puts at 100 clients (not recorded; fills the key space)
#   put-cN:  puts of VALUE_SIZE-byte values at N clients
#   get-cN:  linearizable gets at N clients
#   sget-cN: serializable gets at N clients (answered by the member asked,
#            without a ReadIndex round)
# for each N:REQUESTS pair of TOTALS. The table shows, per workload, the median
# over the rounds of throughput, p50 and p99, and the CPU time the servers and
# the client used per request.
#
# Usage: hack/bench-cluster.sh [OUTDIR]          (default OUTDIR: bin/bench-cluster)
#
# Environment:
#   ROUNDS=3                    rounds (a fresh cluster of each side per round)
#   TOTALS="1:2000 100:20000"   clients:requests of each workload
#   VALUE_SIZE=256  KEY_SPACE=1000  WARMUP=2000
#   TARGETS="raftkube etcd"     which sides to run; a side not run this time is
#                               still shown if OUTDIR holds its results
#   RAFTKUBE_BASE_PORT=21379    the first ports tried (member i: BASE+100*(i-1),
#   ETCD_BASE_PORT=22379        peer +1, HTTP +2); busy ones are skipped by 10s
#   KEEP_DATA=1                 keep the clusters' data and logs
#   TLS=1                       raftkube with mutual TLS on both ports as the
#                               operator runs it: peers must hold a member's
#                               certificate, client calls are authorized by
#                               certificate (one CA and one certificate for all,
#                               made with openssl, organizations raftkube:admin
#                               and raftkube:member); etcd stays plaintext
#
# Results: OUTDIR/SIDE/WORKLOAD/rN.json (round N: raftctl bench -o json's summary)
# and rN.cpu (CPU seconds of the servers and of the client), OUTDIR/table.md (the
# table printed at the end, with the machine).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
OUT=${1:-$ROOT/bin/bench-cluster}
ROUNDS=${ROUNDS:-3}
TOTALS=${TOTALS:-1:2000 100:20000}
VALUE_SIZE=${VALUE_SIZE:-256}
KEY_SPACE=${KEY_SPACE:-1000}
WARMUP=${WARMUP:-2000}
TARGETS=${TARGETS:-raftkube etcd}
RAFTKUBE_BASE_PORT=${RAFTKUBE_BASE_PORT:-21379}
ETCD_BASE_PORT=${ETCD_BASE_PORT:-22379}
TLS=${TLS:-0}
ETCD_VERSION=v3.6.16 # keep in step with hack/etcdcluster/go.mod
ETCD=$BIN/etcd-$ETCD_VERSION
ETCDBENCH=$BIN/etcdbench

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'bench-cluster.sh: error: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
for v in ROUNDS VALUE_SIZE KEY_SPACE WARMUP RAFTKUBE_BASE_PORT ETCD_BASE_PORT TLS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((ROUNDS > 0)) || die "ROUNDS must be positive"
WORKLOADS=()
for t in $TOTALS; do
	[[ $t =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "TOTALS: want CLIENTS:REQUESTS pairs, got '$t'"
done
for op in put get sget; do
	for t in $TOTALS; do WORKLOADS+=("$op-c${t%%:*}"); done
done
SIDES=()
for t in $TARGETS; do
	case $t in
	raftkube | etcd) SIDES+=("$t") ;;
	*) die "unknown target '$t' in TARGETS (want raftkube, etcd)" ;;
	esac
done
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$ROOT/hack/etcdcluster/go.mod" ||
	die "hack/etcdcluster/go.mod does not pin go.etcd.io/etcd/server/v3 $ETCD_VERSION (update ETCD_VERSION here)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log "building bin/raftnode, bin/raftctl, bin/etcd-$ETCD_VERSION, bin/etcdbench"
(cd "$ROOT" && go build -o "$BIN/raftnode" ./cmd/node && go build -o "$BIN/raftctl" ./cmd/raftctl) ||
	die "building raftnode and raftctl failed"
# etcd comes from the pinned tool build (rebuilt only when missing or changed,
# through a temp file: a running envtest's bin/etcd is never overwritten).
"$ROOT/hack/build-k8s-tools.sh" etcd || die "building etcd failed (hack/build-k8s-tools.sh etcd)"
(cd "$ROOT/hack/etcdcluster" && go build -o "$ETCDBENCH" ./cmd/etcdbench) ||
	die "building etcdbench failed (cd hack/etcdcluster && go build ./cmd/etcdbench)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-cluster.XXXXXX")
ETCD_PIDS=()
RAFTKUBE_DIR=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_raftkube
	stop_etcd
	if [[ ${KEEP_DATA:-} == 1 ]] || ((rc != 0 && rc != 130)); then
		log "data and logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_base START: the first of START, START+10, ... whose 9 ports (3 members:
# +0, +1, +2 at +0, +100, +200) nobody listens on.
free_base() {
	local base=$1 try i p busy
	for ((try = 0; try < 20; try++, base += 10)); do
		busy=0
		for i in 0 100 200; do
			for p in 0 1 2; do port_busy $((base + i + p)) && busy=1; done
		done
		((busy)) || {
			echo "$base"
			return
		}
	done
	die "no free ports from $1 on (20 tries): set ${2}_BASE_PORT"
}

# make_pki DIR: a CA and one certificate (127.0.0.1, organizations
# raftkube:admin and raftkube:member) for every member and raftctl, handed to
# them through their environment variables.
make_pki() {
	local d=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
	command -v openssl >/dev/null || die "TLS=1 needs openssl"
	mkdir -p "$d"
	openssl req -x509 "${ec[@]}" -keyout "$d/ca-key.pem" -out "$d/ca.pem" -days 2 -subj /CN=bench-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null &&
		openssl req "${ec[@]}" -keyout "$d/member-key.pem" -out "$d/member.csr" \
			-subj "/O=raftkube:admin/O=raftkube:member/CN=bench-member" 2>/dev/null &&
		openssl x509 -req -in "$d/member.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 2 \
			-out "$d/member.pem" -extfile <(printf '%s\n' subjectAltName=IP:127.0.0.1 \
				extendedKeyUsage=serverAuth,clientAuth keyUsage=digitalSignature) 2>/dev/null ||
		die "making the TLS certificates with openssl failed"
	local port
	for port in PEER CLIENT; do
		export RAFTNODE_${port}_CERT_FILE=$d/member.pem RAFTNODE_${port}_KEY_FILE=$d/member-key.pem \
			RAFTNODE_${port}_TRUSTED_CA_FILE=$d/ca.pem
	done
	export RAFTNODE_PEER_ALLOWED_ORGANIZATION=raftkube:member
	export RAFTCTL_CACERT=$d/ca.pem RAFTCTL_CERT=$d/member.pem RAFTCTL_KEY=$d/member-key.pem
}
((TLS == 0)) || make_pki "$WORK/pki"

# cpu_ticks PID...: user+system clock ticks the processes used so far.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# children_cpu: this shell's reaped children's user+system time in seconds.
# times runs in this shell (in a pipe or $(...) it would report a subshell's).
children_cpu() {
	times >"$WORK/times"
	tail -n 1 "$WORK/times" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
		printf "%.3f", s }'
}

TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)
SERVER_PIDS=()

# bench SIDE ROUND WORKLOAD CMD...: runs one workload as CMD OP FLAGS, its JSON
# summary into OUT/SIDE/WORKLOAD/rROUND.json and the CPU it cost into
# rROUND.cpu. A run with failed requests is kept (the table shows the failures);
# a run without a summary stops the benchmark.
bench() {
	local side=$1 round=$2 w=$3
	shift 3
	local op=${w%%-c*} clients=${w##*-c} total t
	# sget is get, serializable: the same command on both sides.
	local cmd=("$op")
	[[ $op == sget ]] && cmd=(get --serializable)
	for t in $TOTALS; do [[ ${t%%:*} == "$clients" ]] && total=${t##*:}; done
	local dir=$OUT/$side/$w
	local json=$dir/r$round.json errf=$WORK/$side-$w-r$round.stderr
	mkdir -p "$dir"
	log "$side round $round $w: $total ${op}s, $clients concurrent, ${VALUE_SIZE}-byte values, $KEY_SPACE keys"
	local s0 c0
	s0=$(cpu_ticks "${SERVER_PIDS[@]}")
	children_cpu >"$WORK/cpu0"
	c0=$(<"$WORK/cpu0")
	if ! "$@" "${cmd[@]}" --clients "$clients" --total "$total" --value-size "$VALUE_SIZE" --key-space "$KEY_SPACE" \
		>"$json.tmp" 2>"$errf"; then
		grep -q '"throughput"' "$json.tmp" || {
			tail -n 20 "$errf" >&2
			die "$side $w failed without a summary (logs in $WORK)"
		}
		log "$side $w: some requests failed: $(tail -n 1 "$errf")"
	fi
	local s1 c1
	s1=$(cpu_ticks "${SERVER_PIDS[@]}")
	children_cpu >"$WORK/cpu1"
	c1=$(<"$WORK/cpu1")
	mv "$json.tmp" "$json"
	awk -v s=$((s1 - s0)) -v hz="$TICK" -v c0="$c0" -v c1="$c1" \
		'BEGIN {printf "server_cpu_seconds %.3f\nclient_cpu_seconds %.3f\n", s / hz, c1 - c0}' >"$dir/r$round.cpu"
	sed -n 's/^ *"\(throughput\|p50\|p99\)": \([0-9.e+-]*\),*$/\1 \2/p' "$json" |
		awk '{v[$1] = $2} END {printf "    %.0f ops/s, p50 %.2f ms, p99 %.2f ms\n", v["throughput"], v["p50"], v["p99"]}' >&2
}

stop_raftkube() {
	[[ -n $RAFTKUBE_DIR && -f $RAFTKUBE_DIR/pids ]] || return 0
	"$ROOT/hack/run-local.sh" --stop "$RAFTKUBE_DIR" || true
	RAFTKUBE_DIR=
}

run_raftkube() {
	local round=$1 base
	base=$(free_base "$RAFTKUBE_BASE_PORT" RAFTKUBE)
	RAFTKUBE_DIR=$WORK/raftkube-r$round
	log "raftkube round $round: starting 3 members (BASE_PORT=$base hack/run-local.sh --detach $RAFTKUBE_DIR)"
	BASE_PORT=$base NO_BUILD=1 "$ROOT/hack/run-local.sh" --detach "$RAFTKUBE_DIR" 2>"$WORK/raftkube-r$round.start" || {
		cat "$WORK/raftkube-r$round.start" >&2
		die "the raftkube cluster did not start"
	}
	local eps
	eps=$(<"$RAFTKUBE_DIR/endpoints")
	mapfile -t SERVER_PIDS < <(awk '{print $2}' "$RAFTKUBE_DIR/pids")
	local ctl=("$BIN/raftctl" --endpoints "$eps" -o json bench)
	if ((WARMUP > 0)); then
		"${ctl[@]}" put --clients 100 --total "$WARMUP" --value-size "$VALUE_SIZE" --key-space "$KEY_SPACE" \
			>/dev/null 2>"$WORK/raftkube-warmup.stderr" || die "raftkube warm-up failed: $(tail -n 1 "$WORK/raftkube-warmup.stderr")"
	fi
	for w in "${WORKLOADS[@]}"; do
		bench raftkube "$round" "$w" "${ctl[@]}"
	done
	stop_raftkube
}

ETCD_ENDPOINTS=
# etcd_bench OP FLAGS...: etcdbench's form of raftctl bench OP FLAGS.
etcd_bench() {
	local op=$1
	shift
	"$ETCDBENCH" "$op" --endpoints "$ETCD_ENDPOINTS" "$@"
}

stop_etcd() {
	((${#ETCD_PIDS[@]} > 0)) || return 0
	kill -TERM "${ETCD_PIDS[@]}" 2>/dev/null || true
	local p
	for p in "${ETCD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ETCD_PIDS=()
}

run_etcd() {
	local round=$1 base i
	base=$(free_base "$ETCD_BASE_PORT" ETCD)
	local dir=$WORK/etcd-r$round initial=() eps=()
	mkdir -p "$dir"
	for i in 0 1 2; do
		initial+=("etcd-$((i + 1))=http://127.0.0.1:$((base + 100 * i + 1))")
		eps+=("127.0.0.1:$((base + 100 * i))")
	done
	local cluster
	cluster=$(IFS=, && echo "${initial[*]}")
	ETCD_ENDPOINTS=$(IFS=, && echo "${eps[*]}")
	log "etcd $ETCD_VERSION round $round: starting 3 members in $dir (clients at $ETCD_ENDPOINTS)"
	for i in 0 1 2; do
		local c=127.0.0.1:$((base + 100 * i)) p=127.0.0.1:$((base + 100 * i + 1)) n=etcd-$((i + 1))
		# Defaults otherwise (fsync on, a snapshot every 10000 entries); the
		# heartbeat and election timeout spelled out are raftnode's defaults.
		"$ETCD" --name "$n" --data-dir "$dir/$n" \
			--listen-client-urls "http://$c" --advertise-client-urls "http://$c" \
			--listen-peer-urls "http://$p" --initial-advertise-peer-urls "http://$p" \
			--initial-cluster "$cluster" --initial-cluster-token bench-cluster --initial-cluster-state new \
			--heartbeat-interval 100 --election-timeout 1000 \
			</dev/null >"$dir/$n.log" 2>&1 &
		ETCD_PIDS+=($!)
	done
	SERVER_PIDS=("${ETCD_PIDS[@]}")
	if ! "$ETCDBENCH" wait --endpoints "$ETCD_ENDPOINTS" --timeout 30s >/dev/null 2>"$WORK/etcd-wait.stderr"; then
		cat "$WORK/etcd-wait.stderr" >&2
		for i in 1 2 3; do
			printf -- '--- last lines of %s ---\n' "$dir/etcd-$i.log" >&2
			tail -n 10 "$dir/etcd-$i.log" >&2
		done
		die "the etcd cluster did not become ready"
	fi
	if ((WARMUP > 0)); then
		etcd_bench put --clients 100 --total "$WARMUP" --value-size "$VALUE_SIZE" --key-space "$KEY_SPACE" \
			>/dev/null 2>"$WORK/etcd-warmup.stderr" || die "etcd warm-up failed: $(tail -n 1 "$WORK/etcd-warmup.stderr")"
	fi
	for w in "${WORKLOADS[@]}"; do
		bench etcd "$round" "$w" etcd_bench
	done
	stop_etcd
}

# fsync_probe: milliseconds per 4 KiB write with O_DSYNC on the clusters' disk.
fsync_probe() {
	local f=$WORK/fsync-probe out
	out=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=200 oflag=dsync 2>&1 | tail -n 1) || return 0
	rm -f "$f"
	awk -v n=200 '{for (i = 1; i <= NF; i++) if ($i == "s,") printf "%.2f ms", $(i-1) * 1000 / n}' <<<"$out"
}

machine() {
	local cpu
	cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
	echo "$(uname -sm), ${cpu:-unknown CPU}, $(nproc) cores, $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')," \
		"$(go version | awk '{print $3}'), $(date -u +%Y-%m-%d); a 4 KiB O_DSYNC write on the data disk: $(fsync_probe);" \
		"load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# revision: the raftkube commit measured, and whether its Go code (tests,
# test/ and hack/ aside) had uncommitted changes.
revision() {
	local rev dirty=
	rev=$(git --no-optional-locks -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || {
		echo "unknown (not a git checkout)"
		return
	}
	[[ -z $(git --no-optional-locks -C "$ROOT" status --porcelain -- '*.go' ':(exclude)hack' ':(exclude)test' ':(exclude)*_test.go' 2>/dev/null) ]] ||
		dirty=" plus uncommitted Go changes"
	echo "$rev$dirty"
}

MACHINE=$(machine)
REVISION=$(revision)
log "machine: $MACHINE"
log "raftkube: $REVISION$( ((TLS == 0)) || echo ', mutual TLS on both ports')"
for side in "${SIDES[@]}"; do rm -rf "${OUT:?}/$side"; done
for ((round = 1; round <= ROUNDS; round++)); do
	order=("${SIDES[@]}")
	if ((round % 2 == 0 && ${#SIDES[@]} == 2)); then order=("${SIDES[1]}" "${SIDES[0]}"); fi
	for side in "${order[@]}"; do
		case $side in
		raftkube) run_raftkube "$round" ;;
		etcd) run_etcd "$round" ;;
		esac
	done
done

for side in raftkube etcd; do
	for w in "${WORKLOADS[@]}"; do
		if ! compgen -G "$OUT/$side/$w/r*.json" >/dev/null; then
			log "no $side results for $w in $OUT: no table (run with TARGETS=$side to add them)"
			exit 0
		fi
	done
done
{
	echo "raftkube vs etcd $ETCD_VERSION, 3 members each on 127.0.0.1, fsync on; ${VALUE_SIZE}-byte values," \
		"$KEY_SPACE keys; requests per workload (clients:requests): $TOTALS; ROUNDS=$ROUNDS" \
		"$( ((TLS == 0)) || echo '; raftkube with mutual TLS on both ports (TLS=1)')"
	echo "raftkube: $REVISION; machine: $MACHINE; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	"$ETCDBENCH" table --dir "$OUT" --sides raftkube,etcd "${WORKLOADS[@]}"
} | tee "$OUT/table.md"
log "table saved in $OUT/table.md"
