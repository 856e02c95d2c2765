package raft_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbiddenModules are what the library must never pull into a user's
// module graph: the operator's dependencies, and the rest of this
// repository (the root module brings them all).
var forbiddenModules = []string{"k8s.io/", "sigs.k8s.io/", "github.com/raftkube/raftkube@"}

func goTool(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func checkGraph(t *testing.T, graph string) {
	t.Helper()
	for line := range strings.SplitSeq(graph, "\n") {
		for _, bad := range forbiddenModules {
			if strings.Contains(line, bad) {
				t.Errorf("module graph has %q: %s", bad, line)
			}
		}
	}
}

// The library's own module graph holds none of the operator's modules.
func TestModuleGraphIsTheLibrarysOwn(t *testing.T) {
	checkGraph(t, goTool(t, ".", nil, "mod", "graph"))
}

// A program of someone else's that imports the library (here through a
// local replace, as before a release) builds, and its module graph holds
// none of the operator's modules.
func TestAFreshModuleUsesTheLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	lib, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/user\n\ngo 1.26.0\n\n" +
			"require github.com/raftkube/raftkube/raftnode/raft v0.0.0\n\n" +
			"replace github.com/raftkube/raftkube/raftnode/raft => " + lib + "\n",
		"main.go": `package main

import (
	"fmt"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func main() {
	st := raft.NewMemoryStorage()
	if err := st.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{Index: 1, Term: 1,
		ConfState: pb.ConfState{Voters: []uint64{1}}}}); err != nil {
		panic(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
	if err != nil {
		panic(err)
	}
	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	fmt.Println(rn.BasicStatus().RaftState)
}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The module cache has what the library needs (this test's own build
	// used it): no network, and no checksum database to ask.
	offline := []string{"GOPROXY=off", "GOSUMDB=off", "GOFLAGS=-mod=mod", "GOWORK=off"}
	goTool(t, dir, offline, "mod", "tidy")
	if out := goTool(t, dir, offline, "run", "."); strings.TrimSpace(out) != "StateLeader" {
		t.Fatalf("the user's program printed %q, want StateLeader", out)
	}
	checkGraph(t, goTool(t, dir, offline, "mod", "graph"))
}
