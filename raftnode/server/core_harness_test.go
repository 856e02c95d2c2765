package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// This file is a deterministic harness for the member core: cores wired by an
// in-memory network, each over an in-memory log that knows what a crash keeps
// (what was synced) and in-memory snapshot files. One seeded random source
// picks every step: a tick, a message delivered, dropped or duplicated, a
// write or read proposed, a sync made, its report delivered (late, out of
// order, twice), snapshot files finished, a member crashed and restarted. A
// crash can also be injected at a given persistence point of a member: the
// log or the files panic right after that call, and the member loses what was
// not synced. After every step the harness checks the safety properties;
// at the end it heals everything and checks that the members converged on
// every acknowledged write.

const (
	harnessElectionTicks  = 10
	harnessHeartbeatTicks = 1
)

// crashSignal is the panic value of an injected crash.
type crashSignal struct{ id uint64 }

// memRecord is one write of a memLog: entries and a hard state, or a
// snapshot's metadata.
type memRecord struct {
	seq  uint64
	hs   pb.HardState
	ents []pb.Entry
	snap *pb.SnapshotMetadata
}

// memLog is a memberLog in memory. Its writes survive a crash only once
// synced (by Sync, or by SaveSnapshot, which syncs everything before it).
type memLog struct {
	*raft.MemoryStorage
	hs              pb.HardState
	records         []memRecord
	written, synced uint64
	// persisted runs after every persistence call; it panics to crash.
	persisted func()
	// lie makes Write say no sync is needed before the messages that follow
	// it go out: the bug the harness must catch (see
	// TestCoreHarnessCatchesAcksBeforeSync).
	lie bool
}

func newMemLog() *memLog { return &memLog{MemoryStorage: raft.NewMemoryStorage()} }

func (l *memLog) point() {
	if l.persisted != nil {
		l.persisted()
	}
}

func (l *memLog) Write(hs pb.HardState, ents []pb.Entry) (uint64, bool, error) {
	if len(ents) == 0 && hs.IsEmpty() {
		return l.written, false, nil
	}
	needSync := raft.MustSync(hs, l.hs, len(ents))
	if err := l.apply(hs, ents); err != nil {
		return 0, false, err
	}
	l.written++
	l.records = append(l.records, memRecord{seq: l.written, hs: hs, ents: slices.Clone(ents)})
	l.point()
	return l.written, needSync && !l.lie, nil
}

func (l *memLog) apply(hs pb.HardState, ents []pb.Entry) error {
	if err := l.Append(ents); err != nil {
		return err
	}
	if !hs.IsEmpty() {
		l.hs = hs
		return l.SetHardState(hs)
	}
	return nil
}

func (l *memLog) Sync() (uint64, error) {
	l.synced = l.written
	l.point()
	return l.synced, nil
}

func (l *memLog) SaveSnapshot(snap pb.Snapshot) error {
	meta := snap.Metadata
	if cur, _ := l.Snapshot(); meta.Index <= cur.Metadata.Index {
		return fmt.Errorf("save snapshot %d (have %d): %w", meta.Index, cur.Metadata.Index, raft.ErrSnapOutOfDate)
	}
	if err := l.applySnapshot(meta); err != nil {
		return err
	}
	l.written++
	l.synced = l.written
	l.records = append(l.records, memRecord{seq: l.written, snap: &meta})
	l.point()
	return nil
}

// applySnapshot keeps the entries after the snapshot when the log holds its
// entry, and makes the hard state commit the snapshot, as the wal does.
func (l *memLog) applySnapshot(meta pb.SnapshotMetadata) error {
	// The wal's rule: a snapshot is committed, and in its term at least.
	if l.hs.Term < meta.Term {
		l.hs.Term, l.hs.Vote = meta.Term, 0
	}
	l.hs.Commit = max(l.hs.Commit, meta.Index)
	if err := l.SetHardState(l.hs); err != nil {
		return err
	}
	last, _ := l.LastIndex()
	if t, err := l.Term(meta.Index); err == nil && t == meta.Term && meta.Index <= last {
		if _, err := l.CreateSnapshot(meta.Index, &meta.ConfState, nil); err != nil {
			return err
		}
		if err := l.MemoryStorage.Compact(meta.Index); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
		return nil
	}
	return l.ApplySnapshot(pb.Snapshot{Metadata: meta})
}

