package regserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs Serve on a loopback listener; stop ends its context and
// returns what Serve returned, failing the test if it does not return.
func serve(t *testing.T) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, Handler("", io.Discard)) }()
	return ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-served:
			return err
		case <-time.After(3 * shutdownTimeout):
			t.Fatal("Serve did not return after its context ended")
			return nil
		}
	}
}

// TestServeStops: the registry answers the distribution API's version check,
// and Serve returns nil, its goroutines gone, once its context ends.
func TestServeStops(t *testing.T) {
	addr, stop := serve(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/: %s, want 200", resp.Status)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v, want nil after its context ended", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts connections")
	}
}

// TestServeStopsWithAnUnusedConnection: a client's transport may open a
// connection it never sends on (parallel uploads); net/http's Shutdown
// counts such a connection as busy for its first 5 s. Serve still stops
// cleanly.
func TestServeStopsWithAnUnusedConnection(t *testing.T) {
	addr, stop := serve(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	// Let the server accept it, so it is tracked as a new connection.
	time.Sleep(100 * time.Millisecond)
	if err := stop(); err != nil {
		t.Errorf("Serve: %v, want nil after its context ended", err)
	}
}
