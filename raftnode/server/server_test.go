package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// member is a running Server with clients of its APIs.
type member struct {
	t     *testing.T
	dir   string
	srv   *Server
	stop  context.CancelFunc
	errc  chan error
	conn  *grpc.ClientConn
	kv    serverpb.KVClient
	admin serverpb.AdminClient
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startMember(t *testing.T, dir string, bootstrap bool, tweak ...func(*Config)) *member {
	t.Helper()
	cfg := Config{
		DataDir: dir, Name: "m", Bootstrap: bootstrap,
		PeerListener: listen(t), ClientListener: listen(t),
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		RequestTimeout: 3 * time.Second, NoSync: true,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: t, dir: dir, srv: srv, stop: cancel, errc: make(chan error, 1)}
	go func() { m.errc <- srv.Run(ctx) }()
	// With client TLS the tests call as the member itself, whose
	// certificate the tests issue with the admin organization.
	dial := insecure.NewCredentials()
	if !cfg.ClientTLS.Empty() {
		tc, err := tlsconfig.ClientConfig(cfg.ClientTLS)
		if err != nil {
			t.Fatal(err)
		}
		dial = credentials.NewTLS(tc)
	}
	m.conn, err = grpc.NewClient(srv.ClientAddr(), grpc.WithTransportCredentials(dial))
	if err != nil {
		t.Fatal(err)
	}
	m.kv, m.admin = serverpb.NewKVClient(m.conn), serverpb.NewAdminClient(m.conn)
	t.Cleanup(m.close)
	return m
}

func (m *member) close() {
	if m.stop == nil {
		return
	}
	m.conn.Close()
	m.stop()
	if err := <-m.errc; err != nil {
		m.t.Errorf("Run: %v", err)
	}
	m.stop = nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor waits until cond holds, looking again each time the event loop of
// one of srvs handled an event. cond reads state those loops change (their
// atomics, the store, the transports), never through a loop (Status): that
// would be an event of its own and wake the wait again at once.
func waitFor(t *testing.T, what string, cond func() bool, srvs ...*Server) {
	t.Helper()
	if len(srvs) == 0 {
		t.Fatalf("waiting for %s: no servers to wait on", what)
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	cases := make([]reflect.SelectCase, 1+len(srvs))
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline.C)}
	for {
		// Before looking: a change after the look wakes the wait.
		for i, s := range srvs {
			cases[1+i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.changes.next())}
		}
		if cond() {
			return
		}
		if chosen, _, _ := reflect.Select(cases); chosen == 0 {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// applied is the index the member's store applied.
func (m *member) applied() uint64 { return m.srv.store.Load().AppliedIndex() }

func (m *member) status() *serverpb.StatusResponse {
	st, err := m.admin.Status(ctxT(m.t), &serverpb.StatusRequest{})
	if err != nil {
		m.t.Fatalf("Status: %v", err)
	}
	return st
}

func (m *member) waitLeader() {
	m.t.Helper()
	waitFor(m.t, "leadership", func() bool { return m.srv.leader.Load() == m.srv.ID() }, m.srv)
}

func (m *member) put(key, value string) *serverpb.PutResponse {
	m.t.Helper()
	resp, err := m.kv.Put(ctxT(m.t), &serverpb.PutRequest{Key: []byte(key), Value: []byte(value)})
	if err != nil {
		m.t.Fatalf("Put %q: %v", key, err)
	}
	return resp
}

func (m *member) get(key string, c serverpb.Consistency) *kvpb.KeyValue {
	m.t.Helper()
	resp, err := m.kv.Get(ctxT(m.t), &serverpb.GetRequest{Key: []byte(key), Consistency: c})
	if err != nil {
		m.t.Fatalf("Get %q: %v", key, err)
	}
	return resp.GetKv()
}

func (m *member) self() *serverpb.Member {
	return &serverpb.Member{Id: m.srv.ID(), Name: "m", PeerAddress: m.srv.PeerAddr(), ClientAddress: m.srv.ClientAddr()}
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want code %v", what, err, code)
	}
}

func TestBootstrapPutGet(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	resp := a.put("k", "v1")
	if !resp.GetResult().GetSucceeded() || resp.GetHeader().GetClusterId() == 0 || resp.GetHeader().GetMemberId() != a.srv.ID() {
		t.Fatalf("put response %v", resp)
	}
	for _, c := range []serverpb.Consistency{serverpb.Consistency_CONSISTENCY_LINEARIZABLE, serverpb.Consistency_CONSISTENCY_SERIALIZABLE} {
		if kvp := a.get("k", c); string(kvp.GetValue()) != "v1" {
			t.Fatalf("get %v: %v", c, kvp)
		}
	}
	if kvp := a.get("missing", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); kvp != nil {
		t.Fatalf("missing key: %v", kvp)
	}
	st := a.status()
	if got := st.GetConfiguration().GetVoters(); !slices.Equal(got, []uint64{a.srv.ID()}) {
		t.Fatalf("voters %x", got)
	}
	if len(st.GetProgress()) != 1 || st.GetLeader().GetId() != a.srv.ID() || st.GetSelf().GetPeerAddress() == "" {
		t.Fatalf("status %v", st)
	}
}

func TestClusterMembership(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	a.put("before", "joined")
	b := startMember(t, t.TempDir(), false)
	c := startMember(t, t.TempDir(), false, withHTTP(t))
	if b.srv.ClusterID() != 0 {
		t.Fatal("a new member knows a cluster id")
	}
	for _, m := range []*member{b, c} {
		if _, err := a.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: m.self()}); err != nil {
			t.Fatalf("AddLearner: %v", err)
		}
	}
	waitFor(t, "learners to catch up", func() bool {
		return b.srv.ClusterID() == a.srv.ClusterID() && c.srv.ClusterID() == a.srv.ClusterID() &&
			b.get("before", serverpb.Consistency_CONSISTENCY_SERIALIZABLE) != nil &&
			c.get("before", serverpb.Consistency_CONSISTENCY_SERIALIZABLE) != nil
	}, b.srv, c.srv)
	resp, err := a.admin.ChangeMembership(ctxT(t), &serverpb.ChangeMembershipRequest{Changes: []*serverpb.MembershipChange{
		{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: b.srv.ID()},
		{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: c.srv.ID()},
	}})
	if err != nil {
		t.Fatalf("ChangeMembership: %v", err)
	}
	if len(resp.GetConfiguration().GetOutgoingVoters()) == 0 || !resp.GetConfiguration().GetAutoLeave() {
		t.Fatalf("expected a joint configuration with auto leave, got %v", resp.GetConfiguration())
	}
	all := []*member{a, b, c}
	want := slices.Sorted(slices.Values([]uint64{a.srv.ID(), b.srv.ID(), c.srv.ID()}))
	for _, m := range all {
		waitLeft(t, m, resp.GetIndex())
		if cfg := m.status().GetConfiguration(); !slices.Equal(cfg.GetVoters(), want) || len(cfg.GetMembers()) != 3 {
			t.Fatalf("configuration of %x after leaving the joint one: %v", m.srv.ID(), cfg)
		}
	}
	if p := a.status().GetProgress(); len(p) != 3 {
		t.Fatalf("leader progress %v", p)
	}

	// A write through a follower is readable linearizably through another.
	b.put("x", "through-b")
	if kvp := c.get("x", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "through-b" {
		t.Fatalf("linearizable read on c: %v", kvp)
	}

	// Remove c with explicit leave (through follower b, which forwards): the
	// cluster stays joint, a second change is refused, and c learns it was
	// removed once it applies the joint configuration it is only outgoing in.
	_, err = b.admin.ChangeMembership(ctxT(t), &serverpb.ChangeMembershipRequest{ExplicitLeave: true,
		Changes: []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: c.srv.ID()}}})
	if err != nil {
		t.Fatalf("remove c (forwarded by b): %v", err)
	}
	_, err = a.admin.ChangeMembership(ctxT(t), &serverpb.ChangeMembershipRequest{
		Changes: []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: c.srv.ID()}}})
	wantCode(t, err, codes.FailedPrecondition, "change while joint")
	waitFor(t, "c to learn it was removed", c.srv.Removed, c.srv)
	_, err = c.kv.Get(ctxT(t), &serverpb.GetRequest{Key: []byte("x"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	wantCode(t, err, codes.FailedPrecondition, "get on a removed member")
	if !serverpb.HasReason(err, serverpb.ReasonMemberRemoved) {
		t.Fatalf("get on a removed member: %v lacks the %s reason", err, serverpb.ReasonMemberRemoved)
	}
	if code, body := c.httpGet("/readyz?serializable=true"); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]member failed: ") {
		t.Fatalf("/readyz of a removed member = %d %q", code, body)
	}
	lresp, err := a.admin.LeaveJoint(ctxT(t), &serverpb.LeaveJointRequest{})
	if err != nil {
		t.Fatalf("LeaveJoint: %v", err)
	}
	if cfg := lresp.GetConfiguration(); len(cfg.GetOutgoingVoters()) != 0 || len(cfg.GetVoters()) != 2 {
		t.Fatalf("after LeaveJoint: %v", cfg)
	}

	// Leadership moves to b.
	if _, err := a.admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: b.srv.ID()}); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	b.waitLeader()
	_, err = b.admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: c.srv.ID()})
	wantCode(t, err, codes.NotFound, "transfer to a removed member")
	// A removed id is never reused.
	_, err = b.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: c.self()})
	wantCode(t, err, codes.FailedPrecondition, "re-adding a removed id")
	b.put("after", "removal")
	if kvp := a.get("after", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "removal" {
		t.Fatalf("read after removal: %v", kvp)
	}
}

