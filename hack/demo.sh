#!/usr/bin/env bash
# make demo: the operator on a local Kubernetes cluster.
#
# Builds what it needs, starts a control plane on loopback (hack/localkube:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and a real
# node (`localkube up --node`: containerd, runc, kubelet, kube-proxy, a CNI
# bridge with no route off the machine, CoreDNS), builds the operator's images
# for this machine (hack/images.sh, as `make images` does) and imports them
# into the node's containerd, installs the operator's Helm chart with its
# default images, applies the sample RaftCluster, scales it 3 -> 5 -> 3
# printing the cluster, its pods and its membership at each step, and leaves
# everything running until Ctrl-C, which tears it down (and undoes every host
# change the node made). The cluster has TLS (the default): raftctl runs in a
# member's pod, whose environment points it at the member with the member's
# certificate, or on this host with the application certificate the operator
# keeps in the Secret status.tls.clientSecretName names.
#
# Environment:
#   DEMO_STATE=DIR        state and logs (default ${TMPDIR:-/tmp}/raftkube-demo)
#   DEMO_EXIT=1           tear down right after the scaling instead of waiting
#   DEMO_NODE=process     run the pods as host processes under the local
#                         process kubelet (hack/localkubelet) instead
#   WAIT_TIMEOUT=300      seconds to wait for each step
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
STATE=${DEMO_STATE:-${TMPDIR:-/tmp}/raftkube-demo}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300}
NODE=${DEMO_NODE:-real}
CLUSTER=demo
NS=default

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
	printf 'demo: error: %s\n' "$*" >&2
	exit 1
}

case $NODE in
real | process) ;;
*) die "DEMO_NODE=$NODE: want real or process" ;;
esac
[ "$NODE" = process ] || [ "$(id -u)" -eq 0 ] || die "the real node needs root (containerd, network namespaces, iptables); DEMO_NODE=process runs without a container runtime, also as root"

kubelet_pid=
# stopping_is_done is set once the demo only waits for Ctrl-C: stopping it
# then is how it ends, not a failure (make must not report Error 130).
stopping_is_done=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$rc" = 130 ] && [ -n "$stopping_is_done" ]; then
		rc=0
	fi
	step "tearing down"
	if [ -n "$kubelet_pid" ]; then
		# The process kubelet stops its pods' processes with it.
		kill -TERM "$kubelet_pid" 2>/dev/null || true
		wait "$kubelet_pid" 2>/dev/null || true
	fi
	# Stops the node first (pods, containerd, host changes undone), then the control plane.
	"$BIN/localkube" down --state "$STATE/localkube" >/dev/null 2>&1 || true
	rm -rf "$STATE"
	exit "$rc"
}

step "building raftctl and localkube"
(cd "$ROOT" && go build -o "$BIN/raftctl" ./cmd/raftctl)
(cd "$ROOT/hack/localkube" && go build -o "$BIN/localkube" ./cmd/localkube)

[ -e "$STATE" ] && die "$STATE exists: another demo runs, or a crashed one left it (make localkube-down LOCALKUBE_STATE=$STATE/localkube; rm -rf $STATE)"
mkdir -p "$STATE"
trap cleanup EXIT
trap 'exit 130' INT TERM

export KUBECONFIG=$STATE/localkube/kubeconfig
export HELM_CACHE_HOME=$STATE/helm/cache HELM_CONFIG_HOME=$STATE/helm/config HELM_DATA_HOME=$STATE/helm/data
kubectl() { "$BIN/kubectl" "$@"; }
helm() { "$BIN/helm" "$@"; }

if [ "$NODE" = real ]; then
	step "building the images for this machine (hack/images.sh images node-images)"
	PLATFORMS=linux/$(go env GOARCH) "$ROOT/hack/images.sh" images
	"$ROOT/hack/images.sh" node-images
	step "starting the control plane and a real node (logs: $STATE/localkube/node/logs)"
	images=$BIN/images/raftnode.tar,$BIN/images/manager.tar,$BIN/images/pause.tar,$BIN/images/coredns.tar
	"$BIN/localkube" up --detach --node --bin "$BIN" --state "$STATE/localkube" --images "$images"
	kubectl get nodes -o wide
