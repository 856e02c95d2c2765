package controllers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// fakeRaft is a small model of a Raft cluster of raftnode members, reached
// through the MemberClients its factory opens. Every membership call is
// recorded and applied to the model at once, as if committed and applied:
// the reconciler sees the result on its next pass.
//
// A member's identity lives on its volume: a pod that comes back on the same
// claim (same UID) is the same member, a new claim makes a new member.
type fakeRaft struct {
	mu sync.Mutex
	ns string

	clusterID uint64
	term      uint64
	commit    uint64
	leader    uint64
	nextID    uint64
	nodes     []*fakeNode

	// The configuration. Invariant: outgoing and learnersNext are empty
	// unless joint.
	voters, outgoing, learners, learnersNext []uint64
	removed                                  []uint64
	members                                  map[uint64]*serverpb.Member

	// holdJoint keeps a joint configuration until LeaveJoint, as if the
	// leader had not yet left it by itself.
	holdJoint bool
	// learnerLag: a new learner starts this many entries behind.
	learnerLag uint64

	// calls are the membership calls made, in order, as strings.
	calls []string
	// fail makes the next call of the method fail with the error.
	fail map[string]error
	// opened and closed count the clients.
	opened, closed int
}

type fakeNode struct {
	id        uint64
	name      string
	claim     types.UID
	endpoint  string // "" while its pod is gone
	clusterID uint64
	removed   bool
	lag       uint64
	// tls is what the member reports it loaded (see harness.loadCertificates).
	tls *serverpb.TLSStatus
}

func newFakeRaft(ns string) *fakeRaft {
	return &fakeRaft{ns: ns, nextID: 0x101, members: map[uint64]*serverpb.Member{}, fail: map[string]error{}}
}

func (f *fakeRaft) address(name string, port int) string {
	return fmt.Sprintf("%s.demo-peer.%s.svc.cluster.local:%d", name, f.ns, port)
}

// start runs a member for pod name on the claim, reached at endpoint. A
// new member on an empty volume founds the cluster when bootstrap is set
// (the pod is named in the bootstrap ConfigMap), else waits to be added.
func (f *fakeRaft) start(name string, claim types.UID, endpoint string, bootstrap bool) *fakeNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n *fakeNode
	for _, old := range f.nodes {
		if old.claim == claim {
			n = old
		}
	}
	if n == nil {
		n = &fakeNode{id: f.nextID, name: name, claim: claim}
		f.nextID++
		f.nodes = append(f.nodes, n)
	}
	n.endpoint = endpoint
	// Like raftnode: bootstrap mode founds a cluster only on a volume that
	// holds none.
	if bootstrap && n.clusterID == 0 {
		f.clusterID, f.term, f.commit, f.leader = 0xc1, 1, 1, n.id
		f.voters = []uint64{n.id}
		f.members[n.id] = n.member(f)
		n.clusterID = f.clusterID
	}
	return n
}

// stop takes the member at endpoint down (its pod is gone).
func (f *fakeRaft) stop(endpoint string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.endpoint == endpoint {
			n.endpoint = ""
		}
	}
}

func (n *fakeNode) member(f *fakeRaft) *serverpb.Member {
	return &serverpb.Member{Id: n.id, Name: n.name, PeerAddress: f.address(n.name, peerPort), ClientAddress: f.address(n.name, clientPort)}
}

// idOf is the id of the member that pod name runs now.
func (f *fakeRaft) idOf(name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id uint64
	for _, n := range f.nodes {
		if n.name == name && n.endpoint != "" {
			id = n.id
		}
	}
	return id
}

func (f *fakeRaft) node(id uint64) *fakeNode {
	for _, n := range f.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// elect makes id the leader, as an election would.
func (f *fakeRaft) elect(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader = id
	f.term++
}

// catchUp lets every learner catch up.
func (f *fakeRaft) catchUp() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		n.lag = 0
	}
}

func (f *fakeRaft) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeRaft) config() *serverpb.Configuration {
	c := &serverpb.Configuration{
		Voters: slices.Clone(f.voters), OutgoingVoters: slices.Clone(f.outgoing),
		Learners: slices.Clone(f.learners), LearnersNext: slices.Clone(f.learnersNext),
		Removed: slices.Clone(f.removed), AutoLeave: !f.holdJoint,
	}
	for _, id := range f.configIDs() {
		c.Members = append(c.Members, f.members[id])
	}
	return c
}

