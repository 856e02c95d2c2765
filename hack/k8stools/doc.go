// Package k8stools pins the Kubernetes control-plane commands (kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl) that hack/build-k8s-tools.sh
// builds into bin/ for the local control plane and envtest.
//
// The commands are main packages, so they are named only in tools.go, behind
// the tools build tag: `go mod tidy` sees them there and keeps go.mod and go.sum
// complete, while ordinary builds and `go vet ./...` see only this package.
//
// k8s.io/kubernetes's own go.mod requires its staging modules (k8s.io/api,
// k8s.io/client-go, ...) at v0.0.0 and replaces them with directories inside
// its repository, which do not exist in the published module. go.mod here
// replaces each of them with the published v0.MINOR.PATCH of the same release;
// TestStagingReplaces checks that the list is complete and consistent.
package k8stools
