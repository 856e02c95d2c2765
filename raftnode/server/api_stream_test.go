package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// testStream is a KV.Stream opened on a member by hand, as a client of
// another language would.
type testStream struct {
	t      *testing.T
	st     serverpb.KV_StreamClient
	cancel context.CancelFunc
}

func openStream(t *testing.T, m *member) *testStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := m.kv.Stream(ctx)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	return &testStream{t: t, st: st, cancel: cancel}
}

func (s *testStream) send(id uint64, req any) {
	s.t.Helper()
	r := &serverpb.StreamRequest{Id: id}
	switch req := req.(type) {
	case *serverpb.PutRequest:
		r.Request = &serverpb.StreamRequest_Put{Put: req}
	case *serverpb.GetRequest:
		r.Request = &serverpb.StreamRequest_Get{Get: req}
	case *serverpb.DeleteRequest:
		r.Request = &serverpb.StreamRequest_Delete{Delete: req}
	case *serverpb.RangeRequest:
		r.Request = &serverpb.StreamRequest_Range{Range: req}
	case *serverpb.CompareAndSwapRequest:
		r.Request = &serverpb.StreamRequest_CompareAndSwap{CompareAndSwap: req}
	case nil:
	default:
		s.t.Fatalf("send: %T is no stream request", req)
	}
	if err := s.st.Send(r); err != nil {
		s.t.Fatalf("send %d: %v", id, err)
	}
}

// answers receives n answers, by id; each id must come once.
func (s *testStream) answers(n int) map[uint64]*serverpb.StreamResponse {
	s.t.Helper()
	out := map[uint64]*serverpb.StreamResponse{}
	for len(out) < n {
		resp, err := s.st.Recv()
		if err != nil {
			s.t.Fatalf("after %d of %d answers: %v", len(out), n, err)
		}
		if _, dup := out[resp.GetId()]; dup {
			s.t.Fatalf("request %d answered twice", resp.GetId())
		}
		out[resp.GetId()] = resp
	}
	return out
}

// answerErr is the failure an answer carries, as the status its call would
// have returned; nil when it succeeded.
func answerErr(resp *serverpb.StreamResponse) error { return resp.GetStatus().Err() }

func put(key, value string) *serverpb.PutRequest {
	return &serverpb.PutRequest{Key: []byte(key), Value: []byte(value)}
}