else
	step "building raftnode, manager, localkubelet"
	(cd "$ROOT" && go build -o "$BIN/raftnode" ./cmd/node && go build -o "$BIN/manager" ./cmd/manager)
	(cd "$ROOT/hack/localkubelet" && go build -o "$BIN/localkubelet" ./cmd/localkubelet)
	step "starting the control plane"
	"$BIN/localkube" up --detach --bin "$BIN" --state "$STATE/localkube"
	step "starting the local process kubelet (log: $STATE/kubelet.log)"
	"$BIN/localkubelet" --kubeconfig "$KUBECONFIG" --node-name local-node --listen 127.0.0.1:10250 \
		--state-dir "$STATE/kubelet" \
		--image "ghcr.io/raftkube/raftnode=$BIN/raftnode" --image "ghcr.io/raftkube/manager=$BIN/manager" \
		>"$STATE/kubelet.log" 2>&1 &
	kubelet_pid=$!
	deadline=$((SECONDS + 60))
	until kubectl get node local-node >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || die "the kubelet did not register its node; see $STATE/kubelet.log"
		sleep 0.5
	done
	kubectl wait --for=condition=Ready node/local-node --timeout=60s >/dev/null || die "the node did not become Ready; see $STATE/kubelet.log"
fi

step "helm install raftkube charts/raftkube   (the chart's default images)"
helm install raftkube "$ROOT/charts/raftkube" --namespace raftkube-system --create-namespace --wait --timeout 3m
kubectl get pods -n raftkube-system -o wide

# TLS is where fetch_client_cert writes the application certificate;
# raftctl_tls are the host raftctl's flags that use it. Members are reached
# by pod IP, which their certificates do not name: --tls-server-name gives
# the client Service's name, which they do.
TLS=$STATE/tls
raftctl_tls() {
	echo "--cacert $TLS/ca.crt --cert $TLS/tls.crt --key $TLS/tls.key --tls-server-name $CLUSTER.$NS.svc"
}

# fetch_client_cert writes the application certificate (key-value calls and
# Status; the Admin API needs the admin one) from its Secret to $TLS.
fetch_client_cert() {
	local secret key
	secret=$(kubectl get raft "$CLUSTER" -n "$NS" -o jsonpath='{.status.tls.clientSecretName}')
	[ -n "$secret" ] || die "status.tls.clientSecretName is empty: is spec.tls.enabled false?"
	mkdir -p "$TLS"
	for key in ca.crt tls.crt tls.key; do
		kubectl get secret "$secret" -n "$NS" -o "jsonpath={.data.${key//./\\.}}" | base64 -d >"$TLS/$key"
	done
	chmod 600 "$TLS/tls.key"
}

show() {
	kubectl get raft "$CLUSTER" -n "$NS"
	echo
	kubectl get pods -n "$NS" -l "raftkube.io/cluster=$CLUSTER" -o wide
	echo
	kubectl get raft "$CLUSTER" -n "$NS" -o jsonpath='{range .status.members[*]}{.name}{"\t"}{.id}{"\t"}{.role}{"\tready="}{.ready}{"\tmatch="}{.matchIndex}{"\n"}{end}' |
		column -t -N POD,MEMBER-ID,ROLE,READY,MATCH 2>/dev/null || true
	echo
	if [ "$NODE" = real ]; then
		# raftctl is in the raftnode image; the pod's RAFTCTL_* environment
		# names the member's address and certificate.
		echo "kubectl exec $CLUSTER-0 -- raftctl member list"
		kubectl exec -n "$NS" "$CLUSTER-0" -- raftctl member list || true
	else
		local ip
		ip=$(kubectl get pod "$CLUSTER-0" -n "$NS" -o jsonpath='{.status.podIP}')
		echo "raftctl --endpoints $ip:2379 $(raftctl_tls) member list"
		# shellcheck disable=SC2046 # raftctl_tls is a list of flags
		"$BIN/raftctl" --endpoints "$ip:2379" $(raftctl_tls) member list || true
	fi
}

