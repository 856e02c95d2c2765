package server

import (
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// snapshotsSaved is how many snapshots the member wrote.
func (m *member) snapshotsSaved() uint64 {
	m.t.Helper()
	var out dto.Metric
	if err := m.srv.metrics.snapshotSave.Write(&out); err != nil {
		m.t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount()
}

// Large values fill memory long before many entries have been applied: the
// in-memory log holds every entry until the next snapshot. A member
// snapshots once the entries applied since the last one hold SnapshotBytes,
// however few they are.
func TestSnapshotAfterBytes(t *testing.T) {
	m := startMember(t, t.TempDir(), true, func(c *Config) {
		c.SnapshotEntries = 1 << 30 // never by count
		c.SnapshotBytes = 256 << 10
	})
	m.waitLeader()
	value := strings.Repeat("v", 64<<10)
	for i := range 3 { // 192 KiB: under the threshold
		m.put(fmt.Sprintf("k%d", i), value)
	}
	if n := m.snapshotsSaved(); n != 0 {
		t.Fatalf("%d snapshots after 192 KiB of 256, want none", n)
	}
	for i := 3; i < 5; i++ { // 320 KiB
		m.put(fmt.Sprintf("k%d", i), value)
	}
	// The snapshot is written off the loop and finished on it.
	waitFor(t, "a snapshot after 320 KiB were applied with SnapshotBytes 256 KiB",
		func() bool { return m.snapshotsSaved() > 0 }, m.srv)
}
