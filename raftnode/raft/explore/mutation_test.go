package explore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestMutantsAreCaught builds the core with each mutation tag in a
// subprocess and runs the tagged test that searches a scenario where the
// mutant breaks an invariant; that test passes only when Search reports an
// invariant violation (see mutant_test.go). A compile error or a panic fails
// it, and so this test.
func TestMutantsAreCaught(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the mutation check runs go test: %v", err)
	}
	for _, m := range []struct{ tag, test string }{
		{"raftmutation_nojoint", "TestMutantNoJointIsCaught"},
		{"raftmutation_concurrentconf", "TestMutantConcurrentConfIsCaught"},
	} {
		t.Run(m.tag, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), goBin, "test", "-tags", m.tag, "-run", "^"+m.test+"$", "-json", ".")
			out, runErr := cmd.CombinedOutput()
			passed, output := testOutcome(out, m.test)
			if runErr != nil || !passed {
				t.Fatalf("go test -tags %s -run %s: %v, passed=%v:\n%s", m.tag, m.test, runErr, passed, out)
			}
			t.Logf("the %s mutant is caught:\n%s", m.tag, output)
		})
	}
}

// testEvent is the part of a go test -json event this test reads.
type testEvent struct {
	Action string
	Test   string
	Output string
}

// testOutcome reports whether test passed in the go test -json output out,
// and what it printed. Lines that are not JSON (build output) are skipped.
func testOutcome(out []byte, test string) (passed bool, output string) {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev testEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test != test {
			continue
		}
		switch ev.Action {
		case "pass":
			passed = true
		case "output":
			b.WriteString(ev.Output)
		}
	}
	return passed, b.String()
}
