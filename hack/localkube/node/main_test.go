package node

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// dialEnv, set to HOST:PORT, makes the test binary a TCP client that exits 0
// once connected, 1 if it cannot within a second: the integration test runs
// it in a pod's network namespace to see whether one pod reaches another.
const dialEnv = "LOCALKUBE_NODE_TEST_DIAL"

// TestMain fails the package if a test leaves a goroutine behind (a process
// waiter, an HTTP transport). Started with HelperEnv=1, the test binary is
// the node's helper instead (Options.HelperBin), as `localkube node lookup`.
func TestMain(m *testing.M) {
	if os.Getenv(HelperEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "node" && os.Args[2] == "lookup" {
		os.Exit(LookupMain(os.Args[3:], os.Stdout, os.Stderr))
	}
	if addr := os.Getenv(dialEnv); addr != "" {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = c.Close()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
