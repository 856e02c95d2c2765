#!/usr/bin/env bash
# Builds raftkube's container images with no container engine and no base
# image to pull, and pushes them:
#   images        bin/images/manager.tar and bin/images/raftnode.tar: OCI image
#                 indexes for linux/amd64 and linux/arm64, each image one layer
#                 of static binaries (manager; raftnode and raftctl) plus an
#                 /etc/passwd and /etc/group naming the user nonroot (65532),
#                 which the images run as
#   test-images   bin/images/manager-failpoints.tar: the manager built with
#                 -tags failpoints (RAFTKUBE_FAILPOINTS crashes it at a named
#                 step), as REGISTRY/manager:VERSION-failpoints, for the
#                 end-to-end tests only; `images` and `push` never include it
#   node-images   bin/images/pause.tar and bin/images/coredns.tar, this
#                 machine's platform only, for the local Kubernetes node
#                 (coredns needs bin/coredns: hack/build-k8s-tools.sh coredns)
#   push          pushes bin/images/{manager,raftnode}.tar, every platform, as
#                 REGISTRY/manager:VERSION and REGISTRY/raftnode:VERSION, and the
#                 chart, packaged with appVersion VERSION, as the Helm OCI
#                 artifact REGISTRY/raftkube:CHART_VERSION (plain HTTP when
#                 REGISTRY is on loopback)
#   reproducible  builds `images` twice into two folders and fails unless the
#                 tarballs are byte-identical; prints the index digests
#
# Each tarball is an OCI image layout with index.json naming the image
# (io.containerd.image.name) plus Docker's manifest.json for this machine's
# platform: `ctr -n k8s.io images import`, `kind load image-archive` and
# `docker load -i` all take it. Images are reproducible: the binaries are built
# with -trimpath, -buildvcs=false and fixed -ldflags, every time stamp is the
# commit's (SOURCE_DATE_EPOCH), and bin/imagetool writes sorted, root-owned tar
# entries and gzip streams without names or times.
#
# Usage: hack/images.sh images|test-images|node-images|push|reproducible
#
# Environment:
#   VERSION=<appVersion of charts/raftkube/Chart.yaml>  the images' tag, stamped
#             into the binaries (internal/version.Version)
#   COMMIT=<git rev-parse HEAD>  stamped into the binaries and the labels; a
#             tree with uncommitted changes gets no "-dirty" mark (a release is
#             built from a clean checkout; see the README's "Images")
#   REGISTRY=ghcr.io/raftkube  the images' repository prefix
#   SOURCE_DATE_EPOCH=<the commit's time>  the images' creation time
#   PLATFORMS="linux/amd64 linux/arm64"  the platforms of `images`
#   OUT=bin/images  where the tarballs go (staging under OUT/rootfs, OUT/build)
#   GO=go  IMAGETOOL=bin/imagetool  HELM=bin/helm  COREDNS=bin/coredns
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
GO=${GO:-go}
IMAGETOOL=${IMAGETOOL:-$BIN/imagetool}
HELM=${HELM:-$BIN/helm}
COREDNS=${COREDNS:-$BIN/coredns}
OUT=${OUT:-$BIN/images}
REGISTRY=${REGISTRY:-ghcr.io/raftkube}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
SOURCE=https://github.com/raftkube/raftkube
VERSION_PKG=github.com/raftkube/raftkube/internal/version

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'images.sh: error: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# chart_app_version: appVersion of the chart, quotes removed.
chart_app_version() {
	sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$ROOT/charts/raftkube/Chart.yaml"
}

