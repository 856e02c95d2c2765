package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one running component.
type process struct {
	name    string // "etcd", "kube-apiserver", ...
	logPath string
	cmd     *exec.Cmd
	// startTime is field 22 of /proc/PID/stat: with the pid it names this
	// process even after the pid is reused.
	startTime uint64
	// done is closed once the process has exited and been reaped; err is then its exit status.
	done chan struct{}
	err  error
}

// startProcess runs bin with args as the leader of a new process group (so a
// terminal's Ctrl-C reaches only us, and we stop components in order), its
// output appended to logPath. Unless detached, the kernel SIGKILLs it when the
// OS thread that started it dies, so a crashed or killed test leaves nothing
// behind. (Go ends an OS thread only when a goroutine locked to it exits
// without unlocking, which this module never does.)
func startProcess(name, bin string, args []string, logPath string, detached bool) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	// Read before the process can exit and be reaped: a zero start time only
	// means StopDetached cannot tell this pid from a reused one.
	p.startTime, _ = procStartTime(cmd.Process.Pid)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process's id, which is also its process group's.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports, without blocking, whether the process is gone, and how it ended.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, SIGKILL after grace or once ctx is
// done, and returns when the process has been reaped.
func (p *process) stop(ctx context.Context, grace time.Duration) {
	if gone, _ := p.exited(); gone {
		return
	}
	// Until it is reaped below, the pid (and so the group id) cannot be reused.
	killGroup(p.pid(), syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	killGroup(p.pid(), syscall.SIGKILL)
	<-p.done
}

// exitError describes how a process ended; err is exec.Cmd.Wait's.
func exitError(err error) error {
	if err == nil {
		return errors.New("exited with status 0")
	}
	return fmt.Errorf("exited: %w", err)
}

func killGroup(pgid int, sig syscall.Signal) { _ = syscall.Kill(-pgid, sig) }

// tailLog returns up to the last n lines of the process's log.
func (p *process) tailLog(n int) string { return tailFile(p.logPath, n) }

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const maxTail = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		_, _ = f.Seek(st.Size()-maxTail, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procStartTime reads a process's start time (clock ticks since boot) from /proc/PID/stat.
func procStartTime(pid int) (uint64, error) {
	start, _, err := procStat(pid)
	return start, err
}

// procStat returns field 22 (starttime) and field 3 (state) of /proc/PID/stat.
func procStat(pid int) (startTime uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is parenthesized and may hold spaces: split after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state), so field k is fields[k-3].
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return startTime, fields[0][0], nil
}

// alive reports whether pid still names the process that started at startTime
// (0: any process with that pid) and has not exited. A zombie counts as gone:
// a detached component is reaped by whoever adopted it, not by us.
func alive(pid int, startTime uint64) bool {
	st, state, err := procStat(pid)
	if err != nil { // gone, or not ours to see
		return false
	}
	if startTime != 0 && st != startTime {
		return false
	}
	return state != 'Z' && state != 'X'
}

// stopPID is stop for a process that is not our child (one left by `up --detach`):
// it cannot be waited for, so it is polled through /proc.
func stopPID(ctx context.Context, name string, pid int, startTime uint64, grace time.Duration) error {
	if !alive(pid, startTime) {
		return nil
	}
	killGroup(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid, startTime) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !alive(pid, startTime) {
		return nil
	}
	killGroup(pid, syscall.SIGKILL)
	for i := 0; i < 100 && alive(pid, startTime); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid, startTime) {
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", name, pid)
	}
	return nil
}
