// Package clienttest runs fake raftkube members in-process for tests of code
// that uses raftnode/client: a tiny shared key-value store and membership
// behind the real KV and Admin gRPC services on 127.0.0.1, with knobs to take a
// member down, make it report another leader, hang or fail a method.
package clienttest

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// RemovedError is the status a removed member answers with, as the real
// server sends it.
func RemovedError() error {
	return serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonMemberRemoved, "member was removed from the cluster")
}

// NotProposedError is the status a member answers a request it did not
// propose with (no leader, a transfer in progress), as the real server sends it.
func NotProposedError() error {
	return serverpb.ReasonError(codes.Unavailable, serverpb.ReasonNotProposed, "proposal dropped (no leader)")
}

// NotMemberError is the status a member in no configuration answers with, as
// the real server sends it; leader, when not nil, is the leader it names.
func NotMemberError(leader *Member) error {
	var md map[string]string
	if leader != nil {
		md = map[string]string{serverpb.MetadataLeaderID: strconv.FormatUint(leader.ID, 16), serverpb.MetadataLeaderAddress: leader.Addr}
	}
	return serverpb.ReasonErrorWithMetadata(codes.Unavailable, serverpb.ReasonNotMember, "not in the configuration", md)
}

// UnauthenticatedError is the status a member that verifies client
// certificates answers a call without one with, as the real server sends it.
func UnauthenticatedError() error {
	return serverpb.ReasonError(codes.Unauthenticated, serverpb.ReasonUnauthenticated,
		"this member requires a client certificate signed by the cluster's CA")
}

// PermissionDeniedError is the status a member answers an admin call with
// when the caller's certificate lacks the admin organization, as the real
// server sends it.
func PermissionDeniedError() error {
	return serverpb.ReasonError(codes.PermissionDenied, serverpb.ReasonPermissionDenied,
		`Admin/AddLearner needs a client certificate with organization "raftkube:admin"; the caller's certificate "CN=app" has none such`)
}

// Cluster is a set of fake members sharing one store and configuration.
type Cluster struct {
	// Members are the fake members, ids 1..n.
	Members []*Member

	mu     sync.Mutex
	kvs    map[string]*kvpb.KeyValue
	index  uint64
	leader uint64
	config *serverpb.Configuration
}

// Member is one fake member serving KV and Admin on Addr.
type Member struct {
	serverpb.UnimplementedKVServer
	serverpb.UnimplementedAdminServer

	ID   uint64
	Name string
	// Addr is the member's client address, 127.0.0.1:port.
	Addr string

	c   *Cluster
	srv *grpc.Server

	mu           sync.Mutex
	calls        map[string]int
	fail         map[string]error
	hang         map[string]bool
	drop         map[string]bool
	reportLeader uint64
	tls          *serverpb.TLSStatus
	streamErr    error
}

// Start runs n members on 127.0.0.1:0; member 1 leads and all are voters. They
// stop when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartTLS(t, n, nil)
}

// StartTLS is Start with the members serving TLS with tlsConf (nil: plaintext).
func StartTLS(t testing.TB, n int, tlsConf *tls.Config) *Cluster {
	t.Helper()
	var opts []grpc.ServerOption
	if tlsConf != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
	}
	c := &Cluster{kvs: make(map[string]*kvpb.KeyValue), leader: 1, config: &serverpb.Configuration{}}
	for i := 1; i <= n; i++ {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		m := &Member{ID: uint64(i), Name: "m" + string(rune('0'+i)), Addr: lis.Addr().String(), c: c,
			calls: map[string]int{}, fail: map[string]error{}, hang: map[string]bool{}, drop: map[string]bool{}}
		m.srv = grpc.NewServer(opts...)
		serverpb.RegisterKVServer(m.srv, m)
		serverpb.RegisterAdminServer(m.srv, m)
		go func() { _ = m.srv.Serve(lis) }()
		c.Members = append(c.Members, m)
		c.config.Voters = append(c.config.Voters, m.ID)
		c.config.Members = append(c.config.Members, &serverpb.Member{Id: m.ID, Name: m.Name,
			PeerAddress: "peer-" + m.Name + ":2380", ClientAddress: m.Addr})
	}
	t.Cleanup(c.Stop)
	return c
}

