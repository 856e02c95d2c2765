package controllers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// Builders of the objects a pass fetches, for the unit tests.

type podOpt func(*corev1.Pod)

// testPod is a running, ready pod of the StatefulSet.
func testPod(name string, opts ...podOpt) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			PodIP: "10.0.0.1",
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodReady, Status: corev1.ConditionTrue,
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: containerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}},
		},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func pending(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = nil
	p.Status.Conditions[0].Status = corev1.ConditionFalse
}

func terminating(p *corev1.Pod) { p.DeletionTimestamp = ptrTo(metav1.Now()) }

// revision labels the pod as created from StatefulSet revision rev.
func revision(rev string) podOpt {
	return func(p *corev1.Pod) { p.Labels = map[string]string{appsv1.StatefulSetRevisionLabel: rev} }
}

func testClaim(name string, del bool) corev1.PersistentVolumeClaim {
	c := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	if del {
		c.DeletionTimestamp = ptrTo(metav1.Now())
	}
	return c
}

// config is a Raft configuration for the Status builders; members are
// named demo-(id-1) unless names says otherwise.
type config struct {
	voters, outgoing, learners, learnersNext, removed []uint64
	names                                             map[uint64]string
}

func (c config) proto() *serverpb.Configuration {
	pc := &serverpb.Configuration{Voters: c.voters, OutgoingVoters: c.outgoing, Learners: c.learners, LearnersNext: c.learnersNext, Removed: c.removed}
	seen := map[uint64]bool{}
	for _, ids := range [][]uint64{c.voters, c.outgoing, c.learners, c.learnersNext} {
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				pc.Members = append(pc.Members, testMember(id, c.names))
			}
		}
	}
	return pc
}

func testMember(id uint64, names map[uint64]string) *serverpb.Member {
	name := names[id]
	if name == "" {
		name = fmt.Sprintf("demo-%d", id-1)
	}
	return &serverpb.Member{Id: id, Name: name, PeerAddress: name + ":2380", ClientAddress: name + ":2379"}
}

const testClusterID = 0xc1

// memberStatus is member id's own Status answer.
func memberStatus(id uint64, role serverpb.Role, c config) *serverpb.StatusResponse {
	return &serverpb.StatusResponse{
		Header:        &serverpb.ResponseHeader{ClusterId: testClusterID, MemberId: id, Term: 2},
		Self:          testMember(id, c.names),
		Role:          role,
		Configuration: c.proto(),
	}
}

// leaderStatus is leader id's Status with every member of c at match index
// commit and recently active.
func leaderStatus(id uint64, c config, commit uint64) *serverpb.StatusResponse {
	st := memberStatus(id, serverpb.Role_ROLE_LEADER, c)
	st.Header.LeaderId = id
	st.CommitIndex = commit
	for _, m := range st.Configuration.Members {
		st.Progress = append(st.Progress, &serverpb.Progress{Id: m.Id, MatchIndex: commit, RecentActive: true})
	}
	return st
}

