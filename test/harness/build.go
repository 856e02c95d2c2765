package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Binaries are the paths of the programs a cluster test runs.
type Binaries struct {
	// Node is the raftnode binary (./cmd/node).
	Node string
	// Ctl is the raftctl binary (./cmd/raftctl).
	Ctl string
}

// Build compiles raftnode and raftctl into dir with the go command found in
// PATH. The working directory must be inside the module, as it is for a test.
func Build(ctx context.Context, dir string) (Binaries, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("build binaries: %w", err)
	}
	b := Binaries{Node: filepath.Join(dir, "raftnode"), Ctl: filepath.Join(dir, "raftctl")}
	for _, p := range []struct{ out, pkg string }{
		{b.Node, "github.com/raftkube/raftkube/cmd/node"},
		{b.Ctl, "github.com/raftkube/raftkube/cmd/raftctl"},
	} {
		cmd := exec.CommandContext(ctx, goCmd, "build", "-o", p.out, p.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", p.pkg, err, out)
		}
	}
	return b, nil
}

// Main is a whole TestMain: it builds the binaries into a temporary directory
// and stores their paths in *bins, runs the tests, then (when they passed)
// checks that no goroutine of the test process leaked, ignoring what opts
// say, removes the directory and exits.
func Main(m *testing.M, bins *Binaries, opts ...goleak.Option) {
	os.Exit(runMain(m, bins, opts))
}

func runMain(m *testing.M, bins *Binaries, opts []goleak.Option) int {
	dir, err := os.MkdirTemp("", "raftkube-harness-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b, err := Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	*bins = b
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "harness: goroutines leaked:", err)
			return 1
		}
	}
	return code
}
