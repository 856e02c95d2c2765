package rafttest_test

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkube/raftkube/raftnode/raft/rafttest"
)

// TestScenarios runs the scripts in testdata, testdata/example.txt among
// them, as a user of the package runs theirs. Regenerate their expected
// output with go test -run TestScenarios -rewrite.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := rafttest.NewInteractionEnv()
		datadriven.RunTest(t, path, env.Handle)
	})
}

// Run drives the environment from a program, one script line at a time:
// three members elect 1, commit a write, and 3 applies it.
func ExampleInteractionEnv_Run() {
	env := rafttest.NewInteractionEnv()
	for _, line := range []string{
		"log-level none",
		"add-nodes 3 voters=(1 2 3)",
		"campaign 1",
		"stabilize",
		"propose 1 x",
		"stabilize",
	} {
		if _, err := env.Run(line, ""); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, line := range []string{"state-machine 3", "raft-state"} {
		out, err := env.Run(line, "")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(out)
	}
	// Output:
	// 3: applied=3 data=[x]
	// 1: StateLeader (Voter) Term:1 Lead:1 Commit:3 voters=(1 2 3)
	// 2: StateFollower (Voter) Term:1 Lead:1 Commit:3 voters=(1 2 3)
	// 3: StateFollower (Voter) Term:1 Lead:1 Commit:3 voters=(1 2 3)
}
