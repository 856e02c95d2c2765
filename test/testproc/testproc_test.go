package testproc

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStopEndsARunningProcess(t *testing.T) {
	p, err := Start("sleep", exec.Command("sleep", "60"), filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	// sleep dies of SIGTERM: not the clean exit a server owes.
	var exit *exec.ExitError
	if err := p.Stop(5 * time.Second); !errors.As(err, &exit) {
		t.Errorf("Stop = %v, want the signal's exit reported", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Stop returned before the process exited")
	}
}

func TestStopReportsAnEarlyExitAndLogTailReadsTheEnd(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p, err := Start("sh", exec.Command("sh", "-c", "echo first; echo second; echo last; exit 3"), log)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if p.Err() == nil {
		t.Error("exit status 3 reported as success")
	}
	var exit *exec.ExitError
	if err := p.Stop(time.Second); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Stop after an early exit = %v, want it said", err)
	}
	if got := p.LogTail(12); got != "last" {
		t.Errorf("LogTail(12) = %q, want the last whole line", got)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("Kill of an exited process = %v", err)
	}
}

func TestStartFailsOnAMissingBinary(t *testing.T) {
	if _, err := Start("nothing", exec.Command(filepath.Join(t.TempDir(), "missing")), filepath.Join(t.TempDir(), "log")); err == nil {
		t.Error("Start of a missing binary succeeded")
	}
}