func TestStreamServesEveryKind(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	s := openStream(t, a)

	// Many writes in flight at once, answered by id.
	const n = 200
	for i := range n {
		s.send(uint64(1000+i), put(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)))
	}
	for id, resp := range s.answers(n) {
		if err := answerErr(resp); err != nil || !resp.GetPut().GetResult().GetSucceeded() || resp.GetPut().GetHeader().GetMemberId() != a.srv.ID() {
			t.Fatalf("put %d: %v, %v", id, resp, err)
		}
	}

	s.send(1, &serverpb.GetRequest{Key: []byte("k007")})
	s.send(2, &serverpb.GetRequest{Key: []byte("k008"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	s.send(3, &serverpb.RangeRequest{Range: &kvpb.RangeRequest{Key: []byte("k"), Prefix: true, Limit: 5}})
	s.send(4, &serverpb.CompareAndSwapRequest{Cas: &kvpb.CompareAndSwap{Key: []byte("k009"),
		Expected: &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte("v9")}, Value: []byte("swapped")}})
	got := s.answers(4)
	// Requests in flight together are concurrent: the delete goes after
	// the reads' answers, or the range could see it.
	s.send(5, &serverpb.DeleteRequest{Delete: &kvpb.Delete{Key: []byte("k1"), Prefix: true}})
	got[5] = s.answers(1)[5]
	for id, resp := range got {
		if err := answerErr(resp); err != nil {
			t.Fatalf("request %d: %v", id, err)
		}
	}
	if v := got[1].GetGet().GetKv().GetValue(); string(v) != "v7" {
		t.Errorf("linearizable get: %q", v)
	}
	if v := got[2].GetGet().GetKv().GetValue(); string(v) != "v8" {
		t.Errorf("serializable get: %q", v)
	}
	if r := got[3].GetRange().GetRange(); len(r.GetKvs()) != 5 || !r.GetMore() || r.GetCount() != n {
		t.Errorf("range: %d keys, more %v, count %d", len(r.GetKvs()), r.GetMore(), r.GetCount())
	}
	if !got[4].GetCompareAndSwap().GetResult().GetSucceeded() {
		t.Errorf("compare and swap: %v", got[4])
	}
	if d := got[5].GetDelete().GetResult().GetDeleted(); d != 100 {
		t.Errorf("delete of prefix k1 removed %d keys, want 100", d)
	}
	if kvp := a.get("k009", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "swapped" {
		t.Errorf("after the swap, a call reads %q", kvp.GetValue())
	}

	// The client ends its side: the member ends the stream cleanly.
	if err := s.st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v, want EOF", err)
	}
}

func TestStreamRequestsFailAlone(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	s := openStream(t, a)
	s.send(1, nil)
	s.send(2, put("", "v"))
	s.send(3, put("k", string(make([]byte, 1<<20+1))))
	s.send(4, &serverpb.GetRequest{})
	s.send(5, &serverpb.RangeRequest{})
	s.send(6, &serverpb.DeleteRequest{})
	s.send(7, put("k", "v"))
	got := s.answers(7)
	for id, want := range map[uint64]codes.Code{
		1: codes.InvalidArgument, 2: codes.InvalidArgument, 3: codes.ResourceExhausted,
		4: codes.InvalidArgument, 5: codes.InvalidArgument, 6: codes.InvalidArgument, 7: codes.OK,
	} {
		if c := status.Code(answerErr(got[id])); c != want {
			t.Errorf("request %d: %v, want %v", id, answerErr(got[id]), want)
		}
	}
	if kvp := a.get("k", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "v" {
		t.Fatalf("the good write after the bad ones: %v", kvp)
	}
}

func TestStreamOnANonMemberSaysNotMember(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	j := startMember(t, t.TempDir(), false)
	s := openStream(t, j)
	s.send(1, put("k", "v"))
	s.send(2, &serverpb.GetRequest{Key: []byte("k")})
	s.send(3, &serverpb.GetRequest{Key: []byte("k"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	got := s.answers(3)
	wantNotMember(t, answerErr(got[1]), "put")
	wantNotMember(t, answerErr(got[2]), "linearizable get")
	if err := answerErr(got[3]); err != nil || got[3].GetGet().GetKv() != nil {
		t.Fatalf("serializable get on a member with no data: %v, %v", got[3], err)
	}
}

// blockLoop holds the member's event loop until the returned func is called:
// proposals and reads queue up unanswered, as behind a slow disk.
func blockLoop(t *testing.T, m *member) (release func()) {
	t.Helper()
	entered, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- m.srv.inLoop(context.Background(), func() { close(entered); <-unblock })
	}()
	<-entered
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Errorf("inLoop: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func TestStreamAnswersRequestsPastTheirDeadline(t *testing.T) {
	a := startMember(t, t.TempDir(), true, func(c *Config) { c.RequestTimeout = 200 * time.Millisecond })
	a.waitLeader()
	s := openStream(t, a)
	release := blockLoop(t, a)
	s.send(1, put("k", "v"))
	s.send(2, &serverpb.GetRequest{Key: []byte("k")})
	s.send(1, put("k", "again")) // id 1 still waits: refused at once
	first := s.answers(1)
	if err := answerErr(first[1]); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a second request with a waiting id: %v, want InvalidArgument", err)
	}
	got := s.answers(2)
	for _, id := range []uint64{1, 2} {
		if c := status.Code(answerErr(got[id])); c != codes.DeadlineExceeded {
			t.Fatalf("request %d behind a blocked loop: %v, want DeadlineExceeded", id, answerErr(got[id]))
		}
	}
	release()
	// The stream goes on: the member answers its next requests.
	s.send(3, put("k", "after"))
	if err := answerErr(s.answers(1)[3]); err != nil {
		t.Fatalf("put after the loop went on: %v", err)
	}
}

func TestStreamAnswersEveryRequestWhenTheMemberStops(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	s := openStream(t, a)
	release := blockLoop(t, a)
	s.send(1, put("k", "v"))
	s.send(2, &serverpb.GetRequest{Key: []byte("k")})
	// Requests are started in order, and an invalid one is answered at
	// once: its answer says 1 and 2 are waiting.
	s.send(3, &serverpb.GetRequest{})
	if err := answerErr(s.answers(1)[3]); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("get of no key: %v", err)
	}
	a.stop() // Run returns once the loop goes on; the cleanup checks it
	release()
	// Each request is answered: applied before the loop stopped, or
	// Unavailable; then the stream ends Unavailable.
	for id, resp := range s.answers(2) {
		if err := answerErr(resp); err != nil && status.Code(err) != codes.Unavailable {
			t.Errorf("request %d as the member stopped: %v, want success or Unavailable", id, err)
		}
	}
	if _, err := s.st.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("stream of a stopped member ended with %v, want Unavailable", err)
	}
}

// A stream holds at most maxStreamPending requests waiting: the next is
// refused at once, and one answered makes room again.
func TestStreamRefusesRequestsPastItsBound(t *testing.T) {
	ss := &streamSession{s: &Server{cfg: Config{RequestTimeout: time.Second}}, pending: map[uint64]pendingRequest{}}
	for id := range uint64(maxStreamPending) {
		if err := ss.add(&serverpb.StreamRequest{Id: id}, 0); err != nil {
			t.Fatalf("request %d of %d: %v", id, maxStreamPending, err)
		}
	}
	if err := ss.add(&serverpb.StreamRequest{Id: maxStreamPending}, 0); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("one request past the bound: %v, want ResourceExhausted", err)
	}
	ss.finish(0, nil)
	if err := ss.add(&serverpb.StreamRequest{Id: maxStreamPending}, 0); err != nil {
		t.Fatalf("after an answer made room: %v", err)
	}
}
