// Package cluster tests raftnode clusters of real processes on loopback,
// formed and driven through test/harness: membership changes by joint
// consensus, crashes of the leader, catch-up through snapshots, and the
// statuses answered to bad input.
package cluster

import (
	"testing"

	"github.com/raftkube/raftkube/test/harness"
)

var bins harness.Binaries

func TestMain(m *testing.M) { harness.Main(m, &bins) }
