package controlplane

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a process
// waiter or an HTTP transport that Stop or Start did not finish.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
