#!/usr/bin/env bash
# Builds the pinned pieces of a local Kubernetes control plane and of its real
# node into bin/:
#   k8s   bin/kube-apiserver, bin/kube-controller-manager, bin/kube-scheduler,
#         bin/kubectl, and the real node's bin/kubelet and bin/kube-proxy, from
#         hack/k8stools (k8s.io/kubernetes, version-stamped)
#   etcd  bin/etcd-VERSION from hack/etcdcluster (the same binary that
#         hack/bench-cluster.sh uses) and a symlink bin/etcd to it
#   helm  bin/helm from hack/helmtool
#   cni   bin/cni/bridge, host-local, loopback, portmap from hack/cniplugins
#         (the CNI reference plugins, static: the node's pod network)
#   coredns  bin/coredns from hack/coredns (CoreDNS with only the plugins
#         cluster DNS needs, static; its -version names the release)
# With the first three, KUBEBUILDER_ASSETS=bin is all envtest needs.
#
# A piece is built only when one of its binaries is missing or its recipe
# changed: bin/.k8s-tools.stamp holds, per piece, the pinned version, the Go
# version and a hash of the module's go.mod, go.sum and build flags (for
# coredns also its main.go, which chooses the plugins). A run with nothing to
# do prints one line. Delete the stamp to force a rebuild.
#
# The first build of the k8s piece compiles ~2,500 packages: several minutes
# (~6 on 2 cores), ~3 GB of memory, and several GB of Go build cache.
#
# Cold (empty Go build cache, 2 cores): cni ~30 s; coredns ~2 minutes and
# ~800 MB of memory (it links client-go, gRPC and OpenTelemetry).
#
# Usage: hack/build-k8s-tools.sh [k8s] [etcd] [helm] [cni] [coredns]
#        (default: all five)
#
# Environment:
#   GO=go     the go command
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
STAMP=$BIN/.k8s-tools.stamp
GO=${GO:-go}
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
# The CNI plugins' packages in github.com/containernetworking/plugins; each
# is built into bin/cni/ under its last path element.
CNI_PKGS=(main/bridge ipam/host-local main/loopback meta/portmap)

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'build-k8s-tools.sh: error: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

PIECES=()
for a in "$@"; do
	case $a in
	k8s | etcd | helm | cni | coredns) PIECES+=("$a") ;;
	-h | --help) usage ;;
	*) die "unknown piece '$a' (want k8s, etcd, helm, cni or coredns; none means all)" ;;
	esac
