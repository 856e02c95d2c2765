package main

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestWaitStopsOnStopSignals(t *testing.T) {
	for _, stop := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		sigs := make(chan os.Signal, 3)
		sigs <- syscall.SIGCHLD
		sigs <- stop
		sigs <- syscall.SIGCHLD
		if code := wait(sigs); code != 0 {
			t.Errorf("%v: exit code %d, want 0", stop, code)
		}
		if len(sigs) != 1 {
			t.Errorf("%v: wait went on after the stop signal", stop)
		}
	}
}

// TestReapCollectsZombies starts a child that exits at once without waiting
// for it, as an orphan re-parented to pause would, and wants reap to collect it.
func TestReapCollectsZombies(t *testing.T) {
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if err != nil {
		t.Skipf("no /bin/true to start: %v", err)
	}
	// Until reaped, the child is a zombie: kill(pid, 0) still finds it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		reap()
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d not reaped: kill(0) = %v", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
