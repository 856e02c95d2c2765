// The Raft library and its codec, a module of its own so that a program
// importing it gets its few dependencies, not the operator's (Kubernetes,
// controller-runtime). Versioned with the repository: tags
// raftnode/raft/vX.Y.Z. See docs/library.md.
module github.com/raftkube/raftkube/raftnode/raft

go 1.26.0

require (
	github.com/cockroachdb/datadriven v1.0.3
	google.golang.org/protobuf v1.36.12
)

require github.com/pmezard/go-difflib v1.0.0 // indirect