done
((${#PIECES[@]} > 0)) || PIECES=(k8s etcd helm cni coredns)

command -v "$GO" >/dev/null || die "$GO is not on PATH"
mkdir -p "$BIN"

# One build at a time: two `make` runs must not race on bin/ and the stamp.
if command -v flock >/dev/null; then
	exec 9>"$BIN/.k8s-tools.lock"
	flock 9 || die "could not lock $BIN/.k8s-tools.lock"
fi

GOVERSION=$("$GO" env GOVERSION) || die "'$GO env GOVERSION' failed"

# modversions DIR MODULE...: the versions DIR's go.mod selects, one per line.
modversions() {
	local dir=$1
	shift
	(cd "$ROOT/$dir" && "$GO" list -m -f '{{.Version}}' "$@") ||
		die "cannot read the pinned versions in $dir (cd $dir && $GO list -m $*)"
}

# recipe_hash DIR FLAGS [FILE...]: a hash of DIR's go.mod and go.sum, the
# flags, and the FILEs in DIR (sources of our own that the build compiles).
recipe_hash() {
	local dir=$1 flags=$2 f
	shift 2
	{
		printf 'go=%s\nldflags=%s\n' "$GOVERSION" "$flags"
		cat "$ROOT/$dir/go.mod" "$ROOT/$dir/go.sum"
		for f in "$@"; do cat "$ROOT/$dir/$f"; done
	} | sha256sum | cut -c1-16
}

# stamped NAME: the stamp line of piece NAME ("NAME VERSION GOVERSION HASH").
stamped() {
	if [[ -f $STAMP ]]; then awk -v n="$1" '$1 == n' "$STAMP"; fi
}

# set_stamp NAME LINE: replaces piece NAME's stamp line, atomically.
set_stamp() {
	local tmp=$STAMP.tmp
	{
		echo "# written by hack/build-k8s-tools.sh: piece version go hash-of-go.mod+go.sum+flags; delete to rebuild"
		[[ -f $STAMP ]] && awk -v n="$1" '$1 != n && $1 !~ /^#/' "$STAMP"
		echo "$2"
	} >"$tmp"
	mv "$tmp" "$STAMP"
}

# all_present FILE...: every FILE is an executable in bin/ (FILE may be in a
# subdirectory: cni/bridge).
all_present() {
	local f
	for f in "$@"; do [[ -x $BIN/$f ]] || return 1; done
}

# TMP is a scratch dir in bin/ (same file system, so binaries move in atomically
# and a running binary is replaced, not overwritten). BUILD_PID is a running build.
TMP=
BUILD_PID=
cleanup() {
	[[ -n $BUILD_PID ]] && kill "$BUILD_PID" 2>/dev/null
	[[ -n $TMP ]] && rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gobuild WHAT DIR OUT ARGS...: `go build -o $TMP/OUT ARGS` in DIR (OUT empty
# or ending in /: one binary per package, named by go build, in that
# directory), with a line every 30 s so a long build does not look hung.
# Environment set on the call (CGO_ENABLED=0 gobuild ...) reaches go build.
gobuild() {
	local what=$1 dir=$2 out=$3 start=$SECONDS next=30 rc=0
	shift 3
	TMP=$(mktemp -d "$BIN/.k8s-tools.build.XXXXXX")
	(cd "$ROOT/$dir" && exec "$GO" build -o "$TMP/$out" "$@") &
	BUILD_PID=$!
	while kill -0 "$BUILD_PID" 2>/dev/null; do
		sleep 1
		if ((SECONDS - start >= next)); then
			log "$what: still building ($((SECONDS - start)) s)"
			next=$((next + 30))
		fi
	done
	wait "$BUILD_PID" || rc=$?
	BUILD_PID=
	((rc == 0)) || die "$what: build failed (cd $dir && $GO build -o bin/$out $(printf '%q ' "$@"))"
	log "$what: built in $((SECONDS - start)) s"
}

# install_built FILE...: moves the built FILEs from $TMP into bin/. A FILE in
# a subdirectory (cni/bridge) goes to the same subdirectory of bin/, which is
# created if needed; $TMP and bin/ are on one file system, so each move is
# still a rename.
install_built() {
	local f
	for f in "$@"; do
		[[ -x $TMP/$f ]] || die "the build did not produce $f"
		[[ $f != */* ]] || mkdir -p "$BIN/${f%/*}"
		mv -f "$TMP/$f" "$BIN/$f"
	done
	rm -rf "$TMP"
	TMP=
}

BUILT=()
UP_TO_DATE=()

piece_k8s() {
	local line version date major minor ldflags hash want pkgs=() c
	line=$(cd "$ROOT/hack/k8stools" &&
		"$GO" list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) ||
		die "cannot read the pinned k8s.io/kubernetes in hack/k8stools (cd hack/k8stools && $GO list -m k8s.io/kubernetes)"
	read -r version date <<<"$line"
	[[ $version =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || die "hack/k8stools pins k8s.io/kubernetes $version: want a release v1.MINOR.PATCH"
	major=1 minor=${BASH_REMATCH[1]}
	# What the release build stamps (kubernetes hack/lib/version.sh), so that
	# --version and /version report the release instead of v0.0.0-master. The
	# build date is the release's commit time, so a rebuild gives the same binary.
	ldflags="-s -w"
	for c in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $c.gitVersion=$version -X $c.gitMajor=$major -X $c.gitMinor=$minor"
		ldflags+=" -X $c.gitTreeState=clean -X $c.buildDate=$date"
	done
	hash=$(recipe_hash hack/k8stools "$ldflags")
	want="k8s $version $GOVERSION $hash"
	if [[ $(stamped k8s) == "$want" ]] && all_present "${K8S_CMDS[@]}"; then
		UP_TO_DATE+=("${K8S_CMDS[*]} $version")
		return
	fi
	for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
	log "k8s: building ${K8S_CMDS[*]} $version from hack/k8stools"
	log "k8s: the first build takes several minutes (~6 on 2 cores) and ~3 GB of memory; later ones reuse Go's build cache"
	gobuild k8s hack/k8stools "" -ldflags="$ldflags" "${pkgs[@]}"
	install_built "${K8S_CMDS[@]}"
	set_stamp k8s "$want"
	BUILT+=("${K8S_CMDS[*]} $version")
}

piece_etcd() {
	local version hash want name
	version=$(modversions hack/etcdcluster go.etcd.io/etcd/server/v3)
	name=etcd-$version
	hash=$(recipe_hash hack/etcdcluster "")
	want="etcd $version $GOVERSION $hash"
	if [[ $(stamped etcd) == "$want" ]] && all_present "$name" etcd && [[ $(readlink "$BIN/etcd") == "$name" ]]; then
		UP_TO_DATE+=("etcd $version")
		return
	fi
	# Built exactly as hack/bench-cluster.sh builds it, so both share one binary.
	log "etcd: building bin/$name from hack/etcdcluster"
	gobuild etcd hack/etcdcluster "$name" go.etcd.io/etcd/server/v3
	install_built "$name"
	ln -sfn "$name" "$BIN/etcd"
	set_stamp etcd "$want"
	BUILT+=("etcd $version (bin/etcd -> $name)")
}

piece_helm() {
	local versions version client major minor ldflags hash want v
	versions=$(modversions hack/helmtool helm.sh/helm/v3 k8s.io/client-go)
	{ read -r version && read -r client; } <<<"$versions"
	[[ $client =~ ^v0\.([0-9]+)\. ]] || die "hack/helmtool selects k8s.io/client-go $client: want v0.MINOR.PATCH"
	# helm's Makefile: Kubernetes 1.N pairs with client-go v0.N.
	major=1 minor=${BASH_REMATCH[1]}
	v=helm.sh/helm/v3
	ldflags="-s -w -X $v/internal/version.version=$version -X $v/internal/version.gitTreeState=clean"
	ldflags+=" -X $v/pkg/lint/rules.k8sVersionMajor=$major -X $v/pkg/lint/rules.k8sVersionMinor=$minor"
	ldflags+=" -X $v/pkg/chartutil.k8sVersionMajor=$major -X $v/pkg/chartutil.k8sVersionMinor=$minor"
	hash=$(recipe_hash hack/helmtool "$ldflags")
	want="helm $version $GOVERSION $hash"
	if [[ $(stamped helm) == "$want" ]] && all_present helm; then
		UP_TO_DATE+=("helm $version")
		return
	fi
	log "helm: building bin/helm $version from hack/helmtool (a minute or two the first time)"
	gobuild helm hack/helmtool "" -ldflags="$ldflags" helm.sh/helm/v3/cmd/helm
	install_built helm
	set_stamp helm "$want"
	BUILT+=("helm $version")
}

piece_cni() {
	local version ldflags flags hash want files=() pkgs=() p
	version=$(modversions hack/cniplugins github.com/containernetworking/plugins)
	# What the plugins' own release build stamps: a plugin run by hand (no
	# CNI_COMMAND) prints "CNI bridge plugin VERSION".
	ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$version"
	# Static: containerd execs the plugins on the host, with no guarantee of
	# the libc they were linked against.
	flags="CGO_ENABLED=0 $ldflags"
	hash=$(recipe_hash hack/cniplugins "$flags")
	want="cni $version $GOVERSION $hash"
	for p in "${CNI_PKGS[@]}"; do
		files+=("cni/${p##*/}")
		pkgs+=("github.com/containernetworking/plugins/plugins/$p")
	done
	if [[ $(stamped cni) == "$want" ]] && all_present "${files[@]}"; then
		UP_TO_DATE+=("${files[*]} $version")
		return
	fi
	log "cni: building ${files[*]} $version from hack/cniplugins"
	CGO_ENABLED=0 gobuild cni hack/cniplugins cni/ -ldflags="$ldflags" "${pkgs[@]}"
	install_built "${files[@]}"
	set_stamp cni "$want"
	BUILT+=("${files[*]} $version")
}

piece_coredns() {
	local version ldflags flags hash want
	version=$(modversions hack/coredns github.com/coredns/coredns)
	# coremain.GitCommit is the one build stamp -version prints (after the
	# release number compiled into coremain); the module proxy knows no
	# commit, so it carries the module version.
	ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$version"
	# Static, like the other node binaries, so it runs on any host.
	flags="CGO_ENABLED=0 $ldflags"
	# main.go lists the plugins, so it is part of the recipe.
	hash=$(recipe_hash hack/coredns "$flags" main.go)
	want="coredns $version $GOVERSION $hash"
	if [[ $(stamped coredns) == "$want" ]] && all_present coredns; then
		UP_TO_DATE+=("coredns $version")
		return
	fi
	log "coredns: building bin/coredns $version from hack/coredns (~2 minutes the first time on 2 cores)"
	CGO_ENABLED=0 gobuild coredns hack/coredns coredns -ldflags="$ldflags" .
	install_built coredns
	set_stamp coredns "$want"
	BUILT+=("coredns $version")
}

for p in "${PIECES[@]}"; do "piece_$p"; done

summary() {
	local IFS=, s
	s="$*"
	echo "${s//,/, }"
}
if ((${#BUILT[@]} == 0)); then
	echo "k8s tools up to date in bin/ (nothing to do): $(summary "${UP_TO_DATE[@]}")"
else
	log "built into bin/: $(summary "${BUILT[@]}")"
	((${#UP_TO_DATE[@]} == 0)) || log "already up to date: $(summary "${UP_TO_DATE[@]}")"
fi
