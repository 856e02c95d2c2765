// Package etcdbench runs the consensus-core benchmarks of raftnode/raft against
// etcd's raft (go.etcd.io/raft/v3), so that both can be compared side by side with
// benchstat (see hack/bench.sh).
//
// It is a module of its own so that the main module never depends on etcd raft.
// go.mod pins v3.6.0; go.v370.mod pins v3.7.0, whose raftpb types are
// protobuf-go generated structs with pointer fields. The few lines that differ
// between the two APIs live in compat_v360_test.go and compat_v370_test.go,
// selected by the build tag etcd_v370:
//
//	go test -run '^$' -bench . -benchmem                                        # v3.6.0
//	go test -run '^$' -bench . -benchmem -modfile=go.v370.mod -tags etcd_v370  # v3.7.0
//
// The benchmark names and workloads are the same as in raftnode/raft/bench_test.go
// and raftnode/raft/quorum.
package etcdbench
