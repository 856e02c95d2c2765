package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// get fetches path from m's HTTP endpoint and returns the status and body.
func (m *member) httpGet(path string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequestWithContext(ctxT(m.t), http.MethodGet, "http://"+m.srv.HTTPAddr()+path, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func withHTTP(t *testing.T) func(*Config) {
	return func(c *Config) { c.HTTPListener = listen(t) }
}

func TestHealthAndReadinessOfALeader(t *testing.T) {
	m := startMember(t, t.TempDir(), true, withHTTP(t))
	m.waitLeader()
	m.put("k", "v")

	if code, body := m.httpGet("/healthz"); code != http.StatusOK || !strings.Contains(body, "[+]loop ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := m.httpGet("/readyz")
	if code != http.StatusOK || !strings.Contains(body, "[+]linearizable-read ok") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if code, body := m.httpGet("/readyz?serializable=true"); code != http.StatusOK || strings.Contains(body, "linearizable-read") {
		t.Errorf("/readyz?serializable=true = %d %q: want 200 without the read check", code, body)
	}
	if code, _ := m.httpGet("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
	if code, _ := m.httpGet("/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ = %d without EnablePprof, want 404", code)
	}
}

func TestPprofWhenEnabled(t *testing.T) {
	m := startMember(t, t.TempDir(), true, withHTTP(t), func(c *Config) { c.EnablePprof = true })
	if code, body := m.httpGet("/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d", code)
	}
}

func TestMetrics(t *testing.T) {
	m := startMember(t, t.TempDir(), true, withHTTP(t))
	m.waitLeader()
	for range 3 {
		m.put("k", "v")
	}
	m.get("k", serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
	code, body := m.httpGet("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"raftnode_is_leader 1",
		"raftnode_has_leader 1",
		"raftnode_proposals_applied_total 3",
		"raftnode_linearizable_reads_total 1",
		"raftnode_wal_sync_seconds_count",
		`raftnode_member_info{id="`,
		"go_goroutines",
		"process_open_fds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNotReadyWhileWaitingToBeAdded(t *testing.T) {
	m := startMember(t, t.TempDir(), false, withHTTP(t))
	if code, body := m.httpGet("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q: a member waiting to be added is alive", code, body)
	}
	code, body := m.httpGet("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]member failed: ") ||
		!strings.Contains(body, "waiting to be added") || !strings.Contains(body, "[-]leader failed: no leader known") {
		t.Errorf("/readyz = %d %q", code, body)
	}
}

func TestNoHTTPEndpointByDefault(t *testing.T) {
	m := startMember(t, t.TempDir(), true)
	if addr := m.srv.HTTPAddr(); addr != "" {
		t.Errorf("HTTPAddr = %q without an HTTP listener", addr)
	}
	// The handler still works for programs embedding the server.
	rec := httptest.NewRecorder()
	m.srv.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(ctxT(t), http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("embedded /healthz = %d %q", rec.Code, rec.Body)
	}
}