func (f *fakeRaft) configIDs() []uint64 {
	ids := slices.Concat(f.voters, f.outgoing, f.learners, f.learnersNext)
	slices.Sort(ids)
	return slices.Compact(ids)
}

func (f *fakeRaft) status(n *fakeNode) *serverpb.StatusResponse {
	st := &serverpb.StatusResponse{
		Header:  &serverpb.ResponseHeader{ClusterId: n.clusterID, MemberId: n.id, Term: f.term},
		Self:    n.member(f),
		Role:    serverpb.Role_ROLE_FOLLOWER,
		Removed: n.removed,
		Tls:     n.tls,
	}
	if n.clusterID == 0 || n.removed {
		return st
	}
	st.Header.LeaderId = f.leader
	st.Configuration = f.config()
	st.CommitIndex = f.commit
	if n.id == f.leader {
		st.Role = serverpb.Role_ROLE_LEADER
		for _, id := range f.configIDs() {
			m := f.node(id)
			st.Progress = append(st.Progress, &serverpb.Progress{
				Id: id, MatchIndex: f.commit - min(m.lag, f.commit), RecentActive: m.endpoint != "",
				Learner: slices.Contains(f.learners, id),
			})
		}
	}
	return st
}

// factory is the reconciler's ClientFactory.
func (f *fakeRaft) factory(_ context.Context, endpoints []string, _ *tls.Config) (MemberClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened++
	return &fakeClient{f: f, endpoints: endpoints}, nil
}

// fakeClient is one pass's client of the fake cluster.
type fakeClient struct {
	f         *fakeRaft
	endpoints []string
}

var _ MemberClient = (*fakeClient)(nil)

func (c *fakeClient) ClusterStatus(context.Context) ([]client.EndpointStatus, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]client.EndpointStatus, len(c.endpoints))
	for i, ep := range c.endpoints {
		out[i].Endpoint = ep
		j := slices.IndexFunc(f.nodes, func(n *fakeNode) bool { return n.endpoint == ep })
		if j < 0 {
			out[i].Err = fmt.Errorf("dial %s: connection refused", ep)
			continue
		}
		out[i].Status = f.status(f.nodes[j])
	}
	return out, nil
}

// call records a membership call and checks that it can be made: not set
// to fail, and the leader reachable through this client's endpoints.
func (c *fakeClient) call(method, args string) error {
	f := c.f
	rec := strings.TrimSpace(method + " " + args)
	if err := f.fail[method]; err != nil {
		delete(f.fail, method)
		f.calls = append(f.calls, rec+" -> error")
		return err
	}
	f.calls = append(f.calls, rec)
	if l := f.node(f.leader); l == nil || l.endpoint == "" || !slices.Contains(c.endpoints, l.endpoint) {
		return errors.New("no leader reachable")
	}
	return nil
}

func (c *fakeClient) AddLearner(_ context.Context, m *serverpb.Member) (*serverpb.MembershipResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.call("AddLearner", fmt.Sprintf("%x %s peer=%s client=%s", m.GetId(), m.GetName(), m.GetPeerAddress(), m.GetClientAddress())); err != nil {
		return nil, err
	}
	if slices.Contains(f.configIDs(), m.GetId()) || slices.Contains(f.removed, m.GetId()) || f.joint() {
		return nil, fmt.Errorf("member %x is or was in the configuration, or the configuration is joint", m.GetId())
	}
	n := f.node(m.GetId())
	if n == nil {
		return nil, fmt.Errorf("no member %x runs", m.GetId())
	}
	f.learners = append(f.learners, m.GetId())
	f.members[m.GetId()] = m
	// The cluster has taken writes the new learner has yet to fetch.
	f.commit += 1 + f.learnerLag
	n.clusterID, n.lag = f.clusterID, f.learnerLag
	return &serverpb.MembershipResponse{Configuration: f.config()}, nil
}

func (f *fakeRaft) joint() bool { return len(f.outgoing) > 0 }

