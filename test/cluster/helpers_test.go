package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// testContext is the test's budget: every cluster test must end well within
// 30 seconds.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writer puts distinct keys in a loop and remembers which were acknowledged.
type writer struct {
	cl     *client.Client
	prefix string
	stopc  chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	acked  map[string]string
	failed int
	last   error
}

// startWriter starts writing prefix/000000, prefix/000001, ... through cl
// until stop; each write is bounded by 1 s (a write forwarded to a leader
// that just died waits for the server's request timeout otherwise) and ctx.
func startWriter(ctx context.Context, t *testing.T, cl *client.Client, prefix string) *writer {
	w := &writer{cl: cl, prefix: prefix, stopc: make(chan struct{}), done: make(chan struct{}), acked: map[string]string{}}
	go w.run(ctx)
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stopc:
			return
		case <-ctx.Done():
			return
		default:
		}
		key, value := fmt.Sprintf("%s/%06d", w.prefix, i), fmt.Sprintf("value-%d", i)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := w.cl.Put(wctx, []byte(key), []byte(value))
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked[key] = value
		} else {
			w.failed++
			w.last = err
		}
		w.mu.Unlock()
		if err != nil {
			// Pace retries while there is no leader; not an assertion.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-w.stopc:
				return
			}
		}
	}
}

func (w *writer) acks() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) failures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// waitAcks waits until n writes were acknowledged in total.
func (w *writer) waitAcks(ctx context.Context, n int) error {
	return harness.WaitFor(ctx, fmt.Sprintf("%d acknowledged writes", n), func(context.Context) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.acked) < n {
			return fmt.Errorf("%d acknowledged, %d failed, last error: %w", len(w.acked), w.failed, w.last)
		}
		return nil
	})
}

// stop ends the writer and returns the acknowledged writes.
func (w *writer) stop() map[string]string {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// checkWrites reads every key under prefix from rng and fails t unless every
// acknowledged write is there with its value, and every other key holds a
// value the writer could have written (an unacknowledged write may or may not
// have been applied).
func checkWrites(t *testing.T, where string, rng *kvpb.RangeResponse, prefix string, acked map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, kv := range rng.GetKvs() {
		got[string(kv.GetKey())] = string(kv.GetValue())
	}
	missing := 0
	for k, v := range acked {
		if got[k] != v {
			missing++
			if missing <= 5 {
				t.Errorf("%s: acknowledged %s=%s reads %q", where, k, v, got[k])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d acknowledged writes lost", where, missing, len(acked))
	}
	for k, v := range got {
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(k, prefix+"/"), "%06d", &i); err != nil || v != fmt.Sprintf("value-%d", i) {
			t.Errorf("%s: %s=%s was never written", where, k, v)
		}
	}
}

// rangePrefix reads every key under prefix/ with a linearizable read.
func rangePrefix(ctx context.Context, cl *client.Client, prefix string) (*kvpb.RangeResponse, error) {
	return cl.Range(ctx, []byte(prefix+"/"), client.WithPrefix())
}

// serializableRange reads every key under prefix/ from n's own state.
func serializableRange(ctx context.Context, n *harness.Node, prefix string) (*kvpb.RangeResponse, error) {
	resp, err := n.KV().Range(ctx, &serverpb.RangeRequest{
		Range:       &kvpb.RangeRequest{Key: []byte(prefix + "/"), Prefix: true},
		Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetRange(), nil
}

// wantCode fails t unless err is a gRPC status with code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %v", what, want)
		return
	}
	if got := status.Code(err); got != want {
		t.Errorf("%s: %v, want code %v", what, err, want)
	}
}

// other returns a member of nodes that is not n.
func other(nodes []*harness.Node, n *harness.Node) *harness.Node {
	for _, o := range nodes {
		if o != n {
			return o
		}
	}
	return nil
}

// waitRemoved waits until n reports that it was removed.
func waitRemoved(ctx context.Context, n *harness.Node) error {
	return harness.WaitFor(ctx, n.Name()+" to report removed", func(ctx context.Context) error {
		st, err := n.Status(ctx)
		if err != nil {
			return err
		}
		if !st.GetRemoved() {
			return errors.New("not removed yet")
		}
		return nil
	})
}