func TestRestartKeepsDataAndIdentity(t *testing.T) {
	dir := t.TempDir()
	small := func(c *Config) { c.SnapshotEntries = 5 }
	a := startMember(t, dir, true, small)
	a.waitLeader()
	id, cluster := a.srv.ID(), a.srv.ClusterID()
	for i := range 12 {
		a.put(fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	before := a.get("k03", serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
	last := a.get("k11", serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
	a.close()

	a = startMember(t, dir, true, small) // Bootstrap is ignored: the dir is not empty
	if a.srv.ID() != id || a.srv.ClusterID() != cluster {
		t.Fatalf("identity changed: %x/%x, was %x/%x", a.srv.ID(), a.srv.ClusterID(), id, cluster)
	}
	a.waitLeader()
	for _, want := range []*kvpb.KeyValue{before, last} {
		got := a.get(string(want.GetKey()), serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
		if !bytes.Equal(got.GetValue(), want.GetValue()) || got.GetModIndex() != want.GetModIndex() || got.GetVersion() != 1 {
			t.Fatalf("after restart %v, want %v", got, want)
		}
	}
	resp, err := a.kv.Range(ctxT(t), &serverpb.RangeRequest{Range: &kvpb.RangeRequest{Key: []byte("k"), Prefix: true}})
	if err != nil || resp.GetRange().GetCount() != 12 {
		t.Fatalf("range after restart: %v %v", resp, err)
	}
	if _, err := a.admin.Snapshot(ctxT(t), &serverpb.SnapshotRequest{}); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	ctx := ctxT(t)
	_, err := a.kv.Put(ctx, &serverpb.PutRequest{Key: nil, Value: []byte("v")})
	wantCode(t, err, codes.InvalidArgument, "empty key")
	_, err = a.kv.Put(ctx, &serverpb.PutRequest{Key: []byte("k"), Value: make([]byte, 1<<20+1)})
	wantCode(t, err, codes.ResourceExhausted, "oversized value")
	_, err = a.kv.Get(ctx, &serverpb.GetRequest{})
	wantCode(t, err, codes.InvalidArgument, "get of empty key")
	_, err = a.admin.ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: []*serverpb.MembershipChange{
		{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: 12345}}})
	wantCode(t, err, codes.NotFound, "unknown member")
	_, err = a.admin.ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: []*serverpb.MembershipChange{
		{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: 12345}}})
	wantCode(t, err, codes.NotFound, "remove of a non-member")
	_, err = a.admin.ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{})
	wantCode(t, err, codes.InvalidArgument, "no changes")
	_, err = a.admin.AddLearner(ctx, &serverpb.AddLearnerRequest{Member: &serverpb.Member{PeerAddress: "x:1"}})
	wantCode(t, err, codes.InvalidArgument, "learner without id")
	_, err = a.admin.LeaveJoint(ctx, &serverpb.LeaveJointRequest{})
	wantCode(t, err, codes.FailedPrecondition, "leave joint when not joint")
	if !serverpb.HasReason(err, serverpb.ReasonChangeInProgress) {
		t.Errorf("leave joint when not joint: %v, want reason %s", err, serverpb.ReasonChangeInProgress)
	}
	_, err = a.admin.ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: []*serverpb.MembershipChange{
		{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: a.srv.ID()}}})
	wantCode(t, err, codes.InvalidArgument, "removing the last voter")
	a.put("still", "works")
}