// Compact is a no-op: SaveSnapshot dropped the entries from memory already.
func (l *memLog) Compact(uint64) error { return nil }

// crash returns the log a restart finds: the synced writes.
func (l *memLog) crash() *memLog {
	n := newMemLog()
	n.lie = l.lie
	for _, r := range l.records {
		if r.seq > l.synced {
			break
		}
		var err error
		if r.snap != nil {
			err = n.applySnapshot(*r.snap)
		} else {
			err = n.apply(r.hs, r.ents)
		}
		if err != nil {
			panic(fmt.Sprintf("replay record %d: %v", r.seq, err))
		}
		n.records = append(n.records, r)
	}
	n.written, n.synced = l.synced, l.synced
	return n
}

// savedSnapshot is a snapshot's table and kv files.
type savedSnapshot struct {
	store *kv.Store
	table *membership
}

// harnessMember is one member: its durable state, and its core while up.
type harnessMember struct {
	id    uint64
	disk  *memLog
	files map[uint64]savedSnapshot // by index; written synchronously, never lost
	// removed is member.json's flag.
	removed bool

	core *memberCore // nil while down
	// syncRequested is set when the core asked for a sync; syncs are the
	// reports made but not yet delivered, in the order they were made.
	syncRequested bool
	syncs         []uint64
	jobs          []*snapshotJob
	// points counts this member's persistence calls; crashAt (when not 0)
	// is the one after which it crashes.
	points, crashAt int
	downSteps       int
}

// harnessShell is a core's memberShell.
type harnessShell struct {
	h *harness
	m *harnessMember
}

func (sh harnessShell) send(msgs []pb.Message) {
	for _, msg := range msgs {
		msg.Entries = slices.Clone(msg.Entries)
		if msg.Type == pb.MsgSnap && msg.Snapshot != nil {
			snap := *msg.Snapshot
			f, ok := sh.m.files[snap.Metadata.Index]
			if !ok {
				sh.h.fail("member %d sends snapshot %d it has no files for", sh.m.id, snap.Metadata.Index)
				continue
			}
			snap.Data = encodeHarnessSnapshot(f)
			msg.Snapshot = &snap
		}
		sh.h.net = append(sh.h.net, msg)
	}
}

func (sh harnessShell) requestSync() { sh.m.syncRequested = true }

func (sh harnessShell) saveReceivedSnapshot(snap pb.Snapshot) (*restored, error) {
	table, kvData, err := decodeSnapshotData(snap.Data)
	if err != nil {
		return nil, err
	}
	store, err := kv.Restore(bytes.NewReader(kvData))
	if err != nil {
		return nil, err
	}
	sh.m.files[snap.Metadata.Index] = savedSnapshot{store: store.Clone(), table: table.clone()}
	sh.h.persisted(sh.m)
	return &restored{meta: snap.Metadata, store: store, table: table}, nil
}

func (sh harnessShell) writeSnapshot(job *snapshotJob, store *kv.Store, table *membership) {
	sh.m.jobs = append(sh.m.jobs, job)
	sh.m.files[job.index] = savedSnapshot{store: store, table: table}
}

func (sh harnessShell) snapshotRecorded(*snapshotJob, uint64) {}
func (sh harnessShell) configChanged()                        {}

func (sh harnessShell) persistRemoved() error {
	sh.m.removed = true
	return nil
}

func encodeHarnessSnapshot(f savedSnapshot) []byte {
	table, err := f.table.encode()
	if err != nil {
		panic(err)
	}
	var kvData bytes.Buffer
	if err := f.store.WriteSnapshot(&kvData); err != nil {
		panic(err)
	}
	return encodeSnapshotData(table, kvData.Bytes())
}

// harnessWrite is a client write and what became of it.
type harnessWrite struct {
	key, value string
	member     uint64
	reqID      uint64
	ch         chan any
	acked      bool
}

// harnessRead is a linearizable read and the writes acknowledged before it
// started: once answered, the member's store must hold all of them.
type harnessRead struct {
	member uint64
	ch     chan error
	before []*harnessWrite
}

