package provider

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
)

// noLeaks checks, after the test's other cleanups (the provider's pods are
// deleted by newEnv's), that no goroutine the test started is left.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// readLogs returns what GetContainerLogs serves without following.
func (e *env) readLogs(name string, opts api.ContainerLogOpts) (string, error) {
	rc, err := e.p.GetContainerLogs(context.Background(), "ns", name, "main", opts)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// waitLogs polls GetContainerLogs until it serves want.
func (e *env) waitLogs(name string, opts api.ContainerLogOpts, want string) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var got string
	var err error
	for time.Now().Before(deadline) {
		if got, err = e.readLogs(name, opts); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("logs of %s with %+v = %q (error %v), want %q", name, opts, got, err, want)
}

// podDir is the directory the pod's processes run in.
func (e *env) podDir(name string) string {
	logPath, ok := e.p.LogPath("ns", name, "main")
	if !ok {
		e.t.Fatalf("pod %s unknown", name)
	}
	return filepath.Dir(logPath)
}

// readLine reads one line from a follow stream, failing after waitTimeout.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := r.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read a line: %q, %v", res.line, res.err)
		}
		return res.line
	case <-time.After(waitTimeout):
		t.Fatal("no line within the timeout")
		return ""
	}
}

// Follow streams what the instance writes after the call, and ends with EOF
// when the instance exits, without the next instance's output.
func TestLogsFollowUntilExit(t *testing.T) {
	noLeaks(t)
	e := newEnv(t)
	// Restarted after it exits (Always): the next instance's "one" and "two"
	// must not reach the stream.
	e.create(pod("follow", `echo one; while [ ! -f gate ]; do sleep 0.05; done; echo two; exit 1`))
	e.waitLogs("follow", api.ContainerLogOpts{}, "one\n")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rc, err := e.p.GetContainerLogs(ctx, "ns", "follow", "main", api.ContainerLogOpts{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	if line := readLine(t, r); line != "one\n" {
		t.Fatalf("first line %q, want %q", line, "one\n")
	}
	if err := os.WriteFile(filepath.Join(e.podDir("follow"), "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the stream did not end when the container exited")
	}
	if string(rest) != "two\n" {
		t.Errorf("followed %q after the first line, want %q", rest, "two\n")
	}
	// The container restarted and wrote again: the file has both instances.
	e.waitFor("follow", "a restart", func(p *corev1.Pod) bool { return main0(p).RestartCount >= 1 })
	e.waitLogs("follow", api.ContainerLogOpts{Previous: true}, "one\ntwo\n")
}

// Follow ends (EOF) when the request's context ends, and a Read blocked
// waiting for output returns when the stream is closed.
func TestLogsFollowEndsOnCancelAndClose(t *testing.T) {
	noLeaks(t)
	e := newEnv(t)
	e.create(pod("quiet", `echo hi; exec sleep 60`))
	e.waitLogs("quiet", api.ContainerLogOpts{}, "hi\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := e.p.GetContainerLogs(ctx, "ns", "quiet", "main", api.ContainerLogOpts{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	if line := readLine(t, r); line != "hi\n" {
		t.Fatalf("line %q, want %q", line, "hi\n")
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadByte()
		done <- err
	}()
	time.Sleep(3 * followPoll) // let it wait for output
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("read after cancel: %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end when its context was cancelled")
	}

	rc2, err := e.p.GetContainerLogs(context.Background(), "ns", "quiet", "main", api.ContainerLogOpts{Follow: true, Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := io.ReadAtLeast(rc2, buf, 3); err != nil || string(buf[:n]) != "hi\n" {
		t.Fatalf("read %q, %v; want %q", buf[:n], err, "hi\n")
	}
	go func() {
		_, err := rc2.Read(buf)
		done <- err
	}()
	time.Sleep(3 * followPoll)
	if err := rc2.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after close succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read did not return when the stream was closed")
	}
}

// Follow ends when the pod is deleted and its process stops.
func TestLogsFollowEndsOnPodDeletion(t *testing.T) {
	noLeaks(t)
	e := newEnv(t)
	e.create(pod("doomed", `echo hi; exec sleep 60`))
	e.waitLogs("doomed", api.ContainerLogOpts{}, "hi\n")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rc, err := e.p.GetContainerLogs(ctx, "ns", "doomed", "main", api.ContainerLogOpts{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	e.delete("doomed", 0)
	data, err := io.ReadAll(rc)
	if err != nil || string(data) != "hi\n" || ctx.Err() != nil {
		t.Errorf("followed %q, %v (context: %v); want %q ended by the deletion", data, err, ctx.Err(), "hi\n")
	}
	e.waitGone("doomed")
}

// Previous serves the crashed instance's output and the default only the
// current instance's; previous without a terminated instance is NotFound.
func TestLogsPreviousAndCurrentInstance(t *testing.T) {
	noLeaks(t)
	e := newEnv(t)
	// The first instance crashes, the second keeps running.
	e.create(pod("restarts", `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
echo "instance $n"; echo "line 2 of $n"; [ $n -gt 1 ] || exit 3; exec sleep 60`))
	e.waitFor("restarts", "restarted and running", func(p *corev1.Pod) bool {
		return main0(p).RestartCount == 1 && main0(p).State.Running != nil
	})
	e.waitLogs("restarts", api.ContainerLogOpts{}, "instance 2\nline 2 of 2\n")
	e.waitLogs("restarts", api.ContainerLogOpts{Previous: true}, "instance 1\nline 2 of 1\n")
	// Tail and LimitBytes apply within the instance.
	e.waitLogs("restarts", api.ContainerLogOpts{Previous: true, Tail: 1}, "line 2 of 1\n")
	e.waitLogs("restarts", api.ContainerLogOpts{Tail: 5}, "instance 2\nline 2 of 2\n")
	e.waitLogs("restarts", api.ContainerLogOpts{LimitBytes: 4}, "inst")
	e.waitLogs("restarts", api.ContainerLogOpts{Previous: true, Tail: 1, LimitBytes: 6}, "line 2")
	// Following a terminated instance serves it and ends.
	e.waitLogs("restarts", api.ContainerLogOpts{Previous: true, Follow: true}, "instance 1\nline 2 of 1\n")
	// Following with a limit ends at the limit, though the instance runs on.
	e.waitLogs("restarts", api.ContainerLogOpts{Follow: true, LimitBytes: 12}, "instance 2\nl")
	e.waitLogs("restarts", api.ContainerLogOpts{Follow: true, Tail: 1, LimitBytes: 4}, "line")
	// The log file itself keeps every instance.
	logPath, _ := e.p.LogPath("ns", "restarts", "main")
	if data, _ := os.ReadFile(logPath); string(data) != "instance 1\nline 2 of 1\ninstance 2\nline 2 of 2\n" {
		t.Errorf("log file %q", data)
	}

	e.create(pod("first", `echo once; exec sleep 60`))
	e.waitLogs("first", api.ContainerLogOpts{}, "once\n")
	_, err := e.readLogs("first", api.ContainerLogOpts{Previous: true})
	if want := `previous terminated container "main" in pod "first" not found`; !errdefs.IsNotFound(err) || err == nil || err.Error() != want {
		t.Errorf("previous without a previous instance: %v, want NotFound %q", err, want)
	}
}

// While a crashed container waits to restart, both the default and
// Previous serve the crashed instance, as the kubelet does; containers that
// never ran and unknown containers are errors.
func TestLogsWaitingAndUnknownContainers(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, func(c *Config) { c.BackoffBase, c.BackoffMax = time.Minute, time.Minute })
	e.create(pod("backoff", `echo crashed; exit 1`))
	e.waitFor("backoff", "CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := main0(p).State.Waiting
		return w != nil && w.Reason == ReasonCrashLoopBackOff
	})
	e.waitLogs("backoff", api.ContainerLogOpts{}, "crashed\n")
	e.waitLogs("backoff", api.ContainerLogOpts{Previous: true}, "crashed\n")
	e.waitLogs("backoff", api.ContainerLogOpts{Follow: true}, "crashed\n")

	e.create(pod("nosuch", "", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nosuch:1" }))
	e.waitFor("nosuch", "ErrImagePull", func(p *corev1.Pod) bool { return main0(p).State.Waiting.Reason == ReasonErrImagePull })
	if _, err := e.readLogs("nosuch", api.ContainerLogOpts{}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "image can't be pulled") {
		t.Errorf("logs of a container whose image is unknown: %v", err)
	}
	if _, err := e.p.GetContainerLogs(context.Background(), "ns", "backoff", "other", api.ContainerLogOpts{}); !errdefs.IsNotFound(err) {
		t.Errorf("logs of an unknown container: %v, want NotFound", err)
	}
}
