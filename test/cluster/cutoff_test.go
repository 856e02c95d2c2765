package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/test/harness"
)

// A client given every member, its first endpoint the leader and talking to
// it, keeps writing while that member is cut off: frozen with SIGSTOP (its
// ports stay open and accept connections but nothing answers, as behind a
// network cut; a real cut needs root and network namespaces), or killed (its
// port refuses connections). Its writes succeed again through the new
// leader, and keep succeeding; nothing acknowledged is lost. The deadline is
// ten election timeouts, not a timing goal: the failover time is logged, to
// compare with the goal of two election timeouts (issue 14).
func TestClientWritesFailOverFromCutOffLeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		cut  func(*harness.Node) error
	}{
		{"frozen", (*harness.Node).Pause},
		{"killed", (*harness.Node).Kill},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testWritesFailOver(t, tt.cut)
		})
	}
}

func testWritesFailOver(t *testing.T, cut func(*harness.Node) error) {
	const (
		tick          = 100 * time.Millisecond
		electionTicks = 10
		election      = electionTicks * tick
	)
	ctx := testContext(t)
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3, TickInterval: tick, ElectionTicks: electionTicks})
	x, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eps := []string{x.ClientAddr()}
	for _, n := range c.Members() {
		if n != x {
			eps = append(eps, n.ClientAddr())
		}
	}
	// A request on a frozen member gets no answer: RequestTimeout, half an
	// election timeout, bounds what one attempt may wait for.
	cl, err := client.New(ctx, client.Config{Endpoints: eps, RequestTimeout: election / 2, DialTimeout: election,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Put(ctx, []byte("cut/warm"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got := cl.LeaderID(); got != x.ID() {
		t.Fatalf("client follows %x before the cut, want the leader %x", got, x.ID())
	}

	if err := cut(x); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*election)
	defer cancel()
	acked := map[string]string{}
	var unknown, notSent, other int
	var last error
	for i := 0; ; i++ {
		key, value := fmt.Sprintf("cut/%06d", i), fmt.Sprintf("value-%d", i)
		_, err := cl.Put(wctx, []byte(key), []byte(value))
		if err == nil {
			acked[key] = value
			break
		}
		last = err
		t.Logf("write failed %v after the cut: %v", time.Since(start).Round(time.Millisecond), err)
		switch {
		case errors.Is(err, client.ErrOutcomeUnknown):
			unknown++
		case errors.Is(err, client.ErrNotSent):
			notSent++
		default:
			other++
		}
		if wctx.Err() != nil {
			t.Fatalf("no write succeeded within %v of cutting off %s (%d outcome unknown, %d not sent, %d other); last: %v",
				10*election, x.Name(), unknown, notSent, other, last)
		}
	}
	failover := time.Since(start)
	t.Logf("cut off %s (the leader, first endpoint): writes succeed again after %v = %.2f election timeouts "+
		"(goal: 2 = %v); failed meanwhile: %d outcome unknown, %d not sent, %d other; last: %v",
		x.Name(), failover.Round(time.Millisecond), float64(failover)/float64(election), 2*election, unknown, notSent, other, last)

	if lead := cl.LeaderID(); lead == 0 || lead == x.ID() {
		t.Errorf("client follows %x after the failover, want a new leader", lead)
	}
	st, err := cl.LeaderStatus(ctx)
	if err != nil {
		t.Fatalf("LeaderStatus after the failover: %v", err)
	}
	if st.GetSelf().GetId() == x.ID() {
		t.Fatalf("LeaderStatus answered from the cut-off member %s", x.Name())
	}
	// The client does not wander back to the cut-off member: every further
	// write succeeds at once.
	for i := range 20 {
		key, value := fmt.Sprintf("cut/after-%03d", i), fmt.Sprintf("value-%d", i)
		if _, err := cl.Put(ctx, []byte(key), []byte(value)); err != nil {
			t.Fatalf("write %d after the failover: %v", i, err)
		}
		acked[key] = value
	}
	rng, err := cl.Range(ctx, []byte("cut/"), client.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range rng.GetKvs() {
		got[string(kv.GetKey())] = string(kv.GetValue())
	}
	for k, v := range acked {
		if got[k] != v {
			t.Errorf("acknowledged %s=%s reads %q", k, v, got[k])
		}
	}
}
