package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// A container's log file (podState.logPath) holds the output of all its
// instances, one after the other. kubectl logs asks for one instance: the
// current one, or with --previous the last terminated one. So the supervisor
// records where each instance's output starts and ends in the file
// (logInstance), and GetContainerLogs serves only that byte range.

// followPoll is how often a --follow reader looks for new output.
const followPoll = 100 * time.Millisecond

// logInstance is the part of a container's log file one process instance
// wrote. Its fields are guarded by the pod's mu.
type logInstance struct {
	// id is the instance's containerID.
	id string
	// start is the file offset of its first byte; end is where the next
	// instance starts, or -1 while it is the newest.
	start, end int64
}

// logHistory keeps the two newest instances, the only ones kubectl logs can
// name. Guarded by the pod's mu.
type logHistory struct {
	prev, cur *logInstance
}

// logStartLocked records that the instance id writes from offset start on.
// ps.mu is held.
func (cs *containerState) logStartLocked(id string, start int64) {
	cs.logs.prev = cs.logs.cur
	cs.logs.cur = &logInstance{id: id, start: start, end: -1}
}

// endLogInstance closes the newest instance's range at the log's current
// size, before a new process starts writing to it, and returns that size:
// where the next instance starts. A reader following the old instance never
// sees the new one's output.
func (ps *podState) endLogInstance(cs *containerState, log *os.File) int64 {
	var size int64
	if fi, err := log.Stat(); err == nil {
		size = fi.Size()
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if cur := cs.logs.cur; cur != nil && cur.end < 0 {
		cur.end = size
	}
	return size
}

// logInstanceFor picks the instance kubectl logs means, from the container's
// status as the kubelet does (validateContainerLogStatus): with previous the
// last terminated one; otherwise the running one, else the one that
// terminated last.
func (ps *podState) logInstanceFor(cs *containerState, previous bool) (*logInstance, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	name, podName := cs.spec.Name, ps.pod.Name
	state, last := cs.state, cs.lastState
	var id string
	switch {
	case previous:
		if last.Terminated == nil || last.Terminated.ContainerID == "" {
			return nil, errdefs.NotFoundf("previous terminated container %q in pod %q not found", name, podName)
		}
		id = last.Terminated.ContainerID
	case state.Running != nil:
		id = cs.containerID
	case state.Terminated != nil && state.Terminated.ContainerID != "":
		id = state.Terminated.ContainerID
	case last.Terminated != nil && last.Terminated.ContainerID != "":
		// Waiting to restart, or the newest attempt never made a process.
		id = last.Terminated.ContainerID
	case state.Terminated != nil || last.Terminated != nil:
		return nil, errdefs.NotFoundf("container %q in pod %q is terminated", name, podName)
	case state.Waiting != nil && state.Waiting.Reason == ReasonErrImagePull:
		return nil, errdefs.NotFoundf("container %q in pod %q is waiting to start: image can't be pulled", name, podName)
	case state.Waiting != nil:
		return nil, errdefs.NotFoundf("container %q in pod %q is waiting to start: %s", name, podName, state.Waiting.Reason)
	default:
		return nil, errdefs.NotFoundf("container %q in pod %q has no logs", name, podName)
	}
	// Container IDs carry the pid, which the two newest instances are very
	// unlikely to share; if they do, prefer the one asked for.
	order := []*logInstance{cs.logs.cur, cs.logs.prev}
	if previous {
		order[0], order[1] = order[1], order[0]
	}
	for _, in := range order {
		if in != nil && in.id == id {
			return in, nil
		}
	}
	return nil, errdefs.NotFoundf("logs of container %q (%s) in pod %q are no longer kept", name, id, podName)
}

// containerLogs serves one instance's output per opts. Tail, LimitBytes,
// Follow and Previous are honoured; SinceSeconds, SinceTime and Timestamps
// are not (the log has no per-line times) and are ignored.
func (ps *podState) containerLogs(ctx context.Context, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	var cs *containerState
	for _, c := range ps.containers {
		if c.spec.Name == containerName {
			cs = c
		}
	}
	if cs == nil {
		return nil, errdefs.NotFoundf("container %q is not valid for pod %q", containerName, ps.key)
	}
	in, err := ps.logInstanceFor(cs, opts.Previous)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(ps.logPath(containerName))
	if err != nil {
		return nil, errdefs.NotFoundf("logs of container %q in pod %q: %v", containerName, ps.key, err)
	}
	// The size is taken under the lock: a newer instance, whose output
	// must not be served, starts writing only after endLogInstance.
	ps.mu.Lock()
	start, end := in.start, in.end
	var statErr error
	if end < 0 {
		var fi os.FileInfo
		if fi, statErr = f.Stat(); statErr == nil {
			end = fi.Size()
		}
	}
	ps.mu.Unlock()
	if statErr != nil {
		f.Close()
		return nil, fmt.Errorf("logs of container %q in pod %q: %w", containerName, ps.key, statErr)
	}
	if opts.Tail <= 0 && opts.LimitBytes > 0 {
		end = min(end, start+int64(opts.LimitBytes))
	}
	data := make([]byte, max(end-start, 0))
	n, err := f.ReadAt(data, start)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, fmt.Errorf("read logs of container %q in pod %q: %w", containerName, ps.key, err)
	}
	// The file cannot shrink; a short read means the range is past its end.
	data = tailLines(data[:n], opts.Tail)
	remain := int64(-1)
	if opts.LimitBytes > 0 {
		if len(data) > opts.LimitBytes {
			data = data[:opts.LimitBytes]
		}
		remain = int64(opts.LimitBytes - len(data))
	}
	if !opts.Follow || remain == 0 {
		f.Close()
		return io.NopCloser(bytesReader(data)), nil
	}
	return &followReader{
		ctx: ctx, ps: ps, cs: cs, in: in, f: f,
		pending: data, off: start + int64(n), remain: remain,
		closed: make(chan struct{}),
	}, nil
}

