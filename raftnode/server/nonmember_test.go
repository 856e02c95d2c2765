package server

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// A member waiting to be added knows no leader: it refuses writes,
// linearizable reads and membership changes at once, with a reason the client
// moves on at, instead of waiting for a leader it cannot have. Serializable
// reads answer from its (empty) state, as they always do.
func TestNonMemberAnswersAtOnce(t *testing.T) {
	a := startMember(t, t.TempDir(), true)
	a.waitLeader()
	a.put("k", "v")
	j := startMember(t, t.TempDir(), false)

	_, err := j.kv.Put(ctxT(t), &serverpb.PutRequest{Key: []byte("k"), Value: []byte("w")})
	wantNotMember(t, err, "put")
	_, err = j.kv.Get(ctxT(t), &serverpb.GetRequest{Key: []byte("k")})
	wantNotMember(t, err, "linearizable get")
	if kvp := j.get("k", serverpb.Consistency_CONSISTENCY_SERIALIZABLE); kvp != nil {
		t.Errorf("serializable get of a member with no data: %v", kvp)
	}
	_, err = j.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: a.self()})
	wantNotMember(t, err, "add learner")
	if md, _ := serverpb.Reason(err, serverpb.ReasonNotMember); md[serverpb.MetadataLeaderID] != "" {
		t.Errorf("a member that never heard from a leader names leader %q", md[serverpb.MetadataLeaderID])
	}
	if st := j.status(); st.GetSelf().GetId() != j.srv.ID() {
		t.Fatalf("Status of a non-member: %v", st)
	}

	// Once added and caught up, it serves (forwarding writes to the leader).
	if _, err := a.admin.AddLearner(ctxT(t), &serverpb.AddLearnerRequest{Member: j.self()}); err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	waitFor(t, "the learner to apply its addition", j.srv.inConfig.Load, j.srv)
	j.put("k", "through the learner")
	if kvp := a.get("k", serverpb.Consistency_CONSISTENCY_LINEARIZABLE); string(kvp.GetValue()) != "through the learner" {
		t.Fatalf("read on the leader: %v", kvp)
	}
}

func wantNotMember(t *testing.T, err error, what string) {
	t.Helper()
	wantCode(t, err, codes.Unavailable, what)
	if !serverpb.HasReason(err, serverpb.ReasonNotMember) {
		t.Fatalf("%s: %v lacks reason %s", what, err, serverpb.ReasonNotMember)
	}
}
