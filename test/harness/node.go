package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// Node is one raftnode process, running or not, with a fixed name, data dir
// and addresses. Its methods are safe for concurrent use.
type Node struct {
	tb         testing.TB
	bin        string
	name       string
	dir        string // holds data/ and node.log
	peerAddr   string
	clientAddr string
	flags      []string // every flag but the name, data dir and addresses
	// tls secures the harness's connections to clientAddr; nil: plaintext.
	tls *tls.Config

	conn  *grpc.ClientConn // to clientAddr, kept across restarts
	admin serverpb.AdminClient
	kv    serverpb.KVClient

	mu   sync.Mutex
	id   uint64
	proc *process // nil when not running
}

// process is one run of the binary.
type process struct {
	cmd    *exec.Cmd
	logAt  int64         // size of node.log when it started
	exited chan struct{} // closed once Wait returned; err is set then
	err    error
}

// startAttempts bounds the starts of a node that lost its ports to another
// process.
const startAttempts = 10

// newNode starts a fresh node (an empty data dir) on newly reserved ports and
// waits until it answers Status. Its cleanup kills it and, if the test
// failed, logs the tail of its log.
func newNode(ctx context.Context, tb testing.TB, bin, name string, bootstrap bool, flags []string, tlsConf *tls.Config) (*Node, error) {
	n := &Node{tb: tb, bin: bin, name: name, dir: filepath.Join(tb.TempDir(), name), flags: flags, tls: tlsConf}
	if err := os.MkdirAll(n.DataDir(), 0o750); err != nil {
		return nil, err
	}
	tb.Cleanup(n.cleanup)
	var err error
	for range startAttempts {
		if n.peerAddr, n.clientAddr, err = reserveAddrs(); err != nil {
			return nil, err
		}
		args := n.args()
		if bootstrap {
			args = append(args, "--bootstrap")
		}
		err = n.start(ctx, args)
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return n, nil
}

func (n *Node) args() []string {
	return append([]string{
		"--name=" + n.name,
		"--data-dir=" + n.DataDir(),
		"--listen-peer=" + n.peerAddr,
		"--listen-client=" + n.clientAddr,
	}, n.flags...)
}

var errAddrInUse = errors.New("address already in use")

// start runs the binary once and waits until it serves Status; errAddrInUse
// when it exited because it could not listen.
func (n *Node) start(ctx context.Context, args []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		select {
		case <-n.proc.exited: // crashed by itself: may start again
			n.proc = nil
		default:
			return fmt.Errorf("%s is running", n.name)
		}
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	fi, err := logf.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "%s%s: start %s %s\n", startMarker, time.Now().Format(time.RFC3339Nano), n.name, strings.Join(args, " "))
	cmd := exec.Command(n.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.bin, err)
	}
	p := &process{cmd: cmd, logAt: fi.Size(), exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	n.proc = p
	if n.conn == nil {
		if err := n.dial(); err != nil {
			_ = n.killLocked()
			return err
		}
	}
	st, err := n.waitServing(ctx, p)
	if err != nil {
		_ = n.killLocked()
		return err
	}
	id := st.GetSelf().GetId()
	switch {
	case id == 0:
		_ = n.killLocked()
		return fmt.Errorf("%s reports member id 0", n.name)
	case n.id != 0 && id != n.id:
		_ = n.killLocked()
		return fmt.Errorf("%s restarted as member %x, was %x", n.name, id, n.id)
	}
	n.id = id
	return nil
}

func (n *Node) dial() error {
	creds := insecure.NewCredentials()
	if n.tls != nil {
		creds = credentials.NewTLS(n.tls)
	}
	conn, err := grpc.NewClient(n.clientAddr,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 300 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return fmt.Errorf("dial %s: %w", n.name, err)
	}
	n.conn, n.admin, n.kv = conn, serverpb.NewAdminClient(conn), serverpb.NewKVClient(conn)
	return nil
}

// waitServing polls Status until p answers, exits or ctx ends.
func (n *Node) waitServing(ctx context.Context, p *process) (*serverpb.StatusResponse, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := n.admin.Status(actx, &serverpb.StatusRequest{})
		cancel()
		if err == nil {
			return st, nil
		}
		last = err
		select {
		case <-p.exited:
			out := n.logSince(p.logAt)
			if bytes.Contains(out, []byte("address already in use")) {
				return nil, errAddrInUse
			}
			return nil, fmt.Errorf("%s exited (%w) before serving:\n%s", n.name, p.err, tail(out, 20))
		case <-ctx.Done():
			return nil, fmt.Errorf("%s not serving: %w (last: %w)", n.name, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Restart starts the node again with the same data dir and addresses, and
// waits until it serves Status with the same member id. A port taken by
// another process meanwhile is retried until ctx ends.
func (n *Node) Restart(ctx context.Context) error {
	for {
		err := n.start(ctx, n.args())
		if !errors.Is(err, errAddrInUse) {
			if err != nil {
				return fmt.Errorf("restart %s: %w", n.name, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart %s: its address stays taken: %w", n.name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits until the process is gone. Killing a node that
// does not run does nothing.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.killLocked()
}

func (n *Node) killLocked() error {
	p := n.proc
	if p == nil {
		return nil
	}
	n.proc = nil
	// A stopped process dies of SIGKILL too.
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", n.name, err)
	}
	<-p.exited
	return nil
}

// Stop sends SIGTERM and waits for the process to exit; it fails unless the
// process exited with status 0 before ctx ended (it is then killed).
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.proc
	if p == nil {
		return fmt.Errorf("stop %s: not running", n.name)
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", n.name, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", n.name, err)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		_ = n.killLocked()
		return fmt.Errorf("stop %s: no exit after SIGTERM: %w", n.name, ctx.Err())
	}
	n.proc = nil
	if p.err != nil {
		return fmt.Errorf("stop %s: unclean exit: %w\n%s", n.name, p.err, tail(n.logSince(p.logAt), 20))
	}
	return nil
}

// Pause stops the process with SIGSTOP (it keeps its ports but answers
// nothing); Resume continues it.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return fmt.Errorf("signal %s: not running", n.name)
	}
	if err := n.proc.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s %v: %w", n.name, sig, err)
	}
	return nil
}

// Running reports whether the process was started and not yet killed or
// stopped by the harness. A process that crashed by itself still counts until
// Exited says so.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil
}