// Stop stops every member.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// Endpoints are the members' addresses in id order.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Addr)
	}
	return eps
}

// SetLeader makes id the leader every member reports (unless overridden).
func (c *Cluster) SetLeader(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = id
}

// Configuration returns a copy of the current configuration.
func (c *Cluster) Configuration() *serverpb.Configuration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return proto.Clone(c.config).(*serverpb.Configuration)
}

// Value returns the stored value of key.
func (c *Cluster) Value(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kv, ok := c.kvs[key]
	return kv.GetValue(), ok
}

// Stop takes the member down for good: its port then refuses connections.
func (m *Member) Stop() {
	m.srv.Stop()
}

// ReportLeader makes this member claim id leads (0: the cluster's leader).
func (m *Member) ReportLeader(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reportLeader = id
}

// SetTLSStatus makes Status report st as the member's TLS material.
func (m *Member) SetTLSStatus(st *serverpb.TLSStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tls = st
}

// Fail makes every call of method ("Put", "Status", ...) fail with err; nil
// clears it.
func (m *Member) Fail(method string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.fail, method)
	} else {
		m.fail[method] = err
	}
}

// Hang makes every call of method block until its context ends, after the
// request was received (and, for writes, applied: the worst case for a client).
func (m *Member) Hang(method string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hang[method] = on
}

// Drop makes the member, on the next call of method, apply it (for writes)
// and then close every connection instead of answering, for good: the client
// sent the request and the connection broke before a reply (a member that
// died mid-request).
func (m *Member) Drop(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop[method] = true
}

// Calls is how many calls of method reached this member.
func (m *Member) Calls(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method]
}

// enter counts a call and returns the configured failure, if any; a dropped
// call counts as hanging, and leave then breaks the connections.
func (m *Member) enter(method string) (hang bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[method]++
	return m.hang[method] || m.drop[method], m.fail[method]
}

// wait blocks a hanging call until ctx ends; a dropped one stops the
// member, which ends ctx.
func (m *Member) wait(ctx context.Context, method string, hang bool) error {
	if !hang {
		return nil
	}
	m.mu.Lock()
	drop := m.drop[method]
	m.mu.Unlock()
	if drop {
		// Stop from another goroutine: it closes this call's connection,
		// which cancels ctx, and the handler must return for Stop to end.
		go m.srv.Stop()
	}
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

func (m *Member) header() *serverpb.ResponseHeader {
	m.mu.Lock()
	lead := m.reportLeader
	m.mu.Unlock()
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if lead == 0 {
		lead = m.c.leader
	}
	return &serverpb.ResponseHeader{ClusterId: 42, MemberId: m.ID, LeaderId: lead, Term: 3, AppliedIndex: m.c.index}
}

// Put implements serverpb.KVServer.
func (m *Member) Put(ctx context.Context, req *serverpb.PutRequest) (*serverpb.PutResponse, error) {
	hang, err := m.enter("Put")
	if err != nil {
		return nil, err
	}
	if len(req.GetKey()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "empty key")
	}
	res := m.c.put(req.GetKey(), req.GetValue())
	if err := m.wait(ctx, "Put", hang); err != nil {
		return nil, err
	}
	return &serverpb.PutResponse{Header: m.header(), Result: res}, nil
}

// Get implements serverpb.KVServer.
func (m *Member) Get(ctx context.Context, req *serverpb.GetRequest) (*serverpb.GetResponse, error) {
	hang, err := m.enter("Get")
	if err == nil {
		err = m.wait(ctx, "Get", hang)
	}
	if err != nil {
		return nil, err
	}
	m.c.mu.Lock()
	kv := m.c.kvs[string(req.GetKey())]
	if kv != nil {
		kv = proto.Clone(kv).(*kvpb.KeyValue)
	}
	m.c.mu.Unlock()
	return &serverpb.GetResponse{Header: m.header(), Kv: kv}, nil
}

