package controlplane

import (
	"context"
	"time"
)

// Process is a component process started like the control plane's own (its
// own process group, log file, SIGKILLed with its starter unless detached).
// Package node runs containerd, the kubelet and kube-proxy with it.
type Process struct{ p *process }

// StartProcess starts bin with args, its output appended to logPath; see
// Options.Detached for detached.
func StartProcess(name, bin string, args []string, logPath string, detached bool) (*Process, error) {
	p, err := startProcess(name, bin, args, logPath, detached)
	if err != nil {
		return nil, err
	}
	return &Process{p: p}, nil
}

// Name is the name given to StartProcess.
func (p *Process) Name() string { return p.p.name }

// Record is what a later process needs to stop it (StopRecorded).
func (p *Process) Record() ProcessRecord {
	return ProcessRecord{Name: p.p.name, PID: p.p.pid(), StartTime: p.p.startTime}
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.p.done }

// Err describes how the process ended; call it after Done is closed.
func (p *Process) Err() error {
	_, err := p.p.exited()
	return exitError(err)
}

// Stop sends SIGTERM to the process group, SIGKILL after grace or once ctx is
// done, and returns once the process is reaped.
func (p *Process) Stop(ctx context.Context, grace time.Duration) { p.p.stop(ctx, grace) }

// TailLog returns up to the last n lines of the process's log.
func (p *Process) TailLog(n int) string { return p.p.tailLog(n) }

// StopRecorded stops a process another process started (see StopDetached):
// SIGTERM to its group, SIGKILL after grace; a pid reused since is left alone.
func StopRecorded(ctx context.Context, r ProcessRecord, grace time.Duration) error {
	return stopPID(ctx, r.Name, r.PID, r.StartTime, grace)
}

// Alive reports whether the recorded process still runs.
func Alive(r ProcessRecord) bool { return alive(r.PID, r.StartTime) }