// A removed learner never receives the change that removes it (the leader stops
// replicating to it at once); it must still learn it was removed.
func TestRemovedLearnerLearnsItWasRemoved(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	a.put("k", "v")
	b := startMember(t, t.TempDir(), false)
	if _, err := a.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: b.self()}); err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	waitFor(t, "the learner to catch up", func() bool {
		return b.get("k", serverpb.Consistency_CONSISTENCY_SERIALIZABLE) != nil
	}, b.srv)
	resp, err := a.admin.ChangeMembership(ctxT(t), &serverpb.ChangeMembershipRequest{
		Changes: []*serverpb.MembershipChange{{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: b.srv.ID()}}})
	if err != nil {
		t.Fatalf("remove the learner: %v", err)
	}
	if !slices.Contains(resp.GetConfiguration().GetRemoved(), b.srv.ID()) {
		t.Fatalf("configuration after removal does not list %x as removed: %v", b.srv.ID(), resp.GetConfiguration())
	}
	waitFor(t, "the removed learner to learn it", b.srv.Removed, b.srv)
	_, err = b.kv.Get(ctxT(t), &serverpb.GetRequest{Key: []byte("k"), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
	if !serverpb.HasReason(err, serverpb.ReasonMemberRemoved) {
		t.Fatalf("serializable get on the removed learner: %v, want the %s reason", err, serverpb.ReasonMemberRemoved)
	}
	// It stays removed across a restart.
	b.close()
	b = startMember(t, b.dir, false)
	if !b.status().GetRemoved() {
		t.Fatal("the removed learner forgot its removal on restart")
	}
}

// threeMembers starts a bootstrapped member and adds two more as voters.
func threeMembers(t *testing.T, tweak ...func(*Config)) []*member {
	t.Helper()
	return voters(t, 3, tweak...)
}

// voters starts a cluster of n voters; the first leads.
func voters(t *testing.T, n int, tweak ...func(*Config)) []*member {
	t.Helper()
	a := startMember(t, t.TempDir(), true, tweak...)
	a.waitLeader()
	ms := []*member{a}
	var changes []*serverpb.MembershipChange
	var srvs []*Server
	for range n - 1 {
		m := startMember(t, t.TempDir(), false, tweak...)
		if _, err := a.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: m.self()}); err != nil {
			t.Fatalf("AddLearner: %v", err)
		}
		changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: m.srv.ID()})
		ms, srvs = append(ms, m), append(srvs, m.srv)
	}
	waitFor(t, "learners to join", func() bool {
		for _, m := range ms {
			if m.srv.ClusterID() != a.srv.ClusterID() {
				return false
			}
		}
		return true
	}, srvs...)
	resp, err := a.admin.ChangeMembership(ctxT(t), &serverpb.ChangeMembershipRequest{Changes: changes})
	if err != nil {
		t.Fatalf("ChangeMembership: %v", err)
	}
	for _, m := range ms {
		waitLeft(t, m, resp.GetIndex())
		if cfg := m.status().GetConfiguration(); len(cfg.GetVoters()) != n {
			t.Fatalf("configuration of %x after leaving the joint one: %v", m.srv.ID(), cfg)
		}
	}
	return ms
}

