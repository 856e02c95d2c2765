// Package cniplugins pins the CNI reference plugins (bridge, host-local,
// loopback, portmap) that the project's real Kubernetes node uses for pod
// networking; hack/build-k8s-tools.sh builds them, static, into bin/cni/.
//
// It is a module of its own so that the plugins' dependency graph (netlink,
// iptables and nftables bindings, the Windows HCS shim, ginkgo) never reaches
// the product's go.mod, and so that the plugins move to a new release with one
// go.mod change, independent of the Kubernetes release in hack/k8stools.
//
// The plugins are main packages, so they are named only in tools.go, behind
// the tools build tag: `go mod tidy` sees them there and keeps go.mod and go.sum
// complete, while ordinary builds and `go vet ./...` see only this package.
package cniplugins
