// Package version is what a build stamps into raftkube's binaries, so that
// every binary (and every image built from them) can say which release and
// which commit it is. The release build sets both variables with the linker:
//
//	go build -ldflags "-X github.com/raftkube/raftkube/internal/version.Version=0.1.0
//	                   -X github.com/raftkube/raftkube/internal/version.Commit=$(git rev-parse HEAD)"
//
// A plain `go build` leaves Version at "dev" and takes the commit from the
// VCS information Go embeds, when there is any.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release, e.g. "0.1.0"; "dev" for an unstamped build.
var Version = "dev"

// Commit is the full commit hash the binary was built from; empty for an
// unstamped build (Info then falls back to Go's embedded VCS information).
var Commit = ""

// Info is what a binary reports about its build.
type Info struct {
	Version   string
	Commit    string // empty when unknown
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// Get returns the running binary's build information.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    commit(Commit, debug.ReadBuildInfo),
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String is the line `PROGRAM --version` prints.
func (i Info) String() string {
	c := i.Commit
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, c, i.GoVersion, i.Platform)
}

// commit is the stamped commit, or else the vcs.revision Go embedded
// (with "-dirty" when the tree had changes), or else "".
func commit(stamped string, read func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return stamped
	}
	bi, ok := read()
	if !ok {
		return ""
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" && modified {
		rev += "-dirty"
	}
	return rev
}
