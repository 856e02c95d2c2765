package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The store is an example of the raft library used alone, and must be able
// to move into the library's own module: it may import the standard
// library, its own packages and what the library itself imports (raftnode/raft
// and its subpackages, raftnode/raft/raftpb, and their dependencies), nothing
// else: not the node (raftnode/server, wal, transport, kv, client), gRPC or
// Kubernetes.
func TestImportsOnlyTheLibrary(t *testing.T) {
	const module = "github.com/raftkube/raftkube/"
	library := map[string]bool{}
	// The library is a module of its own, resolved through the root
	// module's replace: name its packages by import path.
	for _, p := range goListDeps(t, module+"raftnode/raft", module+"raftnode/raft/raftpb") {
		library[p] = true
	}
	for _, p := range []string{module + "raftnode/raft", module + "raftnode/raft/raftpb"} {
		if !library[p] {
			t.Fatalf("go list does not report %s among the library's packages: %v", p, library)
		}
	}
	forbidden := []string{
		module + "raftnode/server", module + "raftnode/wal", module + "raftnode/transport",
		module + "raftnode/kv", module + "raftnode/client",
		"google.golang.org/grpc", "k8s.io/", "sigs.k8s.io/",
	}
	deps := goListDeps(t, "./...")
	for _, p := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(p, f) {
				t.Errorf("kvstore depends on %s", p)
			}
		}
		if !library[p] && !strings.HasPrefix(p, module+"examples/kvstore") {
			t.Errorf("kvstore depends on %s, which is neither its own nor the raft library's", p)
		}
	}
	if len(deps) == 0 {
		t.Fatal("go list reported no dependencies")
	}
}

// goListDeps returns the non-standard packages that patterns' packages
// (not their tests) are built from, themselves included.
func goListDeps(t *testing.T, patterns ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}
