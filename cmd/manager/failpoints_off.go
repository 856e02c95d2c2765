//go:build !failpoints

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
)

// errFailpointsNotBuilt: failpoints were set for a manager built without
// them.
var errFailpointsNotBuilt = errors.New("failpoints are set, but this manager was built without them (go build -tags failpoints; the release images never have them)")

// failpointsBuilt: a release build, whose manager cannot crash on purpose.
const failpointsBuilt = false

// failpointHook refuses any failpoint: a release build has none, and one
// that ignored the setting would let a test believe it crashed the manager.
func failpointHook(names []string, _ logr.Logger) (func(string), error) {
	if len(names) == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("%s=%s: %w", failpointsEnv, strings.Join(names, ","), errFailpointsNotBuilt)
}
