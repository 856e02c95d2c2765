// Package testbin builds the small programs the kubelet's tests run as pods.
package testbin

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// HTTPServe builds internal/httpserve into a temporary directory of t and
// returns its path.
func HTTPServe(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "httpserve")
	out := filepath.Join(t.TempDir(), "httpserve")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build httpserve: %v\n%s", err, b)
	}
	return out
}