VERSION=${VERSION:-$(chart_app_version)}
[[ -n $VERSION ]] || die "no VERSION and no appVersion in charts/raftkube/Chart.yaml"
COMMIT=${COMMIT:-$(git -C "$ROOT" rev-parse HEAD)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS="-s -w -X $VERSION_PKG.Version=$VERSION -X $VERSION_PKG.Commit=$COMMIT"

# label_args TITLE DESCRIPTION VERSION: imagetool's --label flags, the OCI
# labels every image carries (imagetool adds .created).
label_args() {
	printf -- '--label\n%s\n' \
		"org.opencontainers.image.title=$1" \
		"org.opencontainers.image.description=$2" \
		"org.opencontainers.image.version=$3" \
		"org.opencontainers.image.revision=$COMMIT" \
		"org.opencontainers.image.source=$SOURCE" \
		"org.opencontainers.image.licenses=Apache-2.0"
}

# gobuild OS/ARCH OUTDIR DIR PKG...: static, reproducible binaries of the
# packages in module DIR, one per package, into OUTDIR, with the build tags
# in GOTAGS (none by default: release builds). GOAMD64 and GOARM64 are pinned
# so a builder's environment cannot change the code generated.
gobuild() {
	local plat=$1 out=$2 dir=$3
	shift 3
	mkdir -p "$out"
	(cd "$dir" && CGO_ENABLED=0 GOOS=${plat%/*} GOARCH=${plat#*/} GOAMD64=v1 GOARM64=v8.0 \
		"$GO" build -trimpath -buildvcs=false -tags "${GOTAGS:-}" -ldflags "$LDFLAGS" -o "$out/" "$@")
}

# stage FILE... DIR: a fresh DIR holding the files (hard links when possible).
stage() {
	local dir=${*: -1} f
	rm -rf "$dir"
	mkdir -p "$dir"
	for f in "${@:1:$#-1}"; do
		ln -f "$f" "$dir/" 2>/dev/null || cp "$f" "$dir/"
	done
}

# parallel CMD...: runs each quoted command line in the background, then waits
# for all and fails if any failed (2 cores: compiling, linking and gzip of
# one job overlap another's).
parallel() {
	local pids=() rc=0 p
	for c in "$@"; do
		bash -c "$c" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}

need_imagetool() {
	[[ -x $IMAGETOOL ]] || die "$IMAGETOOL is missing: run 'make $IMAGETOOL'"
}

build_images() {
	need_imagetool
	local start=$SECONDS plat p pids=()
	log "building manager, raftnode, raftctl $VERSION ($COMMIT) for $PLATFORMS"
	for plat in $PLATFORMS; do
		gobuild "$plat" "$OUT/build/${plat/\//_}" "$ROOT" ./cmd/manager ./cmd/node ./cmd/raftctl &
		pids+=($!)
	done
	local rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	((rc == 0)) || die "go build failed"
	log "binaries built in $((SECONDS - start))s"

	local node_args=() manager_args=() b
	for plat in $PLATFORMS; do
		b=$OUT/build/${plat/\//_}
		mv -f "$b/node" "$b/raftnode" 2>/dev/null || [[ -f $b/raftnode ]]
		stage "$b/raftnode" "$b/raftctl" "$OUT/rootfs/raftnode/${plat/\//_}/usr/local/bin"
		stage "$b/manager" "$OUT/rootfs/manager/${plat/\//_}/usr/local/bin"
		node_args+=(--platform "$plat=$OUT/rootfs/raftnode/${plat/\//_}")
		manager_args+=(--platform "$plat=$OUT/rootfs/manager/${plat/\//_}")
	done

	local common=(--user 65532:65532 --workdir / --env PATH=/usr/local/bin --nonroot-passwd --created "$CREATED")
	local node_labels manager_labels
	mapfile -t node_labels < <(label_args raftnode "raftkube's replicated key-value node (raftnode) and its CLI (raftctl)" "$VERSION")
	mapfile -t manager_labels < <(label_args manager "The raftkube operator's manager: runs RaftClusters as StatefulSets" "$VERSION")
	start=$SECONDS
	parallel \
		"$(printf '%q ' "$IMAGETOOL" build --ref "$REGISTRY/raftnode:$VERSION" --out "$OUT/raftnode.tar" \
			--entrypoint /usr/local/bin/raftnode "${common[@]}" "${node_labels[@]}" "${node_args[@]}") > $(printf '%q' "$OUT/raftnode.digest")" \
		"$(printf '%q ' "$IMAGETOOL" build --ref "$REGISTRY/manager:$VERSION" --out "$OUT/manager.tar" \
			--entrypoint /usr/local/bin/manager "${common[@]}" "${manager_labels[@]}" "${manager_args[@]}") > $(printf '%q' "$OUT/manager.digest")" ||
		die "imagetool build failed"
	log "images written in $((SECONDS - start))s"
	report "$REGISTRY/raftnode:$VERSION" "$OUT/raftnode.tar" "$REGISTRY/manager:$VERSION" "$OUT/manager.tar"
}

# build_test_images: the manager with failpoints, for the end-to-end tests.
# Its own tag and tarball, so nothing mistakes it for the release image.
build_test_images() {
	need_imagetool
	local start=$SECONDS plat b manager_args=() manager_labels
	local ref=$REGISTRY/manager:$VERSION-failpoints
	log "building the test manager (failpoints) $VERSION ($COMMIT) for $PLATFORMS"
	for plat in $PLATFORMS; do
		b=$OUT/build/failpoints_${plat/\//_}
		GOTAGS=failpoints gobuild "$plat" "$b" "$ROOT" ./cmd/manager
		stage "$b/manager" "$OUT/rootfs/manager-failpoints/${plat/\//_}/usr/local/bin"
		manager_args+=(--platform "$plat=$OUT/rootfs/manager-failpoints/${plat/\//_}")
	done
	mapfile -t manager_labels < <(label_args manager "TEST BUILD of the raftkube manager, with failpoints: never run it in production" "$VERSION-failpoints")
	"$IMAGETOOL" build --ref "$ref" --out "$OUT/manager-failpoints.tar" --entrypoint /usr/local/bin/manager \
		--user 65532:65532 --workdir / --env PATH=/usr/local/bin --nonroot-passwd --created "$CREATED" \
		"${manager_labels[@]}" "${manager_args[@]}" >"$OUT/manager-failpoints.digest"
	log "test manager image written in $((SECONDS - start))s"
	report "$ref" "$OUT/manager-failpoints.tar"
}

# report REF TARBALL...: one line per image: name, index digest, size.
report() {
	while (($# >= 2)); do
		printf '%s\t%s\t%s\t%s\n' "$1" "$("$IMAGETOOL" digest "$2")" "$(du -h "$2" | cut -f1)" "${2#"$ROOT"/}"
		shift 2
	done
}

build_node_images() {
	need_imagetool
	local plat arch
	arch=$("$GO" env GOARCH)
	plat=linux/$arch
	[[ -x $COREDNS ]] ||
		die "$COREDNS is missing: run 'hack/build-k8s-tools.sh coredns' first"
	# The image has no C library: a binary linked against one would not start.
	"$GO" version -m "$COREDNS" | grep -q 'CGO_ENABLED=0' ||
		die "$COREDNS is not a static (CGO_ENABLED=0) Go binary"
	local coredns_version
	coredns_version=$("$COREDNS" -version | sed -n 's/^CoreDNS-\([^[:space:]]*\).*/\1/p' | head -1)
	[[ -n $coredns_version ]] || die "'$COREDNS -version' names no version (want a line CoreDNS-X.Y.Z)"

	log "building pause for $plat"
	gobuild "$plat" "$OUT/build/node-images_$arch" "$ROOT/hack/imagetool" ./cmd/pause
	stage "$OUT/build/node-images_$arch/pause" "$OUT/rootfs/pause/linux_$arch"
	# Named coredns in the image whatever its name here: the entrypoint.
	rm -rf "$OUT/rootfs/coredns/linux_$arch"
	mkdir -p "$OUT/rootfs/coredns/linux_$arch"
	cp "$COREDNS" "$OUT/rootfs/coredns/linux_$arch/coredns"

	local common=(--user 65532:65532 --workdir / --nonroot-passwd --created "$CREATED")
	local pause_labels coredns_labels
	mapfile -t pause_labels < <(label_args pause "The pod sandbox's first process for raftkube's local Kubernetes node" 3.10)
	mapfile -t coredns_labels < <(label_args coredns "CoreDNS for raftkube's local Kubernetes node" "$coredns_version")
	"$IMAGETOOL" build --ref localhost/raftkube/pause:3.10 --out "$OUT/pause.tar" \
		--entrypoint /pause "${common[@]}" "${pause_labels[@]}" --platform "$plat=$OUT/rootfs/pause/linux_$arch" >/dev/null
	"$IMAGETOOL" build --ref "localhost/raftkube/coredns:$coredns_version" --out "$OUT/coredns.tar" \
		--entrypoint /coredns "${common[@]}" "${coredns_labels[@]}" --platform "$plat=$OUT/rootfs/coredns/linux_$arch" >/dev/null
	report localhost/raftkube/pause:3.10 "$OUT/pause.tar" "localhost/raftkube/coredns:$coredns_version" "$OUT/coredns.tar"
}

# loopback REGISTRY: whether REGISTRY's host is this machine's loopback.
loopback() {
	local host=${1%%/*}
	case $host in
	\[::1\] | \[::1\]:*) return 0 ;;
	esac
	host=${host%:*}
	[[ $host == localhost || $host == 127.* ]]
}

push() {
	need_imagetool
	local f
	for f in manager raftnode; do
		[[ -f $OUT/$f.tar ]] || die "$OUT/$f.tar is missing: run 'make images'"
	done
	[[ -x $HELM ]] || die "$HELM is missing: run 'make k8s-tools'"
	for f in manager raftnode; do
		log "pushing $f as $REGISTRY/$f:$VERSION"
		"$IMAGETOOL" push "$OUT/$f.tar" "$REGISTRY/$f:$VERSION"
	done
	local pkg plain=()
	mkdir -p "$OUT/chart"
	rm -f "$OUT"/chart/*.tgz
	# --app-version: the chart's default tags are the images just pushed.
	"$HELM" package "$ROOT/charts/raftkube" --app-version "$VERSION" -d "$OUT/chart" >&2
	pkg=$(ls "$OUT"/chart/*.tgz)
	loopback "$REGISTRY" && plain=(--plain-http)
	log "pushing the chart $(basename "$pkg") to oci://$REGISTRY"
	"$HELM" push "$pkg" "oci://$REGISTRY" "${plain[@]}"
}

reproducible() {
	local a=$OUT/reproducible-1 b=$OUT/reproducible-2 f rc=0
	rm -rf "$a" "$b"
	OUT=$a build_images >/dev/null
	OUT=$b build_images >/dev/null
	for f in raftnode manager; do
		printf '%s\t%s\t%s\n' "$f" "$("$IMAGETOOL" digest "$a/$f.tar")" "$("$IMAGETOOL" digest "$b/$f.tar")"
		cmp -s "$a/$f.tar" "$b/$f.tar" || {
			echo "$f: the two builds differ" >&2
			rc=1
		}
	done
	((rc == 0)) || die "the images are not reproducible (left in $a and $b)"
	rm -rf "$a" "$b"
	log "both builds gave byte-identical tarballs"
}

(($# == 1)) || usage
mkdir -p "$OUT"
case $1 in
images) build_images ;;
test-images) build_test_images ;;
node-images) build_node_images ;;
push) push ;;
reproducible) reproducible ;;
-h | --help) usage ;;
*) die "unknown command '$1' (want images, test-images, node-images, push or reproducible)" ;;
esac
