// Package testproc runs a real server a test needs (a cert-manager
// controller, an S3 gateway) as a child process for the length of the test:
// its output in a log file, an exit watched from the start, a stop by
// SIGTERM with a kill after a timeout, and the log's end for failures. On
// Linux the kernel kills it when the test binary dies, so no process
// outlives the test.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	name string
	// LogPath is the file the process writes its output to.
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start starts cmd, named name in errors, with its standard output and
// error appended to the file logPath.
func Start(name string, cmd *exec.Cmd, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the %s log: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, errors.Join(err, log.Close()))
	}
	p := &Process{name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = errors.Join(cmd.Wait(), log.Close())
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process exited; valid once Exited is closed.
func (p *Process) Err() error { return p.waitErr }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits for a clean exit, killing the process after
// timeout. A process that had already exited, or exits with an error, is an
// error: it was to run for the whole test.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited during the test: %w", p.name, p.waitErr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s failed on SIGTERM: %w", p.name, p.waitErr)
		}
		return nil
	case <-timer.C:
		killErr := p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed: %w", p.name, timeout, errors.Join(killErr, p.waitErr))
	}
}

// Kill ends the process (one that never became ready) and waits for it.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// LogTail returns about the last max bytes of the log, from a line start.
func (p *Process) LogTail(max int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.LogPath, err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}
