package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/internal/version"
)

// TestMain is also the manager itself when a test runs this binary again
// with runMainEnv set (see runManager): the process then runs main with
// the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) != "" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"manager"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// runMainEnv makes the test binary run the manager's main (TestMain).
const runMainEnv = "RAFTKUBE_TEST_RUN_MAIN"

// runManager runs this test binary as the manager with args and the extra
// environment env, and returns its exit code and what it wrote.
func runManager(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return runSelf(t, append(env, runMainEnv+"=1"), append([]string{"-test.run=^$", "--"}, args...)...)
}

// runSelf runs this test binary with args and the extra environment env,
// and returns its exit code and what it wrote.
func runSelf(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("run the manager %q: %v\n%s", args, err, out)
	return 0, ""
}

func TestDefaultNodeImageFollowsVersion(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ghcr.io/raftkube/raftnode:" + version.Version; c.nodeImage != want {
		t.Errorf("default --node-image %q, want %q", c.nodeImage, want)
	}
}

func TestParseFlagsVersionAndProbe(t *testing.T) {
	c, err := parseFlags([]string{"--version"})
	if err != nil || !c.showVersion {
		t.Errorf("--version: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"--probe", "http://127.0.0.1:8081/readyz"})
	if err != nil || c.probeURL != "http://127.0.0.1:8081/readyz" {
		t.Errorf("--probe: %+v, %v", c, err)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not ready: cache not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := probe(ctx, srv.URL+"/readyz"); err != nil {
		t.Errorf("probe of a ready endpoint: %v", err)
	}
	for _, tc := range []struct{ url, want string }{
		{srv.URL + "/other", "503"},
		{"ftp://example/readyz", "want an http:// or https:// URL"},
		{"not a url at all", "want an http:// or https:// URL"},
	} {
		err := probe(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("probe(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
	srv.Close()
	if err := probe(ctx, srv.URL+"/readyz"); err == nil {
		t.Error("probe of a closed server succeeded")
	}
}