// harnessOptions shape a run.
type harnessOptions struct {
	// members are the voters the cluster starts with; with replace, one
	// more member waits to be added, and the run replaces member 1 by it
	// through joint consensus: it is added as a learner, then promoted
	// while member 1 is removed, in one joint change that leaves itself.
	members int
	replace bool
	steps   int
	// crashPerMille is the chance, per 1000 steps, of a random crash.
	crashPerMille int
	// snapshotEntries makes members snapshot (and compact) often.
	snapshotEntries uint64
	// lie turns on memLog's bug.
	lie bool
	// crashMember and crashAt inject one crash after that member's
	// crashAt-th persistence call.
	crashMember uint64
	crashAt     int
}

type harness struct {
	opts    harnessOptions
	rnd     *rand.Rand
	members []*harnessMember
	net     []pb.Message
	writes  []*harnessWrite
	reads   []*harnessRead
	// committed is the term and data of every entry seen committed, by index.
	committed map[uint64]pb.Entry
	nextKey   int
	starts    int
	crashes   int
	// final is the leader the members converged on.
	final *harnessMember
	errs  []error
	steps int
	// tracef, when set, is told every event (for debugging a seed).
	tracef func(format string, args ...any)
}

func (h *harness) trace(format string, args ...any) {
	if h.tracef != nil {
		h.tracef("%4d "+format, append([]any{h.steps}, args...)...)
	}
}

func newHarness(seed uint64, opts harnessOptions, tracef func(string, ...any)) *harness {
	h := &harness{opts: opts, tracef: tracef, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), committed: map[uint64]pb.Entry{}}
	table := newMembership()
	var voters []uint64
	for i := range opts.members {
		id := uint64(i + 1)
		voters = append(voters, id)
		table.Members[id] = memberInfo{ID: id, Name: fmt.Sprintf("m%d", id)}
	}
	for _, id := range voters {
		// The founding state every member starts from (as a bootstrapped
		// cluster whose members all hold its first snapshot).
		store := kv.New()
		if err := store.ApplyNoop(1); err != nil {
			panic(err)
		}
		disk := newMemLog()
		disk.lie = opts.lie
		meta := pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters}}
		if err := disk.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
			panic(err)
		}
		if _, _, err := disk.Write(pb.HardState{Term: 1, Commit: 1}, nil); err != nil {
			panic(err)
		}
		if _, err := disk.Sync(); err != nil {
			panic(err)
		}
		m := &harnessMember{id: id, disk: disk, files: map[uint64]savedSnapshot{1: {store: store, table: table.clone()}}}
		if id == opts.crashMember {
			m.crashAt = opts.crashAt
		}
		h.members = append(h.members, m)
	}
	if opts.replace {
		// Waiting to be added: an empty log and store, no table.
		id := uint64(opts.members + 1)
		disk := newMemLog()
		disk.lie = opts.lie
		m := &harnessMember{id: id, disk: disk, files: map[uint64]savedSnapshot{0: {store: kv.New(), table: newMembership()}}}
		if id == opts.crashMember {
			m.crashAt = opts.crashAt
		}
		h.members = append(h.members, m)
	}
	for _, m := range h.members {
		h.start(m)
	}
	return h
}

// errUnsafe marks the failures of the harness's own safety checks, as
// opposed to errors and panics of the code under test.
var errUnsafe = errors.New("safety violated")

// violation records a failed safety check.
func (h *harness) violation(format string, args ...any) {
	h.errs = append(h.errs, fmt.Errorf("step %d: %w: "+format, append([]any{h.steps, errUnsafe}, args...)...))
}

func (h *harness) fail(format string, args ...any) {
	h.errs = append(h.errs, fmt.Errorf("step %d: "+format, append([]any{h.steps}, args...)...))
}

// persisted counts a persistence call of m and crashes it at its crashAt.
func (h *harness) persisted(m *harnessMember) {
	m.points++
	if m.crashAt != 0 && m.points == m.crashAt {
		panic(crashSignal{id: m.id})
	}
}