// waitLeft waits until m applied the leave of the joint configuration entered
// with automatic leave at index joint, and checks that it did. The leader
// proposes the leave once it applied the joint configuration: with no other
// proposal in flight, it is the next entry. (The configuration is read
// through the loop only once: read there in the wait, each look would be an
// event that wakes the wait again.)
func waitLeft(t *testing.T, m *member, joint uint64) {
	t.Helper()
	waitFor(t, "the joint configuration to be left", func() bool { return m.applied() > joint }, m.srv)
	if cfg := m.status().GetConfiguration(); len(cfg.GetOutgoingVoters()) != 0 || cfg.GetAutoLeave() {
		t.Fatalf("member %x applied index %d, after the joint configuration at %d, and is still joint: %v",
			m.srv.ID(), m.applied(), joint, cfg)
	}
}

// The sending side learns where the members connect from (the receiving
// side, a transport of its own, sees it): where a restarted pod is reached
// while the cluster DNS still answers with its old address or none.
func TestSendersLearnWhereMembersConnectFrom(t *testing.T) {
	ms := threeMembers(t)
	leader := ms[0]
	for _, f := range ms[1:] {
		// Followers send to the leader and the leader to them; followers
		// need not talk to each other.
		waitFor(t, "the leader seeing a follower's address", func() bool {
			return leader.srv.out.Load().SeenAddress(f.srv.ID()) == "127.0.0.1"
		}, leader.srv, f.srv)
		waitFor(t, "a follower seeing the leader's address", func() bool {
			return f.srv.out.Load().SeenAddress(leader.srv.ID()) == "127.0.0.1"
		}, leader.srv, f.srv)
	}
}

