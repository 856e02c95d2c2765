package raft_test

// A deterministic simulation of a whole cluster in one process, checking Raft's
// safety invariants after every step.
//
// Each member is a RawNode over a MemoryStorage that stands for its disk; a
// member crashes and restarts from that disk (and its applied index) only. The
// network gives every message a delivery time and may drop, duplicate, delay,
// reorder and partition. Clients propose at random members, read through
// ReadIndex, transfer leadership and change the membership (learners, promotions,
// removals, replacements, joint consensus with every kind of transition). Time is
// logical: a step is one event (a message delivered or lost, a member's disk
// write or sync completing or its deferred Ready coming due), one tick of every
// member's clock, or one client or fault action, chosen by a PCG generator seeded
// per run, so a run is reproduced exactly from its seed. After the faults stop, the cluster must
// elect a leader, commit a last proposal and agree on what it applied.
//
// Members handle their Readys as a real event loop may: a disk write can take a
// while (LeaderMessages are out, the rest waits for it, and the member steps
// messages meanwhile), and a member may step several messages before it asks for
// a Ready. A crash can hit at any point of a Ready: before it, after
// LeaderMessages, after persisting, after Messages, while applying.
//
// A share of the members (none, half or all, by seed) run with
// AsyncPersistence and handle their Readys as raftnode/server does
// (sim_async_test.go): writes are visible at once and durable only when a
// background sync covering them completes, several Readys' writes may await
// one sync, the core hears of each sync through Persisted, the Messages that
// follow an unsynced write are held until it is durable, and a crash loses what
// was not synced.
//
// The invariants (sim_checker_test.go): Election Safety; committed entries never
// change; every member applies the log in order without gaps, so applied
// sequences are prefixes of each other; a leader commits only what a majority of
// each half of a joint configuration has; Leader Completeness; a ReadIndex answer
// covers everything committed before the request.
//
// The files: sim_test.go (the run loop, flags, the test), sim_member_test.go (a
// member: Ready handling, state machine, crash and restart), sim_network_test.go
// (the network and its faults), sim_driver_test.go (clients, membership changes
// and the fault schedule, convergence), sim_checker_test.go (the invariants and
// a test of the checker itself), sim_async_test.go (the pipelined persistence
// of AsyncPersistence members), sim_regress_test.go (replays of the core bugs
// the simulation found).
//
// Run one seed with a trace:
//
//	go test ./raftnode/raft/ -run TestSimulation -sim.seed=N -sim.v

import (
	"flag"
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/raftkube/raftkube/raftnode/raft"
)

var (
	simSteps = flag.Int("sim.steps", 500*simStepsPerSeed,
		"simulated steps: the total over all seeds, or with -sim.seed the length of that one run")
	simSeed    = flag.Int64("sim.seed", -1, "run only this seed")
	simFirst   = flag.Int64("sim.first", 0, "the first seed of the default schedule, to go on where a long run stopped")
	simVerbose = flag.Bool("sim.v", false, "trace every step of the simulation")
)

// simStepsPerSeed is the length of each run of the default schedule: many runs of
// moderate length explore more starting points than a few long ones.
const simStepsPerSeed = 1000

// simTickUnits is the length of one tick in the network's time units: message
// delays are a fraction of a tick or a few ticks.
const simTickUnits = 100

func TestSimulation(t *testing.T) {
	var total simStats
	if *simSeed >= 0 {
		steps := simStepsPerSeed
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "sim.steps" {
				steps = *simSteps
			}
		})
		total.add(runSimulation(t, uint64(*simSeed), steps, *simVerbose))
	} else if *simSteps < simStepsPerSeed {
		total.add(runSimulation(t, uint64(*simFirst), *simSteps, *simVerbose))
	} else {
		for seed := range *simSteps / simStepsPerSeed {
			total.add(runSimulation(t, uint64(*simFirst)+uint64(seed), simStepsPerSeed, *simVerbose))
		}
	}
	t.Logf("simulated %d steps (%d with faults, %d converging after them) over %d seeds", total.steps+total.convergeSteps,
		total.steps, total.convergeSteps, total.seeds)
	t.Logf("%s", total.String())
}

// TestSimulationDeterministic runs one seed twice: the same seed must give the
// same run, or no failure could be reproduced.
func TestSimulationDeterministic(t *testing.T) {
	a := runSimulation(t, 42, 600, false)
	b := runSimulation(t, 42, 600, false)
	if a != b {
		t.Fatalf("seed 42 ran differently twice:\n%s\n%s", a.String(), b.String())
	}
}

