package backupstore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPrune runs the retention policy over backups with made-up times: a
// fake clock, no waiting.
func TestPrune(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// Five backups a day apart, the newest an hour old, plus objects that
	// are no backups or lie outside the prefix.
	backups := []string{"c/20260426.snap", "c/20260427.snap", "c/20260428.snap", "c/20260429.snap", "c/20260430.snap"}
	others := []string{"c/notes.txt", "d/20260101.snap"}
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name    string
		keep    int
		maxAge  time.Duration
		protect string
		want    []string // deleted
	}{
		{name: "no limits", want: nil},
		{name: "keep 2", keep: 2, want: []string{"c/20260428.snap", "c/20260427.snap", "c/20260426.snap"}},
		{name: "keep more than there are", keep: 9, want: nil},
		{name: "max age 2.5 days", maxAge: 60 * time.Hour, want: []string{"c/20260427.snap", "c/20260426.snap"}},
		{name: "keep 4 and max age 2.5 days", keep: 4, maxAge: 60 * time.Hour, want: []string{"c/20260427.snap", "c/20260426.snap"}},
		{name: "keep 2 and max age 10 days", keep: 2, maxAge: 10 * day, want: []string{"c/20260428.snap", "c/20260427.snap", "c/20260426.snap"}},
		{name: "everything too old keeps the newest", maxAge: time.Minute, want: []string{"c/20260429.snap", "c/20260428.snap", "c/20260427.snap", "c/20260426.snap"}},
		{name: "keep 1 protects what was just written", keep: 1, protect: "c/20260428.snap", want: []string{"c/20260429.snap", "c/20260427.snap", "c/20260426.snap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			d := NewDir(root, "v")
			for i, k := range backups {
				put(t, d, k, k)
				age := time.Duration(len(backups)-1-i)*day + time.Hour
				mtime := now.Add(-age)
				if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(k)), mtime, mtime); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range others {
				put(t, d, k, k)
			}
			deleted, err := Prune(t.Context(), d, "c/", tc.keep, tc.maxAge, now, tc.protect)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(deleted, tc.want) {
				t.Errorf("deleted %q, want %q", deleted, tc.want)
			}
			objs, err := d.List(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, k := range append(append([]string(nil), backups...), others...) {
				if !slices.Contains(tc.want, k) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			if got := keys(objs); !slices.Equal(got, want) {
				t.Errorf("left %q, want %q", got, want)
			}
		})
	}
}

func TestPruneReportsStorageErrors(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "gone"), "v")
	if _, err := Prune(t.Context(), d, "", 1, 0, time.Now(), ""); Reason(err) != ReasonStorageNotFound {
		t.Errorf("prune of a missing root: %v (reason %q)", err, Reason(err))
	}
}
