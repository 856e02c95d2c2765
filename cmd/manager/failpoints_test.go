//go:build failpoints

package main

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// hookEnv makes TestFailpointExits's child process arm the failpoint
// after-AddLearner and reach the step the variable names.
const hookEnv = "RAFTKUBE_TEST_REACH_STEP"

// TestFailpointExits: a manager built with the failpoints tag exits with
// failpointExit at an armed step, in a child process, and passes steps
// that are not armed.
func TestFailpointExits(t *testing.T) {
	if step := os.Getenv(hookEnv); step != "" {
		logger := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))
		hook, err := failpointHook([]string{"after-AddLearner", "before-Promote"}, logger)
		if err != nil || hook == nil {
			t.Fatalf("armed failpoints: hook %v, error %v", hook != nil, err)
		}
		hook(step)
		return // not armed: the step passes
	}
	if hook, err := failpointHook(nil, logr.Discard()); hook != nil || err != nil {
		t.Errorf("no failpoints: hook %v, error %v; want neither", hook != nil, err)
	}
	for _, tc := range []struct {
		step string
		code int
	}{{"after-AddLearner", failpointExit}, {"before-Promote", failpointExit}, {"before-AddLearner", 0}} {
		code, out := runSelf(t, []string{hookEnv + "=" + tc.step}, "-test.run=^TestFailpointExits$")
		if code != tc.code {
			t.Errorf("step %s: exit %d, want %d\n%s", tc.step, code, tc.code, out)
		}
		if tc.code == failpointExit && !strings.Contains(out, "failpoint reached") {
			t.Errorf("step %s: output %q does not say the failpoint was reached", tc.step, out)
		}
	}
	if code, out := runManager(t, nil, "--version"); code != 0 || !strings.Contains(out, "failpoints") {
		t.Errorf("--version: exit %d, %q; want 0 naming the test build", code, out)
	}
}
