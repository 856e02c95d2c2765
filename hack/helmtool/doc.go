// Package helmtool pins helm (the tool directive in go.mod), which
// hack/build-k8s-tools.sh builds into bin/helm. It is a module of its own, apart
// from hack/k8stools, because helm's k8s.io/* versions need not match the
// Kubernetes release pinned there. This package is empty: it gives `go vet ./...`
// something to check.
package helmtool