// start brings m up from its durable state.
func (h *harness) start(m *harnessMember) {
	h.trace("start %d", m.id)
	h.starts++
	m.disk.persisted = func() { h.persisted(m) }
	newest := slices.Max(slices.Collect(maps.Keys(m.files)))
	f := m.files[newest]
	c := &memberCore{
		id: m.id, log: slog.New(slog.DiscardHandler),
		params: coreParams{
			electionTicks: harnessElectionTicks, heartbeatTicks: harnessHeartbeatTicks,
			snapshotEntries: h.opts.snapshotEntries, snapshotBytes: 1 << 40,
		},
		// Request ids and read contexts must not repeat across restarts
		// (an entry or a read answer meant for the process before a crash
		// would answer a request of the new one); the server's start at
		// the clock.
		w:         newWaiters(uint64(h.starts) << 32),
		proposals: newProposalTracker(),
		reads:     newReadTracker[readSink](harnessElectionTicks, uint64(h.starts)<<32),
	}
	c.metrics = newMetrics(c, fmt.Sprintf("m%d", m.id))
	c.shell = harnessShell{h: h, m: m}
	c.removed.Store(m.removed)
	if err := c.recover(m.disk, f.store.Clone(), f.table.clone()); err != nil {
		h.fail("restart member %d: %v", m.id, err)
		return
	}
	m.core = c
	h.run(m, c.start)
}

// crash takes m down: it loses what its log did not sync, its requests
// and the syncs and snapshot jobs in flight.
func (h *harness) crash(m *harnessMember) {
	h.trace("crash %d (synced %d of %d writes)", m.id, m.disk.synced, m.disk.written)
	h.crashes++
	m.core = nil
	m.disk = m.disk.crash()
	m.syncRequested, m.syncs, m.jobs = false, nil, nil
	m.crashAt = 0
	m.downSteps = 10 + h.rnd.IntN(3*harnessElectionTicks)
	for _, w := range h.writes {
		if w.member == m.id && w.ch != nil && !w.acked {
			w.ch = nil // the client never learns the outcome
		}
	}
	h.reads = slices.DeleteFunc(h.reads, func(r *harnessRead) bool { return r.member == m.id })
}

// run calls f on m's core and handles every Ready after it; an injected
// crash unwinds to here.
func (h *harness) run(m *harnessMember, f func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashSignal); !ok {
				h.fail("member %d panicked: %v", m.id, r)
			}
			h.crash(m)
		}
	}()
	f()
	if m.core == nil {
		return // crashed by f
	}
	if err := m.core.handleReady(); err != nil {
		h.fail("member %d: handle ready: %v", m.id, err)
	}
}