// Delete implements serverpb.KVServer.
func (m *Member) Delete(ctx context.Context, req *serverpb.DeleteRequest) (*serverpb.DeleteResponse, error) {
	hang, err := m.enter("Delete")
	if err != nil {
		return nil, err
	}
	d := req.GetDelete()
	m.c.mu.Lock()
	m.c.index++
	res := &kvpb.Result{Succeeded: true, AppliedIndex: m.c.index}
	keys := m.c.keysLocked(d.GetKey(), d.GetRangeEnd(), d.GetPrefix())
	if len(keys) == 1 && !d.GetPrefix() && len(d.GetRangeEnd()) == 0 {
		res.Prev = m.c.kvs[keys[0]]
	}
	for _, k := range keys {
		delete(m.c.kvs, k)
	}
	res.Deleted = int64(len(keys))
	m.c.mu.Unlock()
	if err := m.wait(ctx, "Delete", hang); err != nil {
		return nil, err
	}
	return &serverpb.DeleteResponse{Header: m.header(), Result: res}, nil
}

// Range implements serverpb.KVServer.
func (m *Member) Range(ctx context.Context, req *serverpb.RangeRequest) (*serverpb.RangeResponse, error) {
	hang, err := m.enter("Range")
	if err == nil {
		err = m.wait(ctx, "Range", hang)
	}
	if err != nil {
		return nil, err
	}
	r := req.GetRange()
	m.c.mu.Lock()
	keys := m.c.keysLocked(r.GetKey(), r.GetRangeEnd(), r.GetPrefix())
	out := &kvpb.RangeResponse{Count: int64(len(keys)), AppliedIndex: m.c.index}
	for _, k := range keys {
		if r.GetLimit() > 0 && int64(len(out.Kvs)) == r.GetLimit() {
			out.More = true
			break
		}
		out.Kvs = append(out.Kvs, proto.Clone(m.c.kvs[k]).(*kvpb.KeyValue))
	}
	m.c.mu.Unlock()
	return &serverpb.RangeResponse{Header: m.header(), Range: out}, nil
}

// CompareAndSwap implements serverpb.KVServer.
func (m *Member) CompareAndSwap(ctx context.Context, req *serverpb.CompareAndSwapRequest) (*serverpb.CompareAndSwapResponse, error) {
	hang, err := m.enter("CompareAndSwap")
	if err != nil {
		return nil, err
	}
	cas := req.GetCas()
	m.c.mu.Lock()
	cur := m.c.kvs[string(cas.GetKey())]
	var ok bool
	switch e := cas.GetExpected().(type) {
	case *kvpb.CompareAndSwap_ExpectedValue:
		ok = cur != nil && bytes.Equal(cur.GetValue(), e.ExpectedValue)
	case *kvpb.CompareAndSwap_ExpectedModIndex:
		ok = cur.GetModIndex() == e.ExpectedModIndex
	}
	m.c.index++
	res := &kvpb.Result{Succeeded: ok, Prev: cur, ModIndex: cur.GetModIndex(), AppliedIndex: m.c.index}
	m.c.mu.Unlock()
	if ok && cas.GetDelete() {
		m.c.mu.Lock()
		delete(m.c.kvs, string(cas.GetKey()))
		res.ModIndex = 0
		res.Deleted = 1
		m.c.mu.Unlock()
	} else if ok {
		r := m.c.put(cas.GetKey(), cas.GetValue())
		res.ModIndex, res.AppliedIndex = r.ModIndex, r.AppliedIndex
	}
	if err := m.wait(ctx, "CompareAndSwap", hang); err != nil {
		return nil, err
	}
	return &serverpb.CompareAndSwapResponse{Header: m.header(), Result: res}, nil
}

func (c *Cluster) put(key, value []byte) *kvpb.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index++
	prev := c.kvs[string(key)]
	kv := &kvpb.KeyValue{Key: key, Value: value, CreateIndex: c.index, ModIndex: c.index, Version: 1}
	if prev != nil {
		kv.CreateIndex, kv.Version = prev.CreateIndex, prev.Version+1
	}
	c.kvs[string(key)] = kv
	return &kvpb.Result{Succeeded: true, Prev: prev, ModIndex: c.index, AppliedIndex: c.index}
}

