package server

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// skipUnderRace skips the long harness runs under the race detector: the
// core starts no goroutine, so it has nothing to find there, and slows them
// tenfold. make test runs them without it too.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("the member core is single-threaded: its long runs go without the race detector (make test runs them so)")
	}
}

// Random runs of three member cores: crashes (losing what was not synced),
// messages reordered, dropped and duplicated, sync reports late, out of order
// and repeated, snapshots and compaction every 25 entries. No two members
// may commit different entries at an index, a linearizable read must see
// every write acknowledged before it started, and once healed every member
// must hold every acknowledged write.
func TestCoreSimulation(t *testing.T) {
	skipUnderRace(t)
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	opts := harnessOptions{members: 3, steps: 2000, crashPerMille: 5, snapshotEntries: 25}
	acked, crashes := 0, 0
	for seed := range uint64(seeds) {
		res := runHarness(seed, opts)
		for _, err := range res.errs {
			t.Errorf("seed %d: %v", seed, err)
		}
		acked += res.acked
		crashes += res.crashes
	}
	// The checks mean something only if writes got through and members
	// crashed.
	if acked < seeds*25 || crashes < seeds*5 {
		t.Fatalf("%d writes acknowledged and %d crashes over %d runs: too few to test anything", acked, crashes, seeds)
	}
	t.Logf("%d runs of %d steps: %d writes acknowledged, %d crashes", seeds, opts.steps, acked, crashes)
}

// The same seed gives the same run: the core and the harness are
// deterministic (no clock, goroutine or map order leaks into what they do).
func TestCoreRunsAreDeterministic(t *testing.T) {
	opts := harnessOptions{members: 3, steps: 2000, crashPerMille: 5, snapshotEntries: 25}
	a, b := runHarness(7, opts), runHarness(7, opts)
	if len(a.errs)+len(b.errs) > 0 {
		t.Fatalf("errors: %v / %v", a.errs, b.errs)
	}
	if a.acked != b.acked || a.crashes != b.crashes || !slices.Equal(a.points, b.points) {
		t.Fatalf("two runs of one seed differ: %+v, then %+v", a, b)
	}
}

// One scenario, replayed once per persistence call of each member (every log
// write, sync, snapshot record and snapshot file), with that member crashing
// right after the call: whatever it had not synced is lost, and the cluster
// must still never lose an acknowledged write nor commit two entries at one
// index.
func TestCoreCrashAtEveryPersistencePoint(t *testing.T) {
	skipUnderRace(t)
	for _, seed := range []uint64{3, 5} {
		base := harnessOptions{members: 3, steps: 1500, snapshotEntries: 25}
		res := runHarness(seed, base)
		if len(res.errs) > 0 {
			t.Fatalf("seed %d, the scenario without a crash: %v", seed, res.errs)
		}
		if res.acked < 100 {
			t.Fatalf("seed %d: the scenario acknowledged %d writes; too few to test anything", seed, res.acked)
		}
		runs := crashAtEveryPoint(t, seed, base, res.points, nil)
		t.Logf("seed %d: %d crash points (per member %v); %d writes acknowledged without a crash", seed, runs, res.points, res.acked)
	}
}

// crashAtEveryPoint replays the scenario of seed and base once per persistence
// call of each member (points, counted by a run without a crash), with that
// member crashing right after it; each run must crash exactly once, find
// nothing wrong and, when voters is not nil, converge on those voters. It
// returns the number of runs.
func crashAtEveryPoint(t *testing.T, seed uint64, base harnessOptions, points []int, voters []uint64) int {
	t.Helper()
	runs := 0
	for i, n := range points {
		for k := 1; k <= n; k++ {
			opts := base
			opts.crashMember, opts.crashAt = uint64(i+1), k
			crashed := runHarness(seed, opts)
			runs++
			for _, err := range crashed.errs {
				t.Errorf("seed %d, member %d crashing after persistence call %d of %d: %v", seed, i+1, k, n, err)
			}
			if crashed.crashes != 1 {
				t.Fatalf("seed %d, member %d, persistence call %d: %d crashes, want the one injected", seed, i+1, k, crashed.crashes)
			}
			if voters != nil && len(crashed.errs) == 0 && !slices.Equal(crashed.voters, voters) {
				t.Errorf("seed %d, member %d crashing after persistence call %d: converged on voters %v, want %v", seed, i+1, k, crashed.voters, voters)
			}
		}
	}
	return runs
}

// The checks catch the bug they exist for: a log that lets a member
// acknowledge entries before they are durable (so a crash loses entries a
// quorum counted) must make some run fail.
func TestCoreHarnessCatchesAcksBeforeSync(t *testing.T) {
	skipUnderRace(t)
	opts := harnessOptions{members: 3, steps: 2000, crashPerMille: 10, snapshotEntries: 25, lie: true}
	// The Raft core panics on some (a follower that lost entries it
	// acknowledged); the harness's own checks must catch others.
	failed, unsafe := 0, 0
	for seed := range uint64(60) {
		res := runHarness(seed, opts)
		if len(res.errs) == 0 {
			continue
		}
		failed++
		if slices.ContainsFunc(res.errs, func(err error) bool { return errors.Is(err, errUnsafe) }) {
			unsafe++
			if unsafe == 1 {
				t.Logf("seed %d: %v", seed, res.errs[0])
			}
		}
	}
	if unsafe == 0 {
		t.Fatalf("60 runs with acknowledgements sent before the sync: %d failed, none by a safety check", failed)
	}
	t.Logf("60 runs: %d failed, %d of them by a safety check", failed, unsafe)
}

