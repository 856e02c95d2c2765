package rafttest_test

import (
	"errors"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft/rafttest"
)

// A command that cannot run is an error of its own kind, and leaves the
// environment usable.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup []string
		line  string
		input string
		want  error
	}{
		{name: "unknown command", line: "elect 1", want: rafttest.ErrUnknownCommand},
		{name: "unparsable line", line: "add-nodes 1 voters=(1", want: rafttest.ErrBadArgument},
		{name: "id not a number", line: "campaign one", want: rafttest.ErrBadArgument},
		{name: "no members yet", line: "campaign 1", want: rafttest.ErrNoMember},
		{name: "id past the members", setup: []string{"add-nodes 1 voters=(1)"}, line: "status 2", want: rafttest.ErrNoMember},
		{name: "bad bool", line: "add-nodes 1 voters=(1) prevote=maybe", want: rafttest.ErrBadArgument},
		{name: "bad read-only", line: "add-nodes 1 voters=(1) read-only=stale", want: rafttest.ErrBadArgument},
		{name: "configuration without snapshot", line: "add-nodes 1 voters=(1) index=0", want: rafttest.ErrBadArgument},
		{name: "unknown transition", setup: []string{"add-nodes 1 voters=(1)"}, line: "propose-conf-change 1 transition=sideways", input: "v2", want: rafttest.ErrBadArgument},
		{name: "v1 with two changes", setup: []string{"add-nodes 1 voters=(1)"}, line: "propose-conf-change 1 v1=true", input: "v2 v3", want: rafttest.ErrBadArgument},
		{name: "transfer without to", setup: []string{"add-nodes 1 voters=(1)"}, line: "transfer-leadership from=1", want: rafttest.ErrBadArgument},
		{name: "compact past applied", setup: []string{"add-nodes 1 voters=(1)"}, line: "compact 1 5", want: rafttest.ErrBadArgument},
		{name: "propose without data", setup: []string{"add-nodes 1 voters=(1)"}, line: "propose 1", want: rafttest.ErrBadArgument},
		{name: "unknown log level", line: "log-level loud", want: rafttest.ErrBadArgument},
		{name: "crashed member", setup: []string{"add-nodes 1 voters=(1)", "crash 1"}, line: "campaign 1", want: rafttest.ErrMemberDown},
		{name: "stabilize a crashed member", setup: []string{"add-nodes 2 voters=(1 2)", "crash 2"}, line: "stabilize 1 2", want: rafttest.ErrMemberDown},
		{name: "restart a running member", setup: []string{"add-nodes 1 voters=(1)"}, line: "restart 1", want: rafttest.ErrBadArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := rafttest.NewInteractionEnv()
			for _, line := range append([]string{"log-level none"}, tt.setup...) {
				if _, err := env.Run(line, ""); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
			}
			out, err := env.Run(tt.line, tt.input)
			if !errors.Is(err, tt.want) {
				t.Fatalf("%s: got %q, %v; want an error wrapping %v", tt.line, out, err, tt.want)
			}
			if _, err := env.Run("raft-state", ""); err != nil {
				t.Fatalf("raft-state after the failed command: %v", err)
			}
		})
	}
}

// Readies a member never handled are what a crash loses: a restarted
// member's storage, and so its log, holds only what it persisted.
func TestCrashLosesUnhandledReady(t *testing.T) {
	env := rafttest.NewInteractionEnv()
	run := func(line string) string {
		t.Helper()
		out, err := env.Run(line, "")
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return out
	}
	run("log-level none")
	run("add-nodes 1 voters=(1)")
	run("campaign 1")
	run("stabilize")
	run("propose 1 kept")
	run("stabilize")
	run("propose 1 lost")
	run("crash 1")
	if got, want := run("raft-state"), "1: down\n"; got != want {
		t.Fatalf("raft-state of a crashed member = %q, want %q", got, want)
	}
	run("restart 1")
	run("stabilize")
	if got, want := run("state-machine 1"), "1: applied=3 data=[kept]\n"; got != want {
		t.Fatalf("after restart: state-machine = %q, want %q", got, want)
	}
}
