package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
)

// Concurrent requests share one stream per member instead of a call each.
func TestRequestsShareOneStream(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Endpoints()...)
	ctx := ctx(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			key := []byte(fmt.Sprintf("k%d", i))
			if _, err := c.Put(ctx, key, []byte("v")); err != nil {
				errs <- err
				return
			}
			if _, found, err := c.Get(ctx, key); err != nil || !found {
				errs <- fmt.Errorf("get %s: found %v, %w", key, found, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m := cl.Members[0]
	if s, p, g := m.Calls("Stream"), m.Calls("Put"), m.Calls("Get"); s != 1 || p != n || g != n {
		t.Fatalf("streams %d, puts %d, gets %d; want 1, %d, %d", s, p, g, n, n)
	}
}

// A request that takes long holds up no other request on the stream.
func TestSlowRequestHoldsUpNoOther(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Endpoints()...)
	ctx := ctx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	cl.Members[0].Hang("Get", true)
	slowCtx, stopSlow := context.WithCancel(ctx)
	slow := make(chan error, 1)
	go func() {
		_, _, err := c.Get(slowCtx, []byte("k"))
		slow <- err
	}()
	for i := range 5 {
		if _, err := c.Put(ctx, []byte("k"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("put %d while a get hangs: %v", i, err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("the hanging get returned: %v", err)
	default:
	}
	stopSlow()
	var e *client.Error
	if err := <-slow; !errors.As(err, &e) || e.Code != codes.Canceled {
		t.Fatalf("hanging get after its context ended: %v", err)
	}
	if n := cl.Members[0].Calls("Stream"); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
}

// A member without KV.Stream (an older version) gets a call per request; it
// is asked once, not on every request.
func TestMemberWithoutStreamGetsCalls(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Members[0].DisableStream()
	c := newClient(t, cl.Endpoints()...)
	ctx := ctx(t)
	for i := range 5 {
		if _, err := c.Put(ctx, []byte("k"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if kv, _, err := c.Get(ctx, []byte("k")); err != nil || string(kv.GetValue()) != "4" {
		t.Fatalf("get: %v, %v", kv, err)
	}
	m := cl.Members[0]
	if s, p := m.Calls("Stream"), m.Calls("Put"); s != 1 || p != 5 {
		t.Fatalf("streams asked %d, puts %d; want 1, 5", s, p)
	}
}

// A stream broken under a request (the member died) fails that request; the
// next request is not sent on it, and says so.
func TestRequestsOnABrokenStream(t *testing.T) {
	cl := clienttest.Start(t, 2)
	c := newClientCfg(t, client.Config{Endpoints: cl.Endpoints()[:1], DialTimeout: 2 * time.Second})
	ctx := ctx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	cl.Members[0].Hang("Get", true)
	cl.Members[0].Drop("Get") // breaks every connection once the get arrived
	if _, _, err := c.Get(ctx, []byte("k")); err == nil {
		t.Fatal("get on a member that dropped its connections succeeded")
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("w")); err == nil {
		t.Fatal("put on a stopped member succeeded")
	} else if !errors.Is(err, client.ErrNotSent) {
		t.Fatalf("put on a stopped member: %v, want ErrNotSent", err)
	}
}

// A member that refuses the stream itself (no client certificate) fails the
// request with its answer, which is not retried elsewhere.
func TestStreamRefusedByTheMember(t *testing.T) {
	cl := clienttest.Start(t, 2)
	for _, m := range cl.Members {
		m.RefuseStream(clienttest.UnauthenticatedError())
	}
	c := newClient(t, cl.Endpoints()...)
	_, _, err := c.Get(ctx(t), []byte("k"))
	if !errors.Is(err, client.ErrUnauthenticated) || errors.Is(err, client.ErrNotSent) {
		t.Fatalf("get with the stream refused: %v, want ErrUnauthenticated", err)
	}
	if n := cl.Members[1].Calls("Stream"); n != 0 {
		t.Fatalf("the refusal was retried on the other member (%d streams)", n)
	}
}
