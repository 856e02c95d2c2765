package raft

import (
	"path/filepath"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scenario scripts in testdata/*.txt. Each script is a
// story told in commands (add-nodes, campaign, propose, stabilize, ...) with the
// output each command must produce: the Readies the members handle, the messages
// they exchange, their logs and their state. See interaction_env_test.go for
// the environment and interaction_handlers_test.go for the commands.
//
// After a change that alters the output on purpose, regenerate the expected
// output with
//
//	go test ./raftnode/raft/ -run TestInteraction -rewrite
//
// and read the diff: every changed line is a change of protocol behaviour.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Ext(path) != ".txt" {
			return
		}
		env := newInteractionEnv()
		datadriven.RunTest(t, path, env.handle)
	})
}