// Exited reports whether the current process exited by itself, with how.
func (n *Node) Exited() (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return false, nil
	}
	select {
	case <-n.proc.exited:
		return true, n.proc.err
	default:
		return false, nil
	}
}

func (n *Node) cleanup() {
	_ = n.Kill()
	if n.conn != nil {
		_ = n.conn.Close()
	}
	if n.tb.Failed() {
		b, err := os.ReadFile(n.LogPath())
		if err != nil {
			n.tb.Logf("%s: no log: %v", n.name, err)
			return
		}
		n.tb.Logf("---- tail of %s (id %x, %s) ----\n%s", n.name, n.ID(), n.LogPath(), tail(b, 60))
	}
}

// ID is the member id the node made for itself on its first start.
func (n *Node) ID() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// Name is the node's --name.
func (n *Node) Name() string { return n.name }

// ClientAddr is where the node serves the KV and Admin APIs.
func (n *Node) ClientAddr() string { return n.clientAddr }

// PeerAddr is where the node serves the Raft transport.
func (n *Node) PeerAddr() string { return n.peerAddr }

// DataDir is the node's --data-dir.
func (n *Node) DataDir() string { return filepath.Join(n.dir, "data") }

// LogPath is the file the node's stdout and stderr go to.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "node.log") }

// Log returns the node's whole log, every start included.
func (n *Node) Log() ([]byte, error) { return os.ReadFile(n.LogPath()) }

// Member is the node's metadata as an Admin request names it.
func (n *Node) Member() *serverpb.Member {
	return &serverpb.Member{Id: n.ID(), Name: n.name, PeerAddress: n.peerAddr, ClientAddress: n.clientAddr}
}

// Admin is a raw Admin API client of this node alone (no retries, no
// forwarding by the client), for asserting exact gRPC statuses.
func (n *Node) Admin() serverpb.AdminClient { return n.admin }

// KV is a raw KV API client of this node alone.
func (n *Node) KV() serverpb.KVClient { return n.kv }

// Status asks this node for its status.
func (n *Node) Status(ctx context.Context) (*serverpb.StatusResponse, error) {
	st, err := n.admin.Status(ctx, &serverpb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", n.name, err)
	}
	return st, nil
}

// Client is a client.Client of this node's endpoint alone, closed at the end
// of the test. Call it from the test goroutine.
func (n *Node) Client(tb testing.TB) *client.Client {
	tb.Helper()
	return newClient(tb, []string{n.clientAddr}, n.tls)
}

// WaitApplied waits until the node has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return WaitFor(ctx, fmt.Sprintf("%s to apply index %d", n.name, index), func(ctx context.Context) error {
		st, err := n.Status(ctx)
		if err != nil {
			return err
		}
		if st.GetAppliedIndex() < index {
			return fmt.Errorf("applied %d", st.GetAppliedIndex())
		}
		return nil
	})
}

// LastLog returns the node's log since its last start.
func (n *Node) LastLog() ([]byte, error) {
	b, err := n.Log()
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndex(b, []byte(startMarker)); i >= 0 {
		return b[i:], nil
	}
	return b, nil
}

// startMarker begins the line the harness writes to node.log on every start.
const startMarker = "=== harness "

func (n *Node) logSince(off int64) []byte {
	b, err := os.ReadFile(n.LogPath())
	if err != nil || off > int64(len(b)) {
		return nil
	}
	return b[off:]
}

// tail is the last lines of b.
func tail(b []byte, lines int) []byte {
	b = bytes.TrimRight(b, "\n")
	i := len(b)
	for range lines {
		j := bytes.LastIndexByte(b[:i], '\n')
		if j < 0 {
			return b
		}
		i = j
	}
	return b[i+1:]
}

// reserved are the ports this process handed out, never handed out twice.
var reserved struct {
	sync.Mutex
	ports map[int]bool
}

// reserveAddrs finds two free loopback ports by listening on port 0; both
// listeners are open at once so the two differ.
func reserveAddrs() (peer, clientAddr string, err error) {
	reserved.Lock()
	defer reserved.Unlock()
	if reserved.ports == nil {
		reserved.ports = map[int]bool{}
	}
	var addrs []string
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	for len(addrs) < 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("reserve a port: %w", err)
		}
		open = append(open, l)
		port := l.Addr().(*net.TCPAddr).Port
		if reserved.ports[port] {
			continue
		}
		reserved.ports[port] = true
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	return addrs[0], addrs[1], nil
}
