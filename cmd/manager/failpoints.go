//go:build failpoints

package main

import (
	"os"
	"slices"

	"github.com/go-logr/logr"
)

// failpointsBuilt: this manager was built with -tags failpoints, for tests
// of a manager that dies mid-change. Release images are built without it.
const failpointsBuilt = true

// failpointExit is the exit code of a manager stopped by a failpoint.
const failpointExit = 42

// failpointHook returns the reconciler's Failpoint hook: it exits the
// process with failpointExit at each named step (see
// controllers.RaftClusterReconciler.Failpoint). Nil when none is named.
func failpointHook(names []string, logger logr.Logger) (func(string), error) {
	if len(names) == 0 {
		return nil, nil
	}
	logger.Info("failpoints armed: this manager exits at them", "failpoints", names)
	return func(name string) {
		if slices.Contains(names, name) {
			logger.Info("failpoint reached: exiting", "failpoint", name)
			os.Exit(failpointExit)
		}
	}, nil
}
