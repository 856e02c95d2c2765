package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/member"
)

// This file runs kvstore members as real processes on loopback: building the
// binary, starting, killing and restarting members, and talking to them over
// the client API.

const (
	// pollInterval is how often eventually checks a condition.
	pollInterval = 20 * time.Millisecond
	// waitTimeout bounds every wait for the cluster to reach a state.
	waitTimeout = 15 * time.Second
)

// buildBinary builds the kvstore command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvstore")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is one member's addresses, data dir and running process.
type process struct {
	id                   uint64
	peerAddr, clientAddr string
	dataDir, logPath     string
	cmd                  *exec.Cmd
	// exited is closed when the running process exited; exitErr is then
	// what Wait returned.
	exited  chan struct{}
	exitErr error
}

// cluster is a set of member processes of one cluster.
type cluster struct {
	t       *testing.T
	bin     string
	members map[uint64]*process
	client  *http.Client
}

// newCluster reserves loopback ports for members 1..n; none is started.
func newCluster(t *testing.T, bin string, n int) *cluster {
	conn := &http.Transport{}
	c := &cluster{t: t, bin: bin, members: map[uint64]*process{}, client: &http.Client{Transport: conn, Timeout: 5 * time.Second}}
	dir := t.TempDir()
	for id := uint64(1); id <= uint64(n); id++ {
		c.members[id] = &process{
			id:         id,
			peerAddr:   freeAddr(t),
			clientAddr: freeAddr(t),
			dataDir:    filepath.Join(dir, fmt.Sprintf("data-%d", id)),
			logPath:    filepath.Join(dir, fmt.Sprintf("member-%d.log", id)),
		}
	}
	t.Cleanup(func() {
		for _, id := range c.ids() {
			c.kill(id)
		}
		conn.CloseIdleConnections()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func (c *cluster) ids() []uint64 {
	var ids []uint64
	for id := range c.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// peersFlag lists the peer URLs of members ids.
func (c *cluster) peersFlag(ids ...uint64) string {
	var items []string
	for _, id := range ids {
		items = append(items, fmt.Sprintf("%d=%s", id, c.peerURL(id)))
	}
	return strings.Join(items, ",")
}

func (c *cluster) peerURL(id uint64) string { return "http://" + c.members[id].peerAddr }

// start starts member id with peers listed in -peers; join makes it join
// an existing cluster.
func (c *cluster) start(id uint64, join bool, peers ...uint64) {
	c.t.Helper()
	p := c.members[id]
	logFile, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		c.t.Fatal(err)
	}
	args := []string{
		"-id", strconv.FormatUint(id, 10),
		"-peers", c.peersFlag(peers...),
		"-data", p.dataDir,
		"-listen-client", p.clientAddr,
		"-tick", "20ms",
		"-snapshot-entries", "8",
		"-request-timeout", "2s",
	}
	if join {
		args = append(args, "-join")
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		c.t.Fatalf("start member %d: %v", id, err)
	}
	p.cmd, p.exited, p.exitErr = cmd, make(chan struct{}), nil
	go func() {
		p.exitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
}

// kill kills member id's process, if it runs, as a crash would.
func (c *cluster) kill(id uint64) {
	p := c.members[id]
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// waitExit waits for member id's process to exit by itself and returns what
// Wait returned.
func (c *cluster) waitExit(id uint64) error {
	c.t.Helper()
	p := c.members[id]
	select {
	case <-p.exited:
		p.cmd = nil
		return p.exitErr
	case <-time.After(waitTimeout):
		c.t.Fatalf("member %d did not exit", id)
		return nil
	}
}

func (c *cluster) dumpLogs() {
	for _, id := range c.ids() {
		data, err := os.ReadFile(c.members[id].logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		c.t.Logf("member %d, last log lines:\n%s", id, strings.Join(lines, "\n"))
	}
}

// do sends a request to member id's client API and returns the status code
// and body.
func (c *cluster) do(id uint64, method, path, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), method,
		"http://"+c.members[id].clientAddr+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data)), err
}

// expect sends a request and fails unless it is answered with want.
func (c *cluster) expect(id uint64, method, path, body string, want int) error {
	code, got, err := c.do(id, method, path, body)
	switch {
	case err != nil:
		return err
	case code != want:
		return fmt.Errorf("%s %s on member %d: %d %s, want %d", method, path, id, code, got, want)
	}
	return nil
}

// put writes key=value through member id, retrying what the API says may
// be retried, and returns once the write is acknowledged.
func (c *cluster) put(id uint64, key, value string) {
	c.t.Helper()
	c.eventually(fmt.Sprintf("put %s through member %d", key, id), func() error {
		return c.expect(id, http.MethodPut, "/keys/"+key, value, http.StatusNoContent)
	})
}

// get reads key from member id.
func (c *cluster) get(id uint64, key string) (string, error) {
	code, body, err := c.do(id, http.MethodGet, "/keys/"+key, "")
	switch {
	case err != nil:
		return "", err
	case code != http.StatusOK:
		return "", fmt.Errorf("get %s on member %d: %d %s", key, id, code, body)
	}
	return body, nil
}

func (c *cluster) status(id uint64) (member.Status, error) {
	var st member.Status
	code, body, err := c.do(id, http.MethodGet, "/status", "")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of member %d: %d %s", id, code, body)
	}
	return st, json.Unmarshal([]byte(body), &st)
}

// eventually polls cond until it returns nil, failing the test with its
// last error after waitTimeout.
func (c *cluster) eventually(what string, cond func() error) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: still failing after %s: %v", what, waitTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitConfig waits until every member in ids has applied the configuration
// with voters ids and knows a leader among them.
func (c *cluster) waitConfig(ids ...uint64) {
	c.t.Helper()
	c.eventually(fmt.Sprintf("members %v agree on the configuration", ids), func() error {
		for _, id := range ids {
			st, err := c.status(id)
			if err != nil {
				return err
			}
			if !slices.Equal(st.Voters, ids) || len(st.VotersOutgoing) > 0 {
				return fmt.Errorf("member %d has voters %v (outgoing %v)", id, st.Voters, st.VotersOutgoing)
			}
			if !slices.Contains(ids, st.Leader) {
				return fmt.Errorf("member %d knows leader %d", id, st.Leader)
			}
		}
		return nil
	})
}

// waitHas waits until member id reads every key of want with its value.
func (c *cluster) waitHas(id uint64, want map[string]string) {
	c.t.Helper()
	c.eventually(fmt.Sprintf("member %d has every acknowledged write", id), func() error {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			got, err := c.get(id, k)
			if err != nil {
				return err
			}
			if got != want[k] {
				return fmt.Errorf("member %d: %s = %q, want %q", id, k, got, want[k])
			}
		}
		return nil
	})
}
