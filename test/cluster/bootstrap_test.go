package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

func TestBootstrapThreeByJointPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3})
	var want []uint64
	for _, n := range c.Members() {
		want = append(want, n.ID())
	}
	slices.Sort(want)
	if len(slices.Compact(slices.Clone(want))) != 3 {
		t.Fatalf("member ids %x are not 3 distinct ids", want)
	}
	leaders := map[uint64]bool{}
	var clusterID uint64
	for _, n := range c.Members() {
		st, err := n.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.GetConfiguration()
		if !slices.Equal(cfg.GetVoters(), want) || len(cfg.GetOutgoingVoters()) > 0 || len(cfg.GetLearners()) > 0 {
			t.Errorf("%s: voters %x outgoing %x learners %x, want voters %x only", n.Name(), cfg.GetVoters(), cfg.GetOutgoingVoters(), cfg.GetLearners(), want)
		}
		if st.GetSelf().GetId() != n.ID() || st.GetHeader().GetMemberId() != n.ID() {
			t.Errorf("%s: self %x header %x, want %x", n.Name(), st.GetSelf().GetId(), st.GetHeader().GetMemberId(), n.ID())
		}
		if st.GetHeader().GetLeaderId() == 0 {
			t.Errorf("%s knows no leader", n.Name())
		}
		leaders[st.GetHeader().GetLeaderId()] = true
		if st.GetRole() == serverpb.Role_ROLE_LEADER && st.GetHeader().GetLeaderId() != n.ID() {
			t.Errorf("%s leads but names %x as leader", n.Name(), st.GetHeader().GetLeaderId())
		}
		if clusterID == 0 {
			clusterID = st.GetHeader().GetClusterId()
		}
		if cid := st.GetHeader().GetClusterId(); cid == 0 || cid != clusterID {
			t.Errorf("%s: cluster id %x, others %x", n.Name(), cid, clusterID)
		}
		if len(cfg.GetMembers()) != 3 {
			t.Errorf("%s: %d members' metadata, want 3", n.Name(), len(cfg.GetMembers()))
		}
		for _, m := range cfg.GetMembers() {
			if o := c.Node(m.GetId()); o == nil || m.GetPeerAddress() != o.PeerAddr() || m.GetClientAddress() != o.ClientAddr() || m.GetName() != o.Name() {
				t.Errorf("%s: metadata %v does not match the node", n.Name(), m)
			}
		}
	}
	if len(leaders) != 1 {
		t.Errorf("members name leaders %v, want one", leaders)
	}
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetProgress()) != 3 {
		t.Errorf("leader's progress has %d entries, want 3", len(st.GetProgress()))
	}
	for _, p := range st.GetProgress() {
		if p.GetLearner() {
			t.Errorf("member %x is still a learner in the leader's progress", p.GetId())
		}
	}

	// The cluster serves a write and a linearizable read from every member.
	cl := c.Client(t)
	if _, err := cl.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Members() {
		resp, err := n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte("k")})
		if err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
		if string(resp.GetKv().GetValue()) != "v" {
			t.Errorf("%s reads %q, want v", n.Name(), resp.GetKv().GetValue())
		}
	}
}
