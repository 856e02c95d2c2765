#!/usr/bin/env bash
# make demo: the operator on a local Kubernetes control plane.
#
# Builds what it needs, starts a control plane on loopback (hack/localkube:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and the local
# kubelet (hack/localkubelet: it runs each pod as a process; the images
# raftkube/raftnode:dev and raftkube/manager map to bin/raftnode and
# bin/manager), installs the operator's Helm chart, applies the sample
# RaftCluster, scales it 3 -> 5 -> 3 printing the cluster and its membership at
# each step, and leaves everything running until Ctrl-C, which tears it down.
#
# Environment:
#   DEMO_STATE=DIR        state and logs (default ${TMPDIR:-/tmp}/raftkube-demo)
#   DEMO_EXIT=1           tear down right after the scaling instead of waiting
#   WAIT_TIMEOUT=300      seconds to wait for each step
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
STATE=${DEMO_STATE:-${TMPDIR:-/tmp}/raftkube-demo}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300}
CLUSTER=demo
NS=default

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
	printf 'demo: error: %s\n' "$*" >&2
	exit 1
}

kubelet_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	step "tearing down"
	if [ -n "$kubelet_pid" ]; then
		# The kubelet stops its pods' processes with it.
		kill -TERM "$kubelet_pid" 2>/dev/null || true
		wait "$kubelet_pid" 2>/dev/null || true
	fi
	"$BIN/localkube" down --state "$STATE/localkube" >/dev/null 2>&1 || true
	rm -rf "$STATE"
	exit "$rc"
}

step "building raftnode, manager, raftctl, localkube, localkubelet"
(cd "$ROOT" && go build -o "$BIN/raftnode" ./cmd/node && go build -o "$BIN/manager" ./cmd/manager && go build -o "$BIN/raftctl" ./cmd/raftctl)
(cd "$ROOT/hack/localkube" && go build -o "$BIN/localkube" ./cmd/localkube)
(cd "$ROOT/hack/localkubelet" && go build -o "$BIN/localkubelet" ./cmd/localkubelet)

[ -e "$STATE" ] && die "$STATE exists: another demo runs, or a crashed one left it (make localkube-down LOCALKUBE_STATE=$STATE/localkube; rm -rf $STATE)"
mkdir -p "$STATE"
trap cleanup EXIT
trap 'exit 130' INT TERM

step "starting the control plane"
"$BIN/localkube" up --detach --bin "$BIN" --state "$STATE/localkube"
export KUBECONFIG=$STATE/localkube/kubeconfig
export HELM_CACHE_HOME=$STATE/helm/cache HELM_CONFIG_HOME=$STATE/helm/config HELM_DATA_HOME=$STATE/helm/data
kubectl() { "$BIN/kubectl" "$@"; }
helm() { "$BIN/helm" "$@"; }

step "starting the local kubelet (log: $STATE/kubelet.log)"
"$BIN/localkubelet" --kubeconfig "$KUBECONFIG" --node-name local-node --listen 127.0.0.1:10250 \
	--state-dir "$STATE/kubelet" \
	--image "raftkube/raftnode:dev=$BIN/raftnode" --image "raftkube/manager=$BIN/manager" --image "busybox=@command" \
	>"$STATE/kubelet.log" 2>&1 &
kubelet_pid=$!
deadline=$((SECONDS + 60))
until kubectl get node local-node >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || die "the kubelet did not register its node; see $STATE/kubelet.log"
	sleep 0.5
done
kubectl wait --for=condition=Ready node/local-node --timeout=60s >/dev/null || die "the node did not become Ready; see $STATE/kubelet.log"

step "helm install raftkube charts/raftkube"
helm install raftkube "$ROOT/charts/raftkube" --namespace raftkube-system --create-namespace \
	--set image.repository=raftkube/manager --set image.tag=dev --wait --timeout 3m

show() {
	kubectl get raft "$CLUSTER" -n "$NS"
	echo
	kubectl get raft "$CLUSTER" -n "$NS" -o jsonpath='{range .status.members[*]}{.name}{"\t"}{.id}{"\t"}{.role}{"\tready="}{.ready}{"\tmatch="}{.matchIndex}{"\n"}{end}' |
		column -t -N POD,MEMBER-ID,ROLE,READY,MATCH 2>/dev/null || true
	local ip
	ip=$(kubectl get pod "$CLUSTER-0" -n "$NS" -o jsonpath='{.status.podIP}')
	echo
	echo "raftctl --endpoints $ip:2379 member list"
	"$BIN/raftctl" --endpoints "$ip:2379" member list || true
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
  $BIN/raftctl --endpoints $ip:2379 put greeting hello
  $BIN/raftctl --endpoints $ip:2379 get greeting
  $BIN/raftctl --endpoints $ip:2379 member list

EOF
while :; do sleep 3600; done
