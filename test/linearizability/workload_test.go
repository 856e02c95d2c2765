package linearizability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/client"
)

// Client settings of the workload: short enough that a dead or paused member
// costs a fraction of a history, long enough for fsyncs on a loaded machine.
const (
	// opTimeout bounds one request; a write still unanswered then has an
	// unknown outcome.
	opTimeout = 2 * time.Second
	// attemptTimeout bounds one attempt, so a read moves on from a paused
	// member to the next.
	attemptTimeout = 700 * time.Millisecond
	dialTimeout    = 300 * time.Millisecond
	// notAppliedPause spaces out requests while none gets through.
	notAppliedPause = 20 * time.Millisecond
)

// endpoints is the list of client addresses the workload's clients use; the
// nemesis changes it when members join and leave, and the workers make new
// clients when it does.
type endpoints struct {
	mu   sync.Mutex
	gen  int
	list []string
}

func (e *endpoints) get() (int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gen, slices.Clone(e.list)
}

func (e *endpoints) add(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, addr)
	e.gen++
}

func (e *endpoints) remove(addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = slices.DeleteFunc(e.list, func(a string) bool { return a == addr })
	e.gen++
}

func newWorkloadClient(eps []string) (*client.Client, error) {
	return client.New(context.Background(), client.Config{
		Endpoints:      eps,
		DialTimeout:    dialTimeout,
		RequestTimeout: attemptTimeout,
		BackoffBase:    20 * time.Millisecond,
		BackoffMax:     200 * time.Millisecond,
	})
}

// worker is one sequential client of the workload: it reads and writes a few
// keys at random, building compare-and-swaps from what it last learned of a
// key, as a read-modify-write client would.
type worker struct {
	id   int
	rng  *rand.Rand
	keys []string
	eps  *endpoints
	sess *Session
	seq  int
	// seen is what the worker last learned of each key (nil: absent); a key
	// missing from seen is not known, after an unknown outcome for instance.
	seen map[string]*KeyValue
}

// run sends requests until stop is closed. Errors that no correct cluster
// gives fail the test; the others are part of the history.
func (w *worker) run(ctx context.Context, t *testing.T, stop <-chan struct{}) {
	var (
		cl  *client.Client
		gen = -1
	)
	defer func() {
		if cl != nil {
			_ = cl.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if g, list := w.eps.get(); g != gen {
			if cl != nil {
				_ = cl.Close()
			}
			var err error
			if cl, err = newWorkloadClient(list); err != nil {
				t.Errorf("worker %d: %v", w.id, err)
				return
			}
			gen = g
		}
		in := w.next()
		out, outcome := w.sess.Do(in, func() (Output, Outcome, string) {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			out, outcome, err := Send(octx, cl, in)
			if errors.Is(err, ErrUnexpected) {
				t.Errorf("worker %d: %s: %v", w.id, DescribeOperation(in, out), err)
			}
			note := ""
			if err != nil {
				note = err.Error()
			}
			return out, outcome, note
		})
		w.learn(in, out, outcome)
		if outcome == NotApplied {
			select {
			case <-time.After(notAppliedPause):
			case <-stop:
			}
		}
	}
}

// next chooses the next request: mostly reads and blind puts, and
// compare-and-swaps (on the value or the mod index) that may well succeed.
func (w *worker) next() Input {
	key := w.keys[w.rng.IntN(len(w.keys))]
	seen, known := w.seen[key]
	w.seq++
	value := fmt.Sprintf("w%d.%d", w.id, w.seq)
	r := w.rng.IntN(100)
	switch {
	case r < 35 || (!known && r < 70):
		return Input{Kind: OpGet, Key: key}
	case r < 55:
		return Input{Kind: OpPut, Key: key, Value: value}
	case r < 68:
		if seen == nil {
			return Input{Kind: OpCAS, Key: key, ByModIndex: true, Value: value} // create-only
		}
		return Input{Kind: OpCAS, Key: key, ExpectedValue: seen.Value, Value: value}
	case r < 82:
		in := Input{Kind: OpCAS, Key: key, ByModIndex: true, Value: value}
		if seen != nil {
			in.ExpectedModIndex = seen.ModIndex
		}
		return in
	case r < 87:
		return Input{Kind: OpCAS, Key: key, ByModIndex: true, Value: value}
	case r < 94:
		return Input{Kind: OpDelete, Key: key}
	default:
		in := Input{Kind: OpCAS, Key: key, ByModIndex: true, Delete: true}
		if seen != nil {
			in.ExpectedModIndex = seen.ModIndex
		}
		return in
	}
}

// learn updates what the worker knows of the key from an answer.
func (w *worker) learn(in Input, out Output, outcome Outcome) {
	switch {
	case outcome == Unknown:
		delete(w.seen, in.Key)
	case outcome == NotApplied:
	case in.Kind == OpGet:
		w.seen[in.Key] = out.KV
	case in.Kind == OpDelete || (in.Kind == OpCAS && in.Delete && out.Succeeded):
		w.seen[in.Key] = nil
	case in.Kind == OpCAS && !out.Succeeded:
		w.seen[in.Key] = out.KV
	default:
		w.seen[in.Key] = &KeyValue{Value: in.Value, ModIndex: out.ModIndex}
	}
}
