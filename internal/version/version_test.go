package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestCommit(t *testing.T) {
	withSettings := func(kv ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{}
			for i := 0; i+1 < len(kv); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, stamped string
		read          func() (*debug.BuildInfo, bool)
		want          string
	}{
		{"stamped wins", "abc123", withSettings("vcs.revision", "def456"), "abc123"},
		{"vcs revision", "", withSettings("vcs.revision", "def456", "vcs.modified", "false"), "def456"},
		{"dirty tree", "", withSettings("vcs.revision", "def456", "vcs.modified", "true"), "def456-dirty"},
		{"no vcs info", "", withSettings("-trimpath", "true"), ""},
		{"no build info", "", none, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := commit(tc.stamped, tc.read); got != tc.want {
				t.Errorf("commit(%q) = %q, want %q", tc.stamped, got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	got := Info{Version: "0.1.0", Commit: "abc", GoVersion: "go1.26.8", Platform: "linux/arm64"}.String()
	if want := "0.1.0 (commit abc, go1.26.8, linux/arm64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (Info{Version: "dev"}).String(); !strings.Contains(got, "commit unknown") {
		t.Errorf("String() of an unknown commit = %q, want it to say so", got)
	}
}
