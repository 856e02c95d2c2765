#!/usr/bin/env bash
# Consensus-core benchmarks, side by side: the same workloads on raftkube
# (./raftnode/raft, ./raftnode/raft/quorum) and on etcd's raft v3.6.0 and v3.7.0
# (hack/etcdbench, a module of its own), compared with benchstat.
#
# Usage: hack/bench.sh [OUTDIR]          (default OUTDIR: bin/bench)
#
# Environment:
#   COUNT=6          runs of each benchmark (benchstat wants >= 6 for its intervals)
#   BENCHTIME=1s     go test -benchtime (a duration, or Nx for a fixed count)
#   BENCH=.          go test -bench regexp
#   TARGETS="raftkube etcd-v3.6.0 etcd-v3.7.0"   which sides to run; a side not
#                    run this time is still shown if OUTDIR holds its results
#   TIMEOUT=60m      go test -timeout
#
# Results: OUTDIR/raftkube.txt, OUTDIR/etcd-v3.6.0.txt, OUTDIR/etcd-v3.7.0.txt
# (raw go test output) and OUTDIR/benchstat.txt (the tables printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-${OUT:-$ROOT/bin/bench}}
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
TIMEOUT=${TIMEOUT:-60m}
TARGETS=${TARGETS:-raftkube etcd-v3.6.0 etcd-v3.7.0}
ALL_SIDES=(etcd-v3.6.0 etcd-v3.7.0 raftkube) # benchstat column order

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'bench.sh: error: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive integer, got '$COUNT'"
for t in $TARGETS; do
	case $t in
	raftkube | etcd-v3.6.0 | etcd-v3.7.0) ;;
	*) die "unknown target '$t' in TARGETS (want raftkube, etcd-v3.6.0, etcd-v3.7.0)" ;;
	esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

BENCHSTAT=$ROOT/bin/benchstat
if [[ ! -x $BENCHSTAT ]]; then
	log "building bin/benchstat from hack/tools"
	(cd "$ROOT/hack/tools" && go build -o ../../bin/ golang.org/x/perf/cmd/benchstat) ||
		die "could not build benchstat (cd hack/tools && go build -o ../../bin/ golang.org/x/perf/cmd/benchstat)"
fi

# bench NAME DIR [go test args...]: runs the benchmarks in DIR into OUT/NAME.txt.
# The file is replaced only when the run succeeds.
bench() {
	local name=$1 dir=$2
	shift 2
	local out=$OUT/$name.txt tmp=$OUT/.$name.txt.tmp rel=.
	[[ $dir == "$ROOT" ]] || rel=${dir#"$ROOT"/}
	log "$name: (cd $rel && go test -run '^\$' -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME -timeout $TIMEOUT $*)"
	if ! (cd "$dir" && go test -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" \
		-benchtime "$BENCHTIME" -timeout "$TIMEOUT" "$@") >"$tmp"; then
		cat "$tmp" >&2
		rm -f "$tmp"
		die "$name: benchmarks failed (output above)"
	fi
	grep -q '^Benchmark' "$tmp" || {
		cat "$tmp" >&2
		rm -f "$tmp"
		die "$name: no benchmark ran (BENCH='$BENCH')"
	}
	mv "$tmp" "$out"
	log "$name: $(grep -c '^Benchmark' "$out") results in $out"
}

for t in $TARGETS; do
	case $t in
	raftkube)
		bench raftkube "$ROOT/raftnode/raft" . ./quorum/
		;;
	etcd-v3.6.0)
		bench etcd-v3.6.0 "$ROOT/hack/etcdbench" .
		;;
	etcd-v3.7.0)
		# v3.7.0's raftpb is protobuf-go generated structs: its API differences are
		# isolated in compat_v370_test.go behind the etcd_v370 tag.
		bench etcd-v3.7.0 "$ROOT/hack/etcdbench" -modfile=go.v370.mod -tags etcd_v370 .
		;;
	esac
done

args=()
for s in "${ALL_SIDES[@]}"; do
	if [[ -s $OUT/$s.txt ]]; then
		args+=("$s=$OUT/$s.txt")
	else
		log "no results for $s in $OUT: its column is left out"
	fi
done
((${#args[@]} > 0)) || die "no results to compare in $OUT"

# Rows from different packages (raftnode/raft, hack/etcdbench, .../quorum) must line
# up by benchmark name: ignore the pkg key.
log "benchstat -ignore pkg ${args[*]}"
"$BENCHSTAT" -ignore pkg "${args[@]}" | tee "$OUT/benchstat.txt"
log "tables saved in $OUT/benchstat.txt"
