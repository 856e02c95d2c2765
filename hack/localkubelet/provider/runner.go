package provider

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// ProcessSpec is what a container becomes on this machine: one program run
// with its argv, environment and working directory, its output going to a log.
type ProcessSpec struct {
	// Path is the program to run.
	Path string
	// Args are argv[1:].
	Args []string
	// Env is the complete environment (nothing is inherited from the kubelet).
	Env []string
	// Dir is the working directory.
	Dir string
	// Log receives stdout and stderr.
	Log *os.File
	// Mounts are bind mounts made in a mount namespace of the process's
	// own (the pod's /etc/hosts, its volumes); none means no namespace.
	Mounts []Mount
	// Hostname, with Mounts, is set in a UTS namespace of the process's own,
	// so the program's os.Hostname() is its pod's, as in a real pod.
	Hostname string
	// GID, when not 0, is the group id the process runs with (its user
	// stays the kubelet's): PodNetwork labels the pod's sockets with it.
	GID uint32
}

// mountScript is the shell run inside the new mount and UTS namespaces: it
// sets the hostname, makes each bind mount (ExecRunner has created the directory mount points), then
// execs the program, which sh receives as "$@". unshare has already made the
// namespace's mounts private, so nothing propagates back to the host.
func mountScript(hostname string, mounts []Mount) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	if hostname != "" {
		fmt.Fprintf(&b, "printf '%%s' %s > /proc/sys/kernel/hostname\n", shellQuote(hostname))
	}
	for _, m := range mounts {
		fmt.Fprintf(&b, "mount --bind -- %s %s\n", shellQuote(m.Source), shellQuote(m.Target))
		if m.ReadOnly {
			fmt.Fprintf(&b, "mount -o remount,bind,ro -- %s\n", shellQuote(m.Target))
		}
	}
	b.WriteString(`exec "$@"`)
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code; a process killed by a signal reports 128+signal,
	// as container runtimes do.
	Code int32
	// Signal is the signal that killed the process, if one did.
	Signal syscall.Signal
}

// Process is a started container process.
type Process interface {
	// Pid is the process id (and process group id).
	Pid() int
	// Signal sends sig to the process and everything it started.
	Signal(sig syscall.Signal) error
	// Wait blocks until the process has exited. It is called once.
	Wait() ExitStatus
}

// Runner starts container processes. The provider's tests can substitute
// one; the kubelet uses ExecRunner.
type Runner interface {
	Start(spec ProcessSpec) (Process, error)
}

// ExecRunner runs each container as a host process in its own process group,
// so that signals reach the programs it forks too. Its zero value is ready.
type ExecRunner struct {
	mountPoints mountPoints
}

// Start implements Runner.
func (r *ExecRunner) Start(spec ProcessSpec) (Process, error) {
	var held []string
	if len(spec.Mounts) > 0 {
		var targets []string
		for _, m := range spec.Mounts {
			if fi, err := os.Stat(m.Source); err == nil && fi.IsDir() {
				targets = append(targets, m.Target)
			}
		}
		var err error
		if held, err = r.mountPoints.acquire(targets); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	if len(spec.Mounts) > 0 {
		args := append([]string{"--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", mountScript(spec.Hostname, spec.Mounts), "sh", spec.Path}, spec.Args...)
		cmd = exec.Command("unshare", args...)
	}
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout = spec.Log
	cmd.Stderr = spec.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// A kubelet that dies takes its pods with it, as a node crash would,
		// instead of leaving orphans bound to pod addresses.
		Pdeathsig: syscall.SIGKILL,
	}
	if spec.GID != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: spec.GID, NoSetGroups: true}
	}
	if err := cmd.Start(); err != nil {
		r.mountPoints.release(held)
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	return &execProcess{cmd: cmd, release: func() { r.mountPoints.release(held) }}, nil
}

// Shutdown removes the mount points the runner created: the kubelet is
// stopping, and the processes that used them die with it.
func (r *ExecRunner) Shutdown() { r.mountPoints.releaseAll() }

type execProcess struct {
	cmd *exec.Cmd
	// release gives up the process's mount points once it has exited.
	release func()
}

func (p *execProcess) Pid() int { return p.cmd.Process.Pid }

func (p *execProcess) Signal(sig syscall.Signal) error {
	// The negative pid addresses the whole process group.
	err := syscall.Kill(-p.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func (p *execProcess) Wait() ExitStatus {
	err := p.cmd.Wait()
	p.release()
	if err == nil {
		return ExitStatus{}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ExitStatus{Code: 128 + int32(ws.Signal()), Signal: ws.Signal()}
		}
		return ExitStatus{Code: int32(ee.ExitCode())}
	}
	return ExitStatus{Code: 128}
}
