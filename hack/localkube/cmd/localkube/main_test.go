package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage:"},
		{[]string{"sideways"}, `unknown command "sideways"`},
		{[]string{"up"}, "--bin is required"},
		{[]string{"node"}, "usage: localkube node"},
		{[]string{"node", "sideways"}, `unknown node command "sideways"`},
		{[]string{"node", "kill", "--state", "/nonexistent"}, "NAMESPACE/POD[/CONTAINER]"},
		{[]string{"node", "kill", "--state", "/nonexistent", "justapod"}, "want NAMESPACE/POD[/CONTAINER]"},
		{[]string{"node", "cut", "--state", "/nonexistent", "a"}, "A B"},
		{[]string{"node", "pause", "--state", "/nonexistent", "ns/pod"}, "read node state"},
	} {
		err := run(tc.args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestDownWithoutStateDirIsANoOp(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"down", "--state", filepath.Join(t.TempDir(), "none")}, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !strings.Contains(out.String(), "nothing to stop") {
		t.Errorf("down said %q", out.String())
	}
}

// TestUpDetachThenDown is the `make`-target path: up --detach returns with the
// control plane healthy and recorded; down stops every recorded process.
func TestUpDetachThenDown(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("LOCALKUBE_BIN"); d != "" {
		bin = d
	}
	if _, err := os.Stat(filepath.Join(bin, controlplane.KubeAPIServer)); err != nil {
		t.Fatalf("%s/kube-apiserver is missing: run `make k8s-tools`: %v", bin, err)
	}
	state := filepath.Join(t.TempDir(), "state")
	var out strings.Builder
	if err := run([]string{"up", "--detach", "--bin", bin, "--state", state}, &out); err != nil {
		t.Fatalf("up --detach: %v", err)
	}
	t.Log(out.String())
	s, err := controlplane.ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = run([]string{"down", "--state", state}, &strings.Builder{}) }()
	if len(s.Processes) != 4 {
		t.Fatalf("state records %+v, want 4 processes", s.Processes)
	}
	kubectl := exec.CommandContext(t.Context(), filepath.Join(bin, "kubectl"), "--kubeconfig", s.Kubeconfig, "get", "--raw", "/readyz")
	if got, err := kubectl.Output(); err != nil || strings.TrimSpace(string(got)) != "ok" {
		t.Fatalf("kubectl get --raw /readyz = %q, %v", got, err)
	}

	out.Reset()
	if err := run([]string{"down", "--state", state}, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	for _, p := range s.Processes {
		// Detached, yet children of this test process: up's discarded
		// ControlPlane still reaps them, a moment after down saw them die.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(p.PID, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after down (kill 0: %v)", p.Name, p.PID, err)
		}
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir still there: %v", err)
	}
}