// followReader yields an instance's output read so far, then what the
// instance appends, until the instance has ended and all its output has
// been read, the request's context ends, LimitBytes is reached, or Close is
// called. It polls the file; it starts no goroutine.
type followReader struct {
	ctx context.Context
	ps  *podState
	cs  *containerState
	in  *logInstance
	f   *os.File
	// pending is the initial content (after Tail) not yet returned.
	pending []byte
	// off is the file offset of the next byte to read after pending.
	off int64
	// remain is how many more bytes LimitBytes allows; -1 means no limit.
	remain int64
	// ended is set once the instance has been seen to have stopped: what
	// follows in the file is all it wrote.
	ended bool

	closeOnce sync.Once
	closed    chan struct{}
}

// Read implements io.Reader. Read and Close may be called concurrently; Read
// must not be called concurrently with itself.
func (r *followReader) Read(p []byte) (int, error) {
	if r.remain >= 0 && int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	if r.remain == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		r.consumed(n)
		return n, nil
	}
	for {
		select {
		case <-r.closed:
			return 0, os.ErrClosed
		default:
		}
		end, running := r.state()
		buf := p
		if end >= 0 {
			if r.off >= end {
				return 0, io.EOF
			}
			buf = buf[:min(int64(len(buf)), end-r.off)]
		}
		n, err := r.f.ReadAt(buf, r.off)
		if end < 0 && n > 0 {
			// The instance may have ended, and a newer one written,
			// since state was read.
			if end, _ = r.state(); end >= 0 {
				n = int(max(min(int64(n), end-r.off), 0))
			}
		}
		if n > 0 {
			r.off += int64(n)
			r.consumed(n)
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if r.ended {
			return 0, io.EOF
		}
		if !running {
			// Read once more: everything the instance wrote is in the
			// file now.
			r.ended = true
			continue
		}
		t := time.NewTimer(followPoll)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return 0, io.EOF
		case <-r.closed:
			t.Stop()
			return 0, os.ErrClosed
		case <-t.C:
		}
	}
}

func (r *followReader) consumed(n int) {
	if r.remain > 0 {
		r.remain -= int64(n)
	}
}

// state returns where the instance's output ends (-1 while it is the newest
// one) and whether its process may still write: it is the container's
// running instance and the pod is not finished.
func (r *followReader) state() (int64, bool) {
	r.ps.mu.Lock()
	defer r.ps.mu.Unlock()
	running := !r.ps.final && r.cs.containerID == r.in.id && r.cs.state.Running != nil
	return r.in.end, running
}

// Close implements io.Closer; it ends a Read waiting for output.
func (r *followReader) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.closed)
		err = r.f.Close()
	})
	return err
}
