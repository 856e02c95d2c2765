// Module localkube brings a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) up and down on loopback, for the
// operator's tests and for `make` targets. It is a module of its own and uses
// only the standard library, so the product's go.mod never carries it.
module github.com/raftkube/raftkube/hack/localkube

go 1.26.0

require go.uber.org/goleak v1.3.0