func (h *harness) up() []*harnessMember {
	var out []*harnessMember
	for _, m := range h.members {
		if m.core != nil {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) member(id uint64) *harnessMember {
	if id == 0 || int(id) > len(h.members) {
		return nil
	}
	return h.members[id-1]
}

// step takes one random step.
func (h *harness) step() {
	h.steps++
	for _, m := range h.members {
		if m.core == nil {
			if m.downSteps--; m.downSteps <= 0 {
				h.start(m)
			}
		}
	}
	up := h.up()
	if len(up) == 0 {
		return
	}
	m := up[h.rnd.IntN(len(up))]
	// Syncs, their reports and snapshot jobs go to a member that has one.
	with := func(has func(*harnessMember) bool) *harnessMember {
		var ms []*harnessMember
		for _, m := range up {
			if has(m) {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			return m
		}
		return ms[h.rnd.IntN(len(ms))]
	}
	switch r := h.rnd.IntN(1000); {
	case r < 250:
		h.run(m, m.core.tick)
	case r < 600 && len(h.net) > 0:
		h.deliver(h.rnd.IntN(len(h.net)))
	case r < 615 && len(h.net) > 0:
		h.drop(h.rnd.IntN(len(h.net)))
	case r < 630 && len(h.net) > 0:
		h.net = append(h.net, h.net[h.rnd.IntN(len(h.net))])
	case r < 750:
		h.propose(m)
	case r < 780:
		h.read(m)
	case r < 870:
		h.sync(with(func(m *harnessMember) bool { return m.syncRequested }))
	case r < 960:
		h.report(with(func(m *harnessMember) bool { return len(m.syncs) > 0 }))
	case r < 985:
		h.finishJob(with(func(m *harnessMember) bool { return len(m.jobs) > 0 }))
	case r < 990:
		h.changeMembership()
	case r < 990+h.opts.crashPerMille:
		h.crash(m)
	}
	h.collect()
	h.check()
}

// changeMembership proposes, on the leader, the next change of the
// replacement (see harnessOptions.replace) that its configuration calls for;
// the core refuses one while another is in flight.
func (h *harness) changeMembership() {
	if !h.opts.replace {
		return
	}
	leader := h.leader()
	if leader == nil {
		return
	}
	old, repl := uint64(1), uint64(h.opts.members+1)
	cs := leader.core.confState
	cc := pb.ConfChangeV2{Context: ccContext{Proposer: leader.id, Members: []memberInfo{{ID: repl, Name: fmt.Sprintf("m%d", repl)}}}.encode()}
	switch {
	case len(cs.VotersOutgoing) > 0 || slices.Contains(cs.Voters, repl):
		return // joint (it leaves itself), or done
	case !slices.Contains(cs.Learners, repl):
		cc.Changes = []pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeID: repl}}
	default:
		cc.Changes = []pb.ConfChangeSingle{{Type: pb.ConfChangeAddNode, NodeID: repl}, {Type: pb.ConfChangeRemoveNode, NodeID: old}}
	}
	h.trace("propose %v on %d", cc.Changes, leader.id)
	h.run(leader, func() { _ = leader.core.rn.ProposeConfChange(cc) })
}

// leader returns the member up that leads in the highest term, or nil.
func (h *harness) leader() *harnessMember {
	var lead *harnessMember
	for _, m := range h.up() {
		st := m.core.rn.BasicStatus()
		if st.RaftState == raft.StateLeader && (lead == nil || st.Term > lead.core.rn.BasicStatus().Term) {
			lead = m
		}
	}
	return lead
}

// inConfig reports whether m is in the configuration leader applied.
func inConfig(leader, m *harnessMember) bool {
	return leader.core.configIDs()[m.id]
}

// drop loses the i-th message in flight.
func (h *harness) drop(i int) {
	msg := h.net[i]
	h.net = slices.Delete(h.net, i, i+1)
	h.reportSnapshot(msg, raft.SnapshotFailure)
}

// reportSnapshot tells the sender of a snapshot how its sending went, as the
// transport does (it streams snapshots and knows).
func (h *harness) reportSnapshot(msg pb.Message, st raft.SnapshotStatus) {
	from := h.member(msg.From)
	if msg.Type != pb.MsgSnap || from == nil || from.core == nil {
		return
	}
	h.run(from, func() { from.core.report(report{id: msg.To, snapshot: true, status: st}) })
}

// deliver delivers the i-th message in flight; one to a member that is down
// is lost.
func (h *harness) deliver(i int) {
	msg := h.net[i]
	h.net = slices.Delete(h.net, i, i+1)
	to := h.member(msg.To)
	if to == nil || to.core == nil {
		h.reportSnapshot(msg, raft.SnapshotFailure)
		return
	}
	defer h.reportSnapshot(msg, raft.SnapshotFinish)
	h.trace("deliver %v %d->%d term %d index %d logterm %d commit %d ents %d reject %v", msg.Type, msg.From, msg.To, msg.Term, msg.Index, msg.LogTerm, msg.Commit, len(msg.Entries), msg.Reject)
	h.run(to, func() { to.core.step(msg) })
}

func (h *harness) propose(m *harnessMember) {
	h.nextKey++
	w := &harnessWrite{key: fmt.Sprintf("k%04d", h.nextKey), value: fmt.Sprintf("v%d", h.nextKey), member: m.id}
	w.reqID, w.ch = m.core.w.register()
	h.writes = append(h.writes, w)
	data, err := appendEnvelope(m.id, w.reqID, &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: []byte(w.key), Value: []byte(w.value)}}})
	if err != nil {
		panic(err)
	}
	h.run(m, func() { m.core.propose([]proposal{{reqID: w.reqID, data: data}}) })
}

func (h *harness) read(m *harnessMember) {
	r := &harnessRead{member: m.id, ch: make(chan error, 1)}
	for _, w := range h.writes {
		if w.acked {
			r.before = append(r.before, w)
		}
	}
	h.reads = append(h.reads, r)
	h.run(m, func() { m.core.readIndex([]readSink{readChan(r.ch)}) })
}

// sync syncs m's log, as the syncer does, if the core asked; the report
// waits for a report step.
func (h *harness) sync(m *harnessMember) {
	if !m.syncRequested {
		return
	}
	m.syncRequested = false
	h.run(m, func() {
		seq, err := m.disk.Sync()
		if err != nil {
			h.fail("member %d: sync: %v", m.id, err)
		}
		m.syncs = append(m.syncs, seq)
	})
}