# wait_voters N: until the cluster reports N ready voters, Available, for its
# current spec.
wait_voters() {
	local want=$1 deadline=$((SECONDS + WAIT_TIMEOUT)) got
	while :; do
		got=$(kubectl get raft "$CLUSTER" -n "$NS" -o jsonpath='{.status.replicas}/{.status.readyReplicas}/{.status.phase}/{.status.observedGeneration}/{.metadata.generation}' 2>/dev/null || true)
		IFS=/ read -r replicas ready phase observed generation <<<"$got"
		if [ "$replicas" = "$want" ] && [ "$ready" = "$want" ] && [ "$phase" = Available ] && [ "$observed" = "$generation" ]; then
			return
		fi
		[ $SECONDS -lt $deadline ] || die "no $want ready voters after ${WAIT_TIMEOUT}s (now: $got); manager log: kubectl logs -n raftkube-system deploy/raftkube"
		sleep 1
	done
}

step "kubectl apply -f config/samples/raftkube_v1alpha1_raftcluster.yaml"
start=$SECONDS
kubectl apply -n "$NS" -f "$ROOT/config/samples/raftkube_v1alpha1_raftcluster.yaml"
wait_voters 3
echo "Available with 3 voters after $((SECONDS - start))s"
fetch_client_cert
show

step "kubectl scale raft/$CLUSTER --replicas=5   (learners added, then promoted in one joint change)"
start=$SECONDS
kubectl scale -n "$NS" "raft/$CLUSTER" --replicas=5
wait_voters 5
echo "5 voters after $((SECONDS - start))s"
show

step "kubectl scale raft/$CLUSTER --replicas=3   (leadership moved off leavers, removed in one joint change, volumes deleted)"
start=$SECONDS
kubectl scale -n "$NS" "raft/$CLUSTER" --replicas=3
wait_voters 3
echo "3 voters after $((SECONDS - start))s"
show
echo
kubectl get events -n "$NS" --field-selector "involvedObject.kind=RaftCluster,involvedObject.name=$CLUSTER" --sort-by=.metadata.creationTimestamp 2>/dev/null | tail -n 20 || true

if [ "${DEMO_EXIT:-}" = 1 ]; then
	exit 0
fi

ip=$(kubectl get pod "$CLUSTER-0" -n "$NS" -o jsonpath='{.status.podIP}')
cat <<EOF

The cluster keeps running until Ctrl-C. In another shell:

  export KUBECONFIG=$KUBECONFIG
  $BIN/kubectl get raft                       # the RaftClusters
  $BIN/kubectl scale raft/$CLUSTER --replicas=5
  $BIN/kubectl describe raft $CLUSTER         # conditions and events
  $BIN/kubectl logs -n raftkube-system deploy/raftkube
  $BIN/kubectl exec $CLUSTER-0 -- raftctl member list    # in a member's pod, as the member (real node)
  $BIN/raftctl --endpoints $ip:2379 $(raftctl_tls) put greeting hello
  $BIN/raftctl --endpoints $ip:2379 $(raftctl_tls) get greeting
  $BIN/kubectl annotate raft/$CLUSTER raftkube.io/rotate-ca=now   # a new CA, no downtime
  $BIN/kubectl get raft $CLUSTER -o jsonpath='{.status.tls}'      # the Secrets, the rotation's step

  The application certificate above is Secret $CLUSTER-client-tls; raftctl
  without one is refused (Unauthenticated), with it the Admin API is too
  (PermissionDenied: that needs Secret $CLUSTER-admin-tls).

EOF
stopping_is_done=1
while :; do sleep 3600; done