// simStats counts what a run did, to show what it covered.
type simStats struct {
	seeds, steps, convergeSteps                     int
	delivered, dropped, duplicated, ticks           int
	proposals, reads, readsAnswered, transfers      int
	confChanges, confChangesApplied, snapsApplied   int
	snapsMade, crashes, restarts, stops, partitions int
	leaders, campaigns, maxMembers                  int
	asyncMembers, asyncWrites, syncs, heldMsgs      int
	lostWrites                                      int
	committed                                       uint64
	digest                                          uint64
}

func (s *simStats) add(o simStats) {
	s.seeds += o.seeds
	s.steps += o.steps
	s.convergeSteps += o.convergeSteps
	s.delivered += o.delivered
	s.dropped += o.dropped
	s.duplicated += o.duplicated
	s.ticks += o.ticks
	s.proposals += o.proposals
	s.reads += o.reads
	s.readsAnswered += o.readsAnswered
	s.transfers += o.transfers
	s.confChanges += o.confChanges
	s.confChangesApplied += o.confChangesApplied
	s.snapsApplied += o.snapsApplied
	s.snapsMade += o.snapsMade
	s.crashes += o.crashes
	s.restarts += o.restarts
	s.stops += o.stops
	s.partitions += o.partitions
	s.leaders += o.leaders
	s.campaigns += o.campaigns
	s.maxMembers = max(s.maxMembers, o.maxMembers)
	s.asyncMembers += o.asyncMembers
	s.asyncWrites += o.asyncWrites
	s.syncs += o.syncs
	s.heldMsgs += o.heldMsgs
	s.lostWrites += o.lostWrites
	s.committed += o.committed
	s.digest ^= o.digest
}

func (s *simStats) String() string {
	return fmt.Sprintf("messages delivered %d, dropped %d, duplicated %d; ticks %d; proposals %d; "+
		"entries committed %d; reads %d (answered %d); leaders elected %d; campaigns %d; transfers %d; "+
		"conf changes proposed %d (applied by some member %d); snapshots made %d, installed from the leader %d; "+
		"crashes %d, restarts %d, removed members stopped %d; partitions %d; most members at once %d; "+
		"members with async persistence %d: writes %d, syncs %d, messages held %d, writes lost in crashes %d",
		s.delivered, s.dropped, s.duplicated, s.ticks, s.proposals, s.committed, s.reads, s.readsAnswered,
		s.leaders, s.campaigns, s.transfers, s.confChanges, s.confChangesApplied, s.snapsMade, s.snapsApplied,
		s.crashes, s.restarts, s.stops, s.partitions, s.maxMembers,
		s.asyncMembers, s.asyncWrites, s.syncs, s.heldMsgs, s.lostWrites)
}

// sim is one simulation run.
type sim struct {
	t       testing.TB
	seed    uint64
	steps   int // the length of the faulty phase
	verbose bool
	rng     *rand.Rand
	// arng draws what concerns AsyncPersistence (sim_async_test.go), so that a
	// seed without async members runs as it did before they were modelled.
	arng *rand.Rand

	// step is the current step (1-based); during convergence it keeps counting.
	step int
	// now is the network's clock in simTickUnits per tick; tick counts ticks.
	now  int64
	tick int64

	// members holds every member ever started; members[i] has id i+1. Ids are
	// never reused.
	members []*simMember
	net     simNet
	chk     *simChecker
	params  simParams
	stats   simStats
	// digest hashes the run's events, so that two runs can be compared.
	digest hash.Hash64

	// proposals, reads number the client requests so each payload is unique.
	proposals, reads int
	// final is the payload of the proposal that ends a run; finalIndex is where
	// it committed.
	final      []byte
	finalIndex uint64
}

// simFailure is how a violated invariant unwinds a run.
type simFailure struct{ err error }

// fail stops the run with err.
func (s *sim) fail(err error) { panic(simFailure{err}) }

func (s *sim) failf(format string, args ...any) { s.fail(fmt.Errorf(format, args...)) }

func (s *sim) tracef(format string, args ...any) {
	if s.verbose {
		s.t.Logf("step %d tick %d: %s", s.step, s.tick, fmt.Sprintf(format, args...))
	}
}

