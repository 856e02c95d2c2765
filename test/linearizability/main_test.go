package linearizability

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/test/harness"
)

// binDir holds the raftnode and raftctl binaries, built on first use so that
// the model's unit tests alone build nothing.
var (
	binDir    string
	buildOnce sync.Once
	bins      harness.Binaries
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftkube-linearizability-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// binaries builds the binaries once per test process.
func binaries(t *testing.T) harness.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		bins, buildErr = harness.Build(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}