func TestObservation(t *testing.T) {
	three := config{voters: []uint64{1, 2, 3}}
	for _, tc := range []struct {
		name string
		pass *pass
		want plan.Observation
	}{{
		name: "nothing yet",
		pass: &pass{cluster: cluster(3)},
		want: plan.Observation{Name: "demo", Desired: 3, Retention: plan.RetentionDelete},
	}, {
		name: "default replicas and retain",
		pass: &pass{cluster: cluster(0, func(rc *raftv1.RaftCluster) {
			rc.Spec.Replicas = nil
			rc.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = raftv1.RetentionRetain
			rc.Status.ClusterID = "c1"
		}), sts: &appsv1.StatefulSet{}},
		want: plan.Observation{Name: "demo", Desired: 3, Retention: plan.RetentionRetain, ClusterID: 0xc1, StatefulSet: &plan.StatefulSet{Replicas: 1}},
	}, {
		name: "pods, claims and the leader",
		pass: &pass{
			cluster: cluster(3, func(rc *raftv1.RaftCluster) { rc.Status.ClusterID = "c1" }),
			sts: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptrTo(int32(3))},
				Status: appsv1.StatefulSetStatus{UpdateRevision: "demo-rev2"}},
			pods: []corev1.Pod{
				testPod("demo-0", revision("demo-rev1")), testPod("demo-1", notReady), testPod("demo-2", pending), testPod("demo-3", terminating),
				testPod("other-0"), testPod("demo-x"),
			},
			claims: []corev1.PersistentVolumeClaim{
				testClaim("data-demo-0", false), testClaim("data-demo-3", true), testClaim("logs-demo-1", false), testClaim("data-other-0", false),
			},
			statuses: map[string]*serverpb.StatusResponse{
				"demo-0": leaderStatus(1, three, 10),
				"demo-1": func() *serverpb.StatusResponse {
					s := memberStatus(2, serverpb.Role_ROLE_FOLLOWER, three)
					s.Removed = true
					return s
				}(),
			},
			leader: leaderStatus(1, three, 10),
		},
		want: plan.Observation{
			Name: "demo", Desired: 3, Retention: plan.RetentionDelete, ClusterID: 0xc1,
			StatefulSet: &plan.StatefulSet{Replicas: 3, UpdateRevision: "demo-rev2"},
			Pods: []plan.Pod{
				{Ordinal: 0, Name: "demo-0", Running: true, Ready: true, Revision: "demo-rev1",
					Member: &plan.MemberStatus{ID: 1, ClusterID: testClusterID, PeerAddress: "demo-0:2380", ClientAddress: "demo-0:2379", Voters: []uint64{1, 2, 3}}},
				{Ordinal: 1, Name: "demo-1", Running: true,
					Member: &plan.MemberStatus{ID: 2, ClusterID: testClusterID, Removed: true, PeerAddress: "demo-1:2380", ClientAddress: "demo-1:2379", Voters: []uint64{1, 2, 3}}},
				{Ordinal: 2, Name: "demo-2", Pending: true},
				{Ordinal: 3, Name: "demo-3", Terminating: true, Running: true, Ready: true},
			},
			Claims: []plan.Claim{{Ordinal: 0, Name: "data-demo-0"}, {Ordinal: 3, Name: "data-demo-3", Terminating: true}},
			Raft: &plan.RaftStatus{
				ClusterID: testClusterID, LeaderID: 1, Voters: []uint64{1, 2, 3},
				Members: map[uint64]plan.Member{
					1: {ID: 1, Name: "demo-0", PeerAddress: "demo-0:2380", ClientAddress: "demo-0:2379"},
					2: {ID: 2, Name: "demo-1", PeerAddress: "demo-1:2380", ClientAddress: "demo-1:2379"},
					3: {ID: 3, Name: "demo-2", PeerAddress: "demo-2:2380", ClientAddress: "demo-2:2379"},
				},
				Progress:    map[uint64]plan.Progress{1: {MatchIndex: 10, RecentActive: true}, 2: {MatchIndex: 10, RecentActive: true}, 3: {MatchIndex: 10, RecentActive: true}},
				CommitIndex: 10,
			},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := observation(tc.pass)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("observation:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
		})
	}
}

func TestRaftStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *serverpb.StatusResponse
		want *plan.RaftStatus
	}{{
		name: "joint, with learners next, removed ids and a transfer",
		st: func() *serverpb.StatusResponse {
			c := config{voters: []uint64{1, 2}, outgoing: []uint64{1, 2, 3}, learnersNext: []uint64{3}, removed: []uint64{7}}
			st := leaderStatus(1, c, 20)
			for _, pr := range st.Progress {
				if pr.Id == 2 {
					pr.MatchIndex, pr.RecentActive = 15, false
				}
			}
			st.LeadTransferee = 2
			return st
		}(),
		want: &plan.RaftStatus{
			ClusterID: testClusterID, LeaderID: 1,
			Voters: []uint64{1, 2}, OutgoingVoters: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, Removed: []uint64{7},
			Members: map[uint64]plan.Member{
				1: {ID: 1, Name: "demo-0", PeerAddress: "demo-0:2380", ClientAddress: "demo-0:2379"},
				2: {ID: 2, Name: "demo-1", PeerAddress: "demo-1:2380", ClientAddress: "demo-1:2379"},
				3: {ID: 3, Name: "demo-2", PeerAddress: "demo-2:2380", ClientAddress: "demo-2:2379"},
			},
			Progress:       map[uint64]plan.Progress{1: {MatchIndex: 20, RecentActive: true}, 2: {MatchIndex: 15}, 3: {MatchIndex: 20, RecentActive: true}},
			CommitIndex:    20,
			LeadTransferee: 2,
		},
	}, {
		name: "empty answer",
		st:   &serverpb.StatusResponse{},
		want: &plan.RaftStatus{Members: map[uint64]plan.Member{}, Progress: map[uint64]plan.Progress{}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := raftStatus(tc.st)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("raftStatus:\n got %s\nwant %s", dump(got), dump(tc.want))
			}
			if j := got.Joint(); j != (len(tc.want.OutgoingVoters) > 0) {
				t.Errorf("Joint() = %v", j)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		id   uint64
		want string
	}{{0, ""}, {1, "1"}, {0xdeadbeef, "deadbeef"}, {^uint64(0), "ffffffffffffffff"}} {
		if got := formatID(tc.id); got != tc.want {
			t.Errorf("formatID(%d) = %q, want %q", tc.id, got, tc.want)
		}
		if got := parseID(tc.want); got != tc.id {
			t.Errorf("parseID(%q) = %d, want %d", tc.want, got, tc.id)
		}
	}
	if got := parseID("not hex"); got != 0 {
		t.Errorf("parseID of garbage = %d, want 0", got)
	}
}

// stubMembers answers ClusterStatus with fixed answers, by endpoint.
type stubMembers struct {
	MemberClient // membership calls are not expected
	answers      map[string]*serverpb.StatusResponse
	endpoints    []string
}

func (s *stubMembers) ClusterStatus(context.Context) ([]client.EndpointStatus, error) {
	var out []client.EndpointStatus
	for _, ep := range s.endpoints {
		if st, ok := s.answers[ep]; ok {
			out = append(out, client.EndpointStatus{Endpoint: ep, Status: st})
		} else {
			out = append(out, client.EndpointStatus{Endpoint: ep, Err: errors.New("connection refused")})
		}
	}
	return out, nil
}

func (s *stubMembers) Close() error { return nil }

func TestAskMembers(t *testing.T) {
	three := config{voters: []uint64{1, 2, 3}}
	stale := leaderStatus(1, three, 10) // deposed, has not heard of its successor
	current := leaderStatus(2, three, 12)
	current.Header.Term = 3
	withIP := func(ip string) podOpt { return func(p *corev1.Pod) { p.Status.PodIP = ip } }
	stub := &stubMembers{answers: map[string]*serverpb.StatusResponse{"10.0.0.1:2379": stale, "10.0.0.2:2379": current}}
	r := &RaftClusterReconciler{Members: func(_ context.Context, endpoints []string, _ *tls.Config) (MemberClient, error) {
		stub.endpoints = endpoints
		return stub, nil
	}}
	// The stale leader answers last: the order of answers must not decide.
	plaintext := func(rc *raftv1.RaftCluster) { rc.Spec.TLS.Enabled = new(false) }
	p := &pass{cluster: cluster(3, plaintext), pods: []corev1.Pod{
		testPod("demo-1", withIP("10.0.0.2")),
		testPod("demo-0", withIP("10.0.0.1")),
		testPod("demo-2", withIP("10.0.0.3")), // does not answer
		testPod("demo-3", withIP("10.0.0.4"), terminating),
		testPod("demo-4", withIP(""), pending),
	}}
	if err := r.askMembers(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.2:2379", "10.0.0.1:2379", "10.0.0.3:2379"}; !reflect.DeepEqual(stub.endpoints, want) {
		t.Errorf("asked %v, want the running pods %v", stub.endpoints, want)
	}
	if p.leader != current {
		t.Errorf("leader %s, want the one of the highest term (member 2)", dump(p.leader.GetSelf()))
	}
	if len(p.statuses) != 2 || p.statuses["demo-0"] != stale || p.statuses["demo-1"] != current {
		t.Errorf("statuses by pod %v, want demo-0 and demo-1", p.statuses)
	}
}

// TestAwaitingDNS: a pod waits for its DNS name until the peer Service's
// EndpointSlices list its current IP; with no slice at all nothing holds it.
func TestAwaitingDNS(t *testing.T) {
	endpoint := func(pod, ip string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
	}
	slices := []discoveryv1.EndpointSlice{
		{Endpoints: []discoveryv1.Endpoint{endpoint("demo-0", "10.244.0.5"), endpoint("demo-1", "10.244.0.6")}},
		{Endpoints: []discoveryv1.Endpoint{endpoint("demo-2", "10.244.0.9"), {Addresses: []string{"10.244.0.8"}}}},
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	podAt := func(name, ip string, started time.Duration) *corev1.Pod {
		start := metav1.NewTime(now.Add(-started))
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{PodIP: ip, StartTime: &start}}
	}
	empty := []discoveryv1.EndpointSlice{{}, {Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.8"}}}}}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		slices []discoveryv1.EndpointSlice
		want   bool
	}{
		{"listed at its IP", podAt("demo-1", "10.244.0.6", time.Second), slices, false},
		{"listed in another slice", podAt("demo-2", "10.244.0.9", time.Second), slices, false},
		{"not listed yet", podAt("demo-3", "10.244.0.7", time.Second), slices, true},
		{"listed at its old IP (restarted)", podAt("demo-0", "10.244.0.12", time.Second), slices, true},
		{"no IP yet: nothing to publish", podAt("demo-3", "", time.Second), slices, false},
		{"no slice at all", podAt("demo-3", "10.244.0.7", time.Second), nil, false},
		{"slices that list no pod (loopback pod IPs are never published)", podAt("demo-3", "127.42.0.5", time.Second), empty, false},
		{"not listed a minute after it started: not held back any more", podAt("demo-3", "10.244.0.7", 61*time.Second), slices, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := awaitingDNS(tc.pod, publishedAddresses(tc.slices), now); got != tc.want {
				t.Errorf("awaitingDNS = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCannotRun(t *testing.T) {
	waiting := func(reason string) podOpt {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "details"}}}}
		}
	}
	unschedulable := func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available"})
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	claim := func(phase corev1.PersistentVolumeClaimPhase, age time.Duration) []corev1.PersistentVolumeClaim {
		return []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data-demo-0", CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: phase},
		}}
	}
	for _, tc := range []struct {
		name   string
		pod    corev1.Pod
		claims []corev1.PersistentVolumeClaim
		want   string
	}{
		{"running", testPod("demo-0"), nil, ""},
		{"starting", testPod("demo-0", waiting("ContainerCreating")), nil, ""},
		{"image pull failure", testPod("demo-0", waiting("ImagePullBackOff")), nil, "ImagePullBackOff: details"},
		{"crash loop", testPod("demo-0", waiting("CrashLoopBackOff")), nil, "CrashLoopBackOff: details"},
		{"unschedulable", testPod("demo-0", unschedulable), claim(corev1.ClaimBound, time.Hour), "Unschedulable: 0/1 nodes are available"},
		// A new member's claim is being provisioned: the scheduler waits
		// for it, as it does on every scale-up. Not a verdict yet.
		{"claim being provisioned", testPod("demo-0", unschedulable), claim(corev1.ClaimPending, 10*time.Second), ""},
		{"claim pending for long", testPod("demo-0", unschedulable), claim(corev1.ClaimPending, 2*time.Minute), "Unschedulable: 0/1 nodes are available"},
		{"claim not made yet", testPod("demo-0", unschedulable), nil, ""},
	} {
		if got := cannotRun(&tc.pod, tc.claims, now); got != tc.want {
			t.Errorf("%s: cannotRun %q, want %q", tc.name, got, tc.want)
		}
	}
}
