// Package clientcompat holds one test: a program that links raftkube's Go
// client beside etcd's clientv3 starts and can use both. It is a module of its
// own so that etcd's client never enters raftkube's dependency graph.
//
// Both register their protobuf files in the process-wide registry of
// google.golang.org/protobuf, keyed by the path the file was compiled under;
// two files with one path (etcd's mvccpb is "kv.proto") make the second
// package's init panic. raftkube's files therefore live under versioned paths
// (proto/raftkube/<name>/v1/<name>.proto at the repository root).
package clientcompat