// report delivers one of m's sync reports: usually the oldest, sometimes a
// newer one first, sometimes one again.
func (h *harness) report(m *harnessMember) {
	if len(m.syncs) == 0 {
		return
	}
	i := 0
	if h.rnd.IntN(4) == 0 {
		i = h.rnd.IntN(len(m.syncs))
	}
	seq := m.syncs[i]
	if h.rnd.IntN(8) != 0 {
		m.syncs = slices.Delete(m.syncs, i, i+1)
	}
	h.trace("synced %d: %d", m.id, seq)
	h.run(m, func() { m.core.onSynced(seq) })
}

func (h *harness) finishJob(m *harnessMember) {
	if len(m.jobs) == 0 {
		return
	}
	job := m.jobs[0]
	m.jobs = m.jobs[1:]
	h.run(m, func() {
		h.persisted(m) // the files are durable now
		if err := m.core.finishSnapshot(job); err != nil {
			h.fail("member %d: finish snapshot: %v", m.id, err)
		}
	})
}

// collect takes the answers of writes and reads, checking each read.
func (h *harness) collect() {
	for _, w := range h.writes {
		if w.ch == nil {
			continue
		}
		select {
		case v := <-w.ch:
			w.ch = nil
			if res, ok := v.(*kvpb.Result); ok && kv.ResultErr(res) == nil {
				w.acked = true
				h.trace("acked %s on %d at %d", w.key, w.member, res.GetModIndex())
			}
		default:
		}
	}
	h.reads = slices.DeleteFunc(h.reads, func(r *harnessRead) bool {
		select {
		case err := <-r.ch:
			if err == nil {
				h.checkRead(r)
			}
			return true
		default:
			return false
		}
	})
}

func (h *harness) checkRead(r *harnessRead) {
	m := h.member(r.member)
	store := m.core.store.Load()
	for _, w := range r.before {
		if kvp, ok := store.Get([]byte(w.key)); !ok || string(kvp.GetValue()) != w.value {
			h.violation("a linearizable read on member %d (applied %d) misses %s, acknowledged before the read started",
				m.id, store.AppliedIndex(), w.key)
		}
	}
}

// check checks that no two members ever commit different entries at an
// index, and that a member's commit index never runs ahead of its entries.
func (h *harness) check() {
	for _, m := range h.up() {
		commit := m.core.rn.Status().Commit
		first, _ := m.disk.FirstIndex()
		last, _ := m.disk.LastIndex()
		hi := min(commit, last)
		if first > hi {
			continue
		}
		ents, err := m.disk.Entries(first, hi+1, 1<<62)
		if err != nil {
			h.fail("member %d: entries [%d, %d]: %v", m.id, first, hi, err)
			continue
		}
		for _, e := range ents {
			seen, ok := h.committed[e.Index]
			if !ok {
				h.committed[e.Index] = e
				continue
			}
			if seen.Term != e.Term || !bytes.Equal(seen.Data, e.Data) {
				h.violation("member %d committed entry %d term %d, but term %d was committed there before",
					m.id, e.Index, e.Term, seen.Term)
			}
		}
	}
}

// heal restarts every member, stops crashes and runs every member, message,
// sync and job until nothing is left to do, then has a last write
// committed and applied everywhere.
func (h *harness) heal() {
	for _, m := range h.members {
		m.crashAt = 0
		if m.core == nil {
			h.start(m)
		}
	}
	for range 2000 {
		for _, m := range h.members {
			if m.core == nil {
				h.start(m)
				continue
			}
			h.run(m, m.core.tick)
			h.settle(m)
		}
		for len(h.net) > 0 {
			h.deliver(0)
		}
		h.collect()
		h.check()
		if h.converged() {
			return
		}
	}
	h.fail("the members did not converge after healing")
}

// converged reports whether one member leads and every member applied a
// last write proposed through it.
func (h *harness) converged() bool {
	leader := h.leader()
	if leader == nil {
		return false
	}
	if h.opts.replace && !slices.Contains(leader.core.confState.Voters, uint64(h.opts.members+1)) {
		h.changeMembership() // finish the replacement
		return false
	}
	if len(leader.core.confState.VotersOutgoing) > 0 {
		return false
	}
	// The last write must have gone through this leader and been
	// acknowledged; propose one unless such a write still waits for its
	// answer.
	var last *harnessWrite
	if n := len(h.writes); n > 0 && h.writes[n-1].member == leader.id {
		last = h.writes[n-1]
	}
	switch {
	case last == nil || (!last.acked && last.ch == nil):
		h.propose(leader)
		return false
	case !last.acked:
		return false
	}
	applied := leader.core.store.Load().AppliedIndex()
	for _, m := range h.members {
		if !inConfig(leader, m) {
			continue // removed: it need not follow
		}
		if m.core == nil || m.core.store.Load().AppliedIndex() < applied {
			return false
		}
	}
	h.final = leader
	return true
}