// keysLocked returns the sorted keys chosen as in kvpb.Delete.
func (c *Cluster) keysLocked(key, end []byte, prefix bool) []string {
	var keys []string
	for k := range c.kvs {
		kb := []byte(k)
		switch {
		case prefix:
			if bytes.HasPrefix(kb, key) {
				keys = append(keys, k)
			}
		case bytes.Equal(end, []byte{0}):
			if bytes.Compare(kb, key) >= 0 {
				keys = append(keys, k)
			}
		case len(end) > 0:
			if bytes.Compare(kb, key) >= 0 && bytes.Compare(kb, end) < 0 {
				keys = append(keys, k)
			}
		default:
			if k == string(key) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// Status implements serverpb.AdminServer.
func (m *Member) Status(ctx context.Context, _ *serverpb.StatusRequest) (*serverpb.StatusResponse, error) {
	hang, err := m.enter("Status")
	if err == nil {
		err = m.wait(ctx, "Status", hang)
	}
	if err != nil {
		return nil, err
	}
	h := m.header()
	m.mu.Lock()
	tlsSt := proto.Clone(m.tls).(*serverpb.TLSStatus)
	m.mu.Unlock()
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	st := &serverpb.StatusResponse{
		Header: h, Role: serverpb.Role_ROLE_FOLLOWER, CommitIndex: m.c.index, AppliedIndex: m.c.index,
		Configuration: proto.Clone(m.c.config).(*serverpb.Configuration), Tls: tlsSt,
	}
	for _, mm := range m.c.config.GetMembers() {
		if mm.GetId() == m.ID {
			st.Self = mm
		}
		if mm.GetId() == h.GetLeaderId() {
			st.Leader = mm
		}
	}
	if h.GetLeaderId() == m.ID {
		st.Role = serverpb.Role_ROLE_LEADER
		for _, id := range m.c.allIDsLocked() {
			st.Progress = append(st.Progress, &serverpb.Progress{Id: id, MatchIndex: m.c.index, NextIndex: m.c.index + 1,
				State: "replicate", RecentActive: true, Learner: slices.Contains(m.c.config.Learners, id)})
		}
	}
	return st, nil
}

func (c *Cluster) allIDsLocked() []uint64 {
	var ids []uint64
	for _, set := range [][]uint64{c.config.Voters, c.config.OutgoingVoters, c.config.Learners} {
		for _, id := range set {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func (m *Member) membership(ctx context.Context, method string, change func(*serverpb.Configuration) error) (*serverpb.MembershipResponse, error) {
	hang, err := m.enter(method)
	if err != nil {
		return nil, err
	}
	m.c.mu.Lock()
	err = change(m.c.config)
	if err == nil {
		m.c.index++
	}
	idx, cfg := m.c.index, proto.Clone(m.c.config).(*serverpb.Configuration)
	m.c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := m.wait(ctx, method, hang); err != nil {
		return nil, err
	}
	return &serverpb.MembershipResponse{Header: m.header(), Configuration: cfg, Index: idx}, nil
}

// AddLearner implements serverpb.AdminServer.
func (m *Member) AddLearner(ctx context.Context, req *serverpb.AddLearnerRequest) (*serverpb.MembershipResponse, error) {
	return m.membership(ctx, "AddLearner", func(cfg *serverpb.Configuration) error {
		nm := req.GetMember()
		if nm.GetId() == 0 {
			return status.Error(codes.InvalidArgument, "member id required")
		}
		cfg.Learners = append(cfg.Learners, nm.GetId())
		cfg.Members = append(cfg.Members, nm)
		return nil
	})
}

// ChangeMembership implements serverpb.AdminServer.
func (m *Member) ChangeMembership(ctx context.Context, req *serverpb.ChangeMembershipRequest) (*serverpb.MembershipResponse, error) {
	return m.membership(ctx, "ChangeMembership", func(cfg *serverpb.Configuration) error {
		if len(cfg.OutgoingVoters) > 0 {
			return status.Error(codes.FailedPrecondition, "a membership change is pending")
		}
		old := slices.Clone(cfg.Voters)
		for _, ch := range req.GetChanges() {
			id := ch.GetId()
			if !slices.Contains(cfg.Voters, id) && !slices.Contains(cfg.Learners, id) && ch.GetType() != serverpb.MembershipChange_TYPE_ADD_LEARNER {
				return status.Errorf(codes.NotFound, "unknown member %x", id)
			}
			cfg.Voters = slices.DeleteFunc(cfg.Voters, func(v uint64) bool { return v == id })
			cfg.Learners = slices.DeleteFunc(cfg.Learners, func(v uint64) bool { return v == id })
			switch ch.GetType() {
			case serverpb.MembershipChange_TYPE_ADD_VOTER:
				cfg.Voters = append(cfg.Voters, id)
			case serverpb.MembershipChange_TYPE_ADD_LEARNER:
				cfg.Learners = append(cfg.Learners, id)
				if ch.GetMember() != nil {
					cfg.Members = append(cfg.Members, ch.GetMember())
				}
			}
		}
		if req.GetExplicitLeave() {
			cfg.OutgoingVoters = old
		}
		return nil
	})
}

// LeaveJoint implements serverpb.AdminServer.
func (m *Member) LeaveJoint(ctx context.Context, _ *serverpb.LeaveJointRequest) (*serverpb.MembershipResponse, error) {
	return m.membership(ctx, "LeaveJoint", func(cfg *serverpb.Configuration) error {
		if len(cfg.OutgoingVoters) == 0 {
			return status.Error(codes.FailedPrecondition, "not in a joint configuration")
		}
		cfg.OutgoingVoters = nil
		return nil
	})
}

// TransferLeadership implements serverpb.AdminServer.
func (m *Member) TransferLeadership(ctx context.Context, req *serverpb.TransferLeadershipRequest) (*serverpb.TransferLeadershipResponse, error) {
	if _, err := m.enter("TransferLeadership"); err != nil {
		return nil, err
	}
	m.c.mu.Lock()
	ok := slices.Contains(m.c.config.Voters, req.GetTo())
	if ok {
		m.c.leader = req.GetTo()
	}
	m.c.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%x is not a voter", req.GetTo())
	}
	return &serverpb.TransferLeadershipResponse{Header: m.header()}, nil
}

// Snapshot implements serverpb.AdminServer.
func (m *Member) Snapshot(ctx context.Context, _ *serverpb.SnapshotRequest) (*serverpb.SnapshotResponse, error) {
	if _, err := m.enter("Snapshot"); err != nil {
		return nil, err
	}
	h := m.header()
	return &serverpb.SnapshotResponse{Header: h, Index: h.GetAppliedIndex()}, nil
}

// DownAddr returns a 127.0.0.1 address nothing listens on.
func DownAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// ForceNewCluster implements serverpb.AdminServer: the member becomes the
// only voter and the leader, the others are recorded as removed. Like the
// real server, it refuses while the member reports a leader (the cluster's,
// unless ReportLeader says otherwise; ReportLeader(0) with SetLeader(0) is
// "no leader").
func (m *Member) ForceNewCluster(ctx context.Context, req *serverpb.ForceNewClusterRequest) (*serverpb.MembershipResponse, error) {
	if !req.GetConfirm() {
		return nil, status.Error(codes.InvalidArgument, "confirm is required")
	}
	if lead := m.header().GetLeaderId(); lead != 0 {
		return nil, serverpb.ReasonErrorWithMetadata(codes.FailedPrecondition, serverpb.ReasonHasLeader, "a leader is known",
			map[string]string{serverpb.MetadataLeaderID: strconv.FormatUint(lead, 16)})
	}
	resp, err := m.membership(ctx, "ForceNewCluster", func(cfg *serverpb.Configuration) error {
		for _, id := range slices.Concat(cfg.Voters, cfg.OutgoingVoters, cfg.Learners) {
			if id != m.ID && !slices.Contains(cfg.Removed, id) {
				cfg.Removed = append(cfg.Removed, id)
			}
		}
		cfg.Voters, cfg.OutgoingVoters, cfg.Learners = []uint64{m.ID}, nil, nil
		return nil
	})
	if err == nil {
		m.c.SetLeader(m.ID)
	}
	return resp, err
}