// runSimulation runs seed for steps faulty steps and then lets the cluster
// converge. It fails t, with the command that reproduces the run, if an invariant
// is violated, the core panics, or the cluster does not converge.
func runSimulation(t testing.TB, seed uint64, steps int, verbose bool) (stats simStats) {
	t.Helper()
	s := &sim{
		t:       t,
		seed:    seed,
		steps:   steps,
		verbose: verbose,
		rng:     rand.New(rand.NewPCG(seed, seed^0x5deece66d)),
		arng:    rand.New(rand.NewPCG(seed^0xa57c, seed^0x9e3779b97f4a7c15)),
		chk:     newSimChecker(),
		digest:  fnv.New64a(),
	}
	var failure error
	var stack []byte
	func() {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if f, ok := r.(simFailure); ok {
				failure = f.err
			} else {
				failure = fmt.Errorf("panic: %v", r)
				stack = debug.Stack()
			}
		}()
		s.run()
	}()
	if failure != nil {
		if stack != nil {
			t.Logf("%s", stack)
		}
		t.Fatalf("seed %d step %d (tick %d): %v\n%s\nreproduce with: go test ./raftnode/raft/ -run TestSimulation -sim.seed=%d -sim.steps=%d\n(add -sim.v for a trace of every step)",
			seed, s.step, s.tick, failure, s.params.String(), seed, steps)
	}
	s.stats.seeds = 1
	s.stats.digest = s.digest.Sum64()
	return s.stats
}

// run is the whole simulation: set up, the faulty steps, then convergence.
func (s *sim) run() {
	s.setup()
	for s.step = 1; s.step <= s.steps; s.step++ {
		if s.rng.Float64() < s.params.actionP {
			s.act()
		} else {
			s.advance()
		}
		s.checkStep()
	}
	s.stats.steps = s.steps
	s.converge()
}

// advance moves time to the next event: the delivery of the earliest message
// in flight, or the next tick if that comes first.
func (s *sim) advance() {
	if s.net.queue.len() > 0 && s.net.queue.min().at < (s.tick+1)*simTickUnits {
		s.deliver()
		return
	}
	s.doTick()
}

// doTick ticks every running member once and restarts those whose downtime is
// over.
func (s *sim) doTick() {
	s.tick++
	s.now = s.tick * simTickUnits
	s.stats.ticks++
	s.digest.Write([]byte{'t'})
	for _, m := range s.members {
		if m.down && !m.stopped && m.restartTick <= s.tick {
			s.start(m)
			s.stats.restarts++
			s.tracef("member %d restarts (incarnation %d, applied %d)", m.id, m.incarnation, m.sm.applied)
		}
	}
	for _, m := range s.members {
		if m.rn == nil {
			continue
		}
		if s.params.skipTickP > 0 && s.rng.Float64() < s.params.skipTickP {
			continue // this member's clock runs slow
		}
		m.rn.Tick()
		s.settle(m)
	}
	s.reapRemoved()
}

// settle observes m after a call into its RawNode and handles its Readys.
func (s *sim) settle(m *simMember) {
	s.observe(m)
	s.handleReady(m)
}

// checkStep runs after every step: the per-member checks that hold at any time.
// The others run where the facts they check appear (in observe and handleReady),
// which is within the step.
func (s *sim) checkStep() {
	for _, m := range s.members {
		s.observe(m)
	}
	n := 0
	for _, m := range s.members {
		if m.rn != nil {
			n++
		}
	}
	s.stats.maxMembers = max(s.stats.maxMembers, n)
}

// leader returns the running member that leads the highest term, or nil.
func (s *sim) leader() *simMember {
	var lead *simMember
	var term uint64
	for _, m := range s.members {
		if m.rn == nil {
			continue
		}
		if st := m.rn.BasicStatus(); st.RaftState == raft.StateLeader && st.Term > term {
			lead, term = m, st.Term
		}
	}
	return lead
}

// member returns the member with id, or nil if there is none.
func (s *sim) member(id uint64) *simMember {
	if id == 0 || id > uint64(len(s.members)) {
		return nil
	}
	return s.members[id-1]
}

// running returns the running members.
func (s *sim) running() []*simMember {
	var out []*simMember
	for _, m := range s.members {
		if m.rn != nil {
			out = append(out, m)
		}
	}
	return out
}

// randomRunning returns a random running member, or nil.
func (s *sim) randomRunning() *simMember {
	r := s.running()
	if len(r) == 0 {
		return nil
	}
	return r[s.rng.IntN(len(r))]
}