// checkConverged checks every member's store holds every acknowledged write,
// and that the stores are the same.
func (h *harness) checkConverged() {
	var want []byte
	var wantApplied uint64
	for _, m := range h.members {
		if !inConfig(h.final, m) {
			continue
		}
		store := m.core.store.Load()
		for _, w := range h.writes {
			if !w.acked {
				continue
			}
			if kvp, ok := store.Get([]byte(w.key)); !ok || string(kvp.GetValue()) != w.value {
				h.violation("member %d lost %s=%s, an acknowledged write", m.id, w.key, w.value)
			}
		}
		var b bytes.Buffer
		if err := store.Clone().WriteSnapshot(&b); err != nil {
			h.fail("member %d: %v", m.id, err)
		}
		if want == nil {
			want, wantApplied = b.Bytes(), store.AppliedIndex()
		} else if !bytes.Equal(want, b.Bytes()) && store.AppliedIndex() == wantApplied {
			h.violation("member %d's store differs from another's at the same applied index %d", m.id, store.AppliedIndex())
		}
	}
}

// harnessResult is what a run found.
type harnessResult struct {
	errs []error
	// acked counts the writes acknowledged; crashes the crashes, injected
	// or random; points each member's persistence calls before healing.
	acked, crashes int
	points         []int
	// voters is the configuration the members converged on.
	voters []uint64
}

// runHarness runs a whole scenario: its steps, then healing, then the check
// that the members converged.
func runHarness(seed uint64, opts harnessOptions) harnessResult {
	return runHarnessTraced(seed, opts, nil)
}

func runHarnessTraced(seed uint64, opts harnessOptions, tracef func(string, ...any)) harnessResult {
	h := newHarness(seed, opts, tracef)
	for range opts.steps {
		h.step()
		if len(h.errs) > 0 {
			break
		}
	}
	// Crashes may be injected at the points counted so far: healing
	// crashes none.
	var points []int
	for _, m := range h.members {
		points = append(points, m.points)
	}
	if len(h.errs) == 0 {
		h.heal()
	}
	if len(h.errs) == 0 {
		h.checkConverged()
	}
	res := harnessResult{errs: h.errs, crashes: h.crashes, points: points}
	if h.final != nil {
		res.voters = h.final.core.confState.Voters
	}
	for _, w := range h.writes {
		if w.acked {
			res.acked++
		}
	}
	return res
}

// Scripted steps, for tests that set up one exact interleaving.

// settle runs m's syncs and their reports, and its snapshot jobs, until none
// is left.
func (h *harness) settle(m *harnessMember) {
	for m.core != nil && (m.syncRequested || len(m.syncs) > 0 || len(m.jobs) > 0) {
		h.sync(m)
		for len(m.syncs) > 0 && m.core != nil {
			seq := m.syncs[0]
			m.syncs = m.syncs[1:]
			h.run(m, func() { m.core.onSynced(seq) })
		}
		h.finishJob(m)
	}
}

// deliverAll delivers every message in flight, and those they cause, each
// member settling its syncs after every delivery, until none is left; held
// keeps the messages it matches in flight instead.
func (h *harness) deliverAll(held func(pb.Message) bool) {
	var kept []pb.Message
	for len(h.net) > 0 {
		msg := h.net[0]
		if held != nil && held(msg) {
			kept = append(kept, msg)
			h.net = h.net[1:]
			continue
		}
		h.deliver(0)
		for _, m := range h.members {
			h.settle(m)
		}
	}
	h.net = kept
	h.collect()
	h.check()
}

// elect makes m campaign and win, with every message delivered.
func (h *harness) elect(m *harnessMember) {
	for range 3 * harnessElectionTicks {
		if m.core.rn.BasicStatus().RaftState == raft.StateLeader {
			return
		}
		h.run(m, m.core.tick)
		h.deliverAll(nil)
	}
	h.fail("member %d was not elected", m.id)
}