func (c *fakeClient) ChangeMembership(_ context.Context, changes []*serverpb.MembershipChange, explicitLeave bool) (*serverpb.MembershipResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var args []string
	for _, ch := range changes {
		args = append(args, fmt.Sprintf("%s:%x", strings.TrimPrefix(ch.GetType().String(), "TYPE_"), ch.GetId()))
	}
	if err := c.call("ChangeMembership", fmt.Sprintf("%s explicitLeave=%v", strings.Join(args, " "), explicitLeave)); err != nil {
		return nil, err
	}
	if f.joint() {
		return nil, errors.New("the configuration is joint")
	}
	voters, learners := slices.Clone(f.voters), slices.Clone(f.learners)
	for _, ch := range changes {
		id := ch.GetId()
		switch ch.GetType() {
		case serverpb.MembershipChange_TYPE_ADD_VOTER:
			if f.members[id] == nil {
				return nil, fmt.Errorf("unknown member %x", id)
			}
			learners = slices.DeleteFunc(learners, func(x uint64) bool { return x == id })
			if !slices.Contains(voters, id) {
				voters = append(voters, id)
			}
		case serverpb.MembershipChange_TYPE_REMOVE:
			if !slices.Contains(f.configIDs(), id) {
				return nil, fmt.Errorf("member %x is not in the configuration", id)
			}
			voters = slices.DeleteFunc(voters, func(x uint64) bool { return x == id })
			learners = slices.DeleteFunc(learners, func(x uint64) bool { return x == id })
		default:
			return nil, fmt.Errorf("unexpected change %v", ch.GetType())
		}
	}
	slices.Sort(voters)
	if !slices.Equal(voters, sortedCopy(f.voters)) {
		f.outgoing = f.voters
	}
	f.voters, f.learners = voters, learners
	f.commit++
	if !f.joint() || (!explicitLeave && !f.holdJoint) {
		f.leaveJoint()
	}
	return &serverpb.MembershipResponse{Configuration: f.config()}, nil
}

func sortedCopy(ids []uint64) []uint64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// leaveJoint applies the configuration's incoming half: members no longer
// in it learn they were removed.
func (f *fakeRaft) leaveJoint() {
	if f.joint() {
		f.commit++
	}
	f.outgoing, f.learnersNext = nil, nil
	for _, n := range f.nodes {
		if n.clusterID != 0 && !n.removed && !slices.Contains(f.configIDs(), n.id) {
			n.removed = true
			f.removed = append(f.removed, n.id)
		}
	}
}

func (c *fakeClient) LeaveJoint(context.Context) (*serverpb.MembershipResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.call("LeaveJoint", ""); err != nil {
		return nil, err
	}
	if !f.joint() {
		return nil, errors.New("the configuration is not joint")
	}
	f.leaveJoint()
	return &serverpb.MembershipResponse{Configuration: f.config()}, nil
}

func (c *fakeClient) TransferLeadership(_ context.Context, to uint64) (*serverpb.TransferLeadershipResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.call("TransferLeadership", fmt.Sprintf("%x", to)); err != nil {
		return nil, err
	}
	if !slices.Contains(f.voters, to) {
		return nil, fmt.Errorf("%x is not a voter", to)
	}
	f.leader = to
	f.term++
	return &serverpb.TransferLeadershipResponse{}, nil
}

func (c *fakeClient) Close() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.closed++
	return nil
}

// testEvent is one event the reconciler recorded.
type testEvent struct {
	Type, Reason, Action, Note string
}

// fakeRecorder records events in memory; it implements
// recorder.EventRecorder.
type fakeRecorder struct {
	mu     sync.Mutex
	events []testEvent
}

func (r *fakeRecorder) Eventf(_, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, testEvent{Type: eventtype, Reason: reason, Action: action, Note: fmt.Sprintf(note, args...)})
}

func (r *fakeRecorder) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...any) {
	r.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// take returns the events recorded since the last take.
func (r *fakeRecorder) take() []testEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// ForceNewCluster makes the member at endpoint the only voter, as the node
// does, when no leader is reachable.
func (c *fakeClient) ForceNewCluster(_ context.Context, endpoint string) (*serverpb.MembershipResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["ForceNewCluster"]; err != nil {
		delete(f.fail, "ForceNewCluster")
		f.calls = append(f.calls, "ForceNewCluster "+endpoint+" -> error")
		return nil, err
	}
	f.calls = append(f.calls, "ForceNewCluster "+endpoint)
	j := slices.IndexFunc(f.nodes, func(n *fakeNode) bool { return n.endpoint == endpoint })
	if j < 0 {
		return nil, fmt.Errorf("dial %s: connection refused", endpoint)
	}
	n := f.nodes[j]
	for _, id := range f.configIDs() {
		if id != n.id {
			f.removed = append(f.removed, id)
		}
	}
	f.voters, f.outgoing, f.learners, f.leader = []uint64{n.id}, nil, nil, n.id
	f.term++
	return &serverpb.MembershipResponse{Configuration: f.config()}, nil
}
