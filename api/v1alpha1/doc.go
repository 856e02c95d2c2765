// Package v1alpha1 is version v1alpha1 of the raftkube.io API group: the
// RaftCluster custom resource, which the raftkube operator reconciles into a
// StatefulSet of raftnode members and whose replica count it turns into Raft
// membership changes (joint consensus, one change at a time).
//
// The Go types carry the CRD's schema as controller-gen markers: OpenAPI bounds,
// defaults, enums and CEL rules (x-kubernetes-validations). `make gen` writes
// zz_generated.deepcopy.go here and the CRD to config/crd/bases; the doc comment
// of every field is what `kubectl explain raftcluster.spec...` shows, so they
// are written for the engineer who runs the cluster, not for Go readers.
//
// +kubebuilder:object:generate=true
// +groupName=raftkube.io
package v1alpha1