// A read's ReadIndex answer that reaches a member after it restarted must not
// answer a read of the new process: the transport may hand a restarted member
// a message its leader made for the process before (a queue kept through the
// reconnection), and a read answered with that older read index misses writes
// acknowledged since. Found by TestCoreSimulation (seed 45): read contexts
// restarted at 1 with every process.
func TestCoreReadAnswerFromBeforeARestartIsIgnored(t *testing.T) {
	h := newHarness(1, harnessOptions{members: 3, snapshotEntries: 1 << 20}, t.Logf)
	leader, follower := h.members[0], h.members[1]
	h.elect(leader)

	// A read on the follower; the leader's answer stays in flight.
	h.read(follower)
	isAnswer := func(m pb.Message) bool { return m.Type == pb.MsgReadIndexResp && m.To == follower.id }
	h.deliverAll(isAnswer)
	if len(h.net) != 1 {
		t.Fatalf("want the read's answer held in flight, have %d messages", len(h.net))
	}

	// The follower restarts; a write is acknowledged while nothing reaches
	// the follower; the follower reads again.
	h.crash(follower)
	h.start(follower)
	// Heartbeats reach it (so it knows the leader), appends do not.
	toFollower := func(m pb.Message) bool {
		return m.To == follower.id && (m.Type == pb.MsgApp || m.Type == pb.MsgReadIndexResp)
	}
	h.propose(leader)
	for range harnessHeartbeatTicks {
		h.run(leader, leader.core.tick)
	}
	h.deliverAll(toFollower)
	if w := h.writes[len(h.writes)-1]; !w.acked {
		t.Fatal("the write was not acknowledged")
	}
	h.read(follower)
	h.deliverAll(toFollower)

	// The stale answer arrives first: it must not answer the new read, which
	// must see the write.
	i := slices.IndexFunc(h.net, isAnswer)
	h.deliver(i)
	h.collect()
	h.deliverAll(nil)
	if len(h.errs) > 0 {
		t.Fatal(h.errs)
	}
	if len(h.reads) != 0 {
		t.Fatalf("%d reads unanswered", len(h.reads))
	}
}

// The same random runs while member 1 is replaced by member 4 through joint
// consensus (4 added as a learner, then promoted while 1 is removed, in one
// joint change that leaves itself), crashes included: every run must end
// with the voters {2, 3, 4}, and every acknowledged write on each of them.
func TestCoreSimulationReplacesAMember(t *testing.T) {
	skipUnderRace(t)
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	opts := harnessOptions{members: 3, replace: true, steps: 2000, crashPerMille: 5, snapshotEntries: 25}
	acked := 0
	for seed := range uint64(seeds) {
		res := runHarness(seed, opts)
		for _, err := range res.errs {
			t.Errorf("seed %d: %v", seed, err)
		}
		if len(res.errs) == 0 && !slices.Equal(res.voters, []uint64{2, 3, 4}) {
			t.Errorf("seed %d: the members converged on voters %v, want [2 3 4]", seed, res.voters)
		}
		acked += res.acked
	}
	if acked < seeds*25 {
		t.Fatalf("%d writes acknowledged over %d runs: too few to test anything", acked, seeds)
	}
	t.Logf("%d runs of %d steps, each replacing a member: %d writes acknowledged", seeds, opts.steps, acked)
}

// A replacement through joint consensus, replayed once per persistence call
// of each of the four members with a crash right after it.
func TestCoreCrashAtEveryPersistencePointOfAReplacement(t *testing.T) {
	skipUnderRace(t)
	const seed = 11
	base := harnessOptions{members: 3, replace: true, steps: 1500, snapshotEntries: 25}
	res := runHarness(seed, base)
	if len(res.errs) > 0 {
		t.Fatalf("the scenario without a crash: %v", res.errs)
	}
	if res.acked < 50 || !slices.Equal(res.voters, []uint64{2, 3, 4}) {
		t.Fatalf("the scenario acknowledged %d writes and ended with voters %v; want more and [2 3 4]", res.acked, res.voters)
	}
	runs := crashAtEveryPoint(t, seed, base, res.points, []uint64{2, 3, 4})
	t.Logf("%d crash points (per member %v); %d writes acknowledged without a crash", runs, res.points, res.acked)
}

// A member whose store is ahead of what its Raft core has handed out (it
// restarted with a kv snapshot newer than its log's) takes no snapshot until
// it caught up: not on its own, and a Snapshot RPC or a backup is told to come
// back (Unavailable), not that something broke (Internal).
func TestCoreTakesNoSnapshotWhileCatchingUp(t *testing.T) {
	h := newHarness(1, harnessOptions{members: 3, snapshotEntries: 1}, nil)
	m := h.members[0]
	store := m.core.store.Load().Clone()
	for i := store.AppliedIndex() + 1; i <= m.core.applyIndex+5; i++ {
		if err := store.ApplyNoop(i); err != nil {
			t.Fatal(err)
		}
	}
	m.core.store.Store(store)

	if err := m.core.maybeSnapshot(); err != nil || m.core.snapJob != nil || len(m.jobs) != 0 {
		t.Fatalf("maybeSnapshot while catching up: %v, job %v, %d jobs; want none started", err, m.core.snapJob, len(m.jobs))
	}
	err := m.core.startSnapshot(make(chan snapshotResult, 1))
	if !errors.Is(err, errCatchingUp) {
		t.Fatalf("startSnapshot while catching up: %v, want errCatchingUp", err)
	}
	if code := status.Code(snapshotStatus(err)); code != codes.Unavailable {
		t.Errorf("a snapshot refused while catching up answers %v, want Unavailable", code)
	}
	if code := status.Code(snapshotStatus(errors.New("disk full"))); code != codes.Internal {
		t.Errorf("a snapshot that failed answers %v, want Internal", code)
	}
}