// A leader stopped gracefully hands leadership over first. The election
// timeout here is far longer than the test's wait: only a transfer can elect
// a new leader in time.
func TestGracefulStopHandsOffLeadership(t *testing.T) {
	ms := threeMembers(t, func(c *Config) { c.ElectionTicks = 2000 })
	a := ms[0]
	a.put("k", "v")
	term := a.status().GetHeader().GetTerm()
	a.close()
	b := ms[1]
	waitFor(t, "a new leader after the leader stopped gracefully", func() bool {
		lead := b.srv.leader.Load()
		return lead != 0 && lead != a.srv.ID()
	}, b.srv)
	// Read through the loop once: the leader and the term of one moment.
	st := b.status()
	if lead := st.GetHeader().GetLeaderId(); lead == 0 || lead == a.srv.ID() || st.GetHeader().GetTerm() != term+1 {
		t.Fatalf("after the hand-off b sees leader %x in term %d, want a new leader in term %d", lead, st.GetHeader().GetTerm(), term+1)
	}
	if kvp := b.get("k", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "v" {
		t.Fatalf("after hand-off: %v", kvp)
	}
}

// Of two voters, the one left can only win with the stopped leader's vote: the
// leader waits for the new leader's word before it stops, so that its vote,
// sent once synced, is not lost with the process (which would cost the
// transferee an election timeout, here far longer than the test's wait).
func TestGracefulStopOfOneOfTwoHandsOff(t *testing.T) {
	ms := voters(t, 2, func(c *Config) { c.ElectionTicks = 2000 })
	a, b := ms[0], ms[1]
	a.put("k", "v")
	a.close()
	// b leads (a quorum of one of two can serve nothing more, with a gone).
	waitFor(t, "b to lead after the leader stopped gracefully", func() bool { return b.srv.leader.Load() == b.srv.ID() }, b.srv)
	if kvp := b.get("k", serverpb.Consistency_CONSISTENCY_SERIALIZABLE); string(kvp.GetValue()) != "v" {
		t.Fatalf("after hand-off: %v", kvp)
	}
}

// A follower asked to hand leadership to another follower forwards the request
// to the leader.
func TestTransferLeadershipAskedOfAFollower(t *testing.T) {
	ms := threeMembers(t)
	a, b, c := ms[0], ms[1], ms[2]
	if _, err := b.admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: c.srv.ID()}); err != nil {
		t.Fatalf("TransferLeadership through follower b: %v", err)
	}
	c.waitLeader()
	if lead := a.status().GetHeader().GetLeaderId(); lead != c.srv.ID() {
		t.Fatalf("a sees leader %x, want %x", lead, c.srv.ID())
	}
	// Asking for the leader that already leads is a no-op.
	if _, err := a.admin.TransferLeadership(ctxT(t), &serverpb.TransferLeadershipRequest{To: c.srv.ID()}); err != nil {
		t.Fatalf("TransferLeadership to the current leader: %v", err)
	}
}
