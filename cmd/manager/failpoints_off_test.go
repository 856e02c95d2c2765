//go:build !failpoints

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// TestReleaseBuildRefusesFailpoints: a manager built without the failpoints
// tag given failpoints exits at once with an error that says so, rather
// than run without them while a test believes they are armed.
func TestReleaseBuildRefusesFailpoints(t *testing.T) {
	if hook, err := failpointHook(nil, logr.Discard()); hook != nil || err != nil {
		t.Errorf("no failpoints: hook %v, error %v; want neither", hook != nil, err)
	}
	hook, err := failpointHook([]string{"after-AddLearner"}, logr.Discard())
	if hook != nil || !errors.Is(err, errFailpointsNotBuilt) {
		t.Errorf("failpoint after-AddLearner: hook %v, error %v; want errFailpointsNotBuilt", hook != nil, err)
	}
	// The whole manager: refused before it looks for a cluster (there is
	// none here, so getting further would fail another way).
	code, out := runManager(t, []string{failpointsEnv + "=after-AddLearner", "KUBECONFIG=/nonexistent"}, "--log-format=text")
	if code != 1 || !strings.Contains(out, "built without them") || !strings.Contains(out, "after-AddLearner") {
		t.Errorf("manager with %s set: exit %d, output %q; want exit 1 naming the failpoint and the missing tag", failpointsEnv, code, out)
	}
	if code, out := runManager(t, nil, "--version"); code != 0 || strings.Contains(out, "failpoints") {
		t.Errorf("--version: exit %d, %q; want 0 and no mention of failpoints", code, out)
	}
}
