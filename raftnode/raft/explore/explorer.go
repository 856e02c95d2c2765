package explore

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Report says how much of a scenario an exploration covered.
type Report struct {
	Scenario string
	Bounds   Bounds
	// Distinct is the number of distinct states reached, the starting state
	// included.
	Distinct int
	// Expanded is the number of states whose every enabled transition was
	// tried.
	Expanded int
	// Transitions is the number of transitions made, revisits included.
	Transitions int
	// OverInFlight is the number of distinct states with more than
	// Bounds.MaxInFlight messages in flight, where only deliveries and drops
	// were enabled.
	OverInFlight int
	// Depth is the depth up to which every state was expanded: every state
	// reachable within Depth transitions was reached.
	Depth int
	// Exhausted is set when the last depth found no new state: the bounds
	// other than MaxDepth closed the state space.
	Exhausted bool
	// PerDepth is the number of new states at each depth, from 0.
	PerDepth []int
	// Configs are the configurations members had in the states reached, as
	// "(2 3 4)&&(1 2 3)", sorted.
	Configs []string
	// MaxTerm is the highest term a member reached.
	MaxTerm uint64
	Elapsed time.Duration
}

func (r Report) String() string {
	s := fmt.Sprintf("%s: %d distinct states, %d expanded, %d transitions, depth %d",
		r.Scenario, r.Distinct, r.Expanded, r.Transitions, r.Depth)
	if r.Exhausted {
		s += " (exhausted)"
	}
	return s + fmt.Sprintf(", %d over the in-flight bound, terms to %d, configs %v, %v [%s]",
		r.OverInFlight, r.MaxTerm, r.Configs, r.Elapsed.Round(time.Millisecond), r.Bounds)
}

// node is a distinct state the search reached, as the path to it: the move
// from its parent. The root, the state after the setup, has parent -1.
type node struct {
	parent int32
	mv     move
	// hash is the state's hash, to check replays against.
	hash uint64
}

// explorer searches one scenario breadth first. It cannot copy a core: it
// reaches a state again by replaying the path to it from the start, and
// undoes a transition by rebuilding the one member it changed from that
// member's inputs (cluster.restore). Both rely on the core being
// deterministic, which the explorer checks on every replay and expansion.
type explorer struct {
	// sibling is the state of the node expanded last and how to get back to
	// its parent, so that its siblings need no replay from the start.
	sibling struct {
		c       *cluster
		parent  int32
		saved   savedCluster // the parent's state
		touched uint64       // the member the node's move changed
	}
	scn     *Scenario
	msgs    *messageTable
	hasher  *valueHasher
	visited map[uint64]struct{}
	nodes   []node
	report  Report
	configs map[string]struct{} // Report.Configs
}

// Search searches every state of s reachable within its bounds, breadth
// first, and checks the invariants in each (see the package doc). It returns
// what it covered and, when a check fails or the core panics, a *TraceError
// with the shortest path to the failure. When ctx ends it stops and returns
// the report so far with ctx's error.
func Search(ctx context.Context, s Scenario) (Report, error) {
	start := time.Now()
	e := newExplorer(&s)
	err := e.run(ctx)
	e.report.Distinct = len(e.nodes)
	e.report.Configs = slices.Sorted(maps.Keys(e.configs))
	e.report.Elapsed = time.Since(start)
	return e.report, err
}

func newExplorer(s *Scenario) *explorer {
	return &explorer{
		scn:     s,
		msgs:    newMessageTable(),
		hasher:  newValueHasher(),
		visited: map[uint64]struct{}{},
		report:  Report{Scenario: s.Name, Bounds: s.Bounds},
		configs: map[string]struct{}{},
	}
}

// Reproduce makes the transitions of trace in s after its setup, checking
// the invariants after each, as Search does. It returns the first failure as a
// *TraceError, or nil. The trace of a TraceError from Search reproduces it.
func Reproduce(s Scenario, trace []Transition) error {
	e := newExplorer(&s)
	c, err := e.replay(nil)
	if err != nil {
		return err
	}
	path := make([]move, 0, len(trace))
	for i, t := range trace {
		mv := move{kind: t.Kind, crashMidReady: t.CrashMidReady, change: uint8(t.Change), member: uint32(t.Member)}
		if t.Kind == Deliver || t.Kind == Drop {
			mv.member, mv.msg = 0, e.msgs.intern(&t.Message)
		}
		path = append(path, mv)
		taken, err := e.do(c, mv)
		if err == nil && !taken {
			err = fmt.Errorf("%w: transition %d: %s", ErrNotEnabled, i+1, t)
		}
		if err == nil {
			err = c.check()
		}
		if err != nil {
			return e.traceError(path, err)
		}
	}
	return nil
}

func (e *explorer) run(ctx context.Context) error {
	root, err := e.replay(nil)
	if err != nil {
		return err
	}
	h := e.hash(root)
	for _, m := range root.members {
		e.observe(m)
	}
	e.visited[h] = struct{}{}
	e.nodes = append(e.nodes, node{parent: -1, hash: h})
	e.report.PerDepth = append(e.report.PerDepth, 1)
	frontier := []int32{0}
	for depth := 0; depth < e.scn.Bounds.MaxDepth && len(frontier) > 0; depth++ {
		var next []int32
		for _, n := range frontier {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("explore %s at depth %d: %w", e.scn.Name, depth+1, err)
			}
			children, err := e.expand(n)
			if err != nil {
				return err
			}
			next = append(next, children...)
			e.report.Expanded++
		}
		e.report.Depth = depth + 1
		e.report.PerDepth = append(e.report.PerDepth, len(next))
		frontier = next
	}
	e.report.Exhausted = len(frontier) == 0
	return nil
}

// expand tries every transition enabled in state n and returns the new states.
func (e *explorer) expand(n int32) ([]int32, error) {
	c, path, err := e.reach(n)
	if err != nil {
		return nil, err
	}
	var children []int32
	saved := c.save()
	var touched uint64
	for i, mv := range c.moves() {
		if i > 0 {
			if err := e.restore(c, &saved, touched, path); err != nil {
				return nil, err
			}
		}
		touched = c.touches(mv)
		e.report.Transitions++
		taken, err := e.do(c, mv)
		if err != nil {
			return nil, e.traceError(append(path, mv), err)
		}
		if !taken {
			continue
		}
		if err := c.check(); err != nil {
			return nil, e.traceError(append(path, mv), err)
		}
		h := e.hash(c)
		if _, seen := e.visited[h]; seen {
			continue
		}
		e.visited[h] = struct{}{}
		if m := c.member(touched); m != nil {
			e.observe(m)
		}
		e.nodes = append(e.nodes, node{parent: n, mv: mv, hash: h})
		if len(c.net.ids) > e.scn.Bounds.MaxInFlight {
			e.report.OverInFlight++
		}
		children = append(children, int32(len(e.nodes)-1))
	}
	// Rebuilding members is how the search copies cores: check that the
	// last rebuild got the state back.
	if err := e.restore(c, &saved, touched, path); err != nil {
		return nil, err
	}
	if m := c.member(touched); m != nil {
		m.hashed = false
	}
	if h := e.hash(c); h != e.nodes[n].hash {
		return nil, e.traceError(path, fmt.Errorf("%w: rebuilt state hash %x, was %x", ErrNondeterministic, h, e.nodes[n].hash))
	}
	return children, nil
}

// observe adds what m shows of the space covered to the report.
func (e *explorer) observe(m *member) {
	e.configs[describeVoters(m.conf)] = struct{}{}
	e.report.MaxTerm = max(e.report.MaxTerm, m.rn.BasicStatus().Term)
}

// describeVoters renders the voters of cs as "(2 3 4)&&(1 2 3)".
func describeVoters(cs pb.ConfState) string {
	s := fmt.Sprint(slices.Sorted(slices.Values(cs.Voters)))
	if len(cs.VotersOutgoing) > 0 {
		s += "&&" + fmt.Sprint(slices.Sorted(slices.Values(cs.VotersOutgoing)))
	}
	return strings.NewReplacer("[", "(", "]", ")").Replace(s)
}

// reach returns state n and the path to it. Nodes of one parent are expanded
// one after the other, so it gets there from the sibling expanded last when
// it can: back to the parent by rebuilding one member, then one move.
// Otherwise it replays the path from the start.
func (e *explorer) reach(n int32) (*cluster, []move, error) {
	path := e.path(n)
	nd := &e.nodes[n]
	sib := &e.sibling
	var c *cluster
	switch {
	case nd.parent < 0:
		var err error
		if c, err = e.replay(nil); err != nil {
			return nil, nil, err
		}
		sib.c = nil
	case sib.c != nil && sib.parent == nd.parent:
		c = sib.c
		if err := e.restore(c, &sib.saved, sib.touched, path[:len(path)-1]); err != nil {
			return nil, nil, err
		}
	default:
		var err error
		if c, err = e.replay(path[:len(path)-1]); err != nil {
			return nil, nil, err
		}
		e.hash(c) // for save: every member's hash
		sib.c, sib.parent, sib.saved = c, nd.parent, c.save()
	}
	if nd.parent >= 0 {
		sib.touched = c.touches(nd.mv)
		taken, err := e.do(c, nd.mv)
		if err == nil && !taken {
			err = fmt.Errorf("%w: the last transition was not taken", ErrNondeterministic)
		}
		if err == nil {
			err = c.check()
		}
		if err != nil {
			return nil, nil, e.traceError(path, err)
		}
	}
	if h := e.hash(c); h != nd.hash {
		return nil, nil, e.traceError(path, fmt.Errorf("%w: state hash %x, was %x", ErrNondeterministic, h, nd.hash))
	}
	return c, path, nil
}

// path returns the moves from the root to n.
func (e *explorer) path(n int32) []move {
	var rev []move
	for ; e.nodes[n].parent >= 0; n = e.nodes[n].parent {
		rev = append(rev, e.nodes[n].mv)
	}
	path := make([]move, len(rev), len(rev)+1)
	for i, mv := range rev {
		path[len(rev)-1-i] = mv
	}
	return path
}

// replay builds the state at the end of path, which was explored before.
func (e *explorer) replay(path []move) (*cluster, error) {
	var c *cluster
	err := catchPanic(func() error {
		var err error
		c, err = newCluster(e.scn, e.msgs)
		return err
	})
	if err == nil {
		// The checks keep the ghost, which is part of the state.
		err = c.check()
	}
	if err != nil {
		return nil, e.traceError(nil, err)
	}
	for i, mv := range path {
		taken, err := e.do(c, mv)
		if err == nil && !taken {
			err = fmt.Errorf("%w: transition %d was not taken", ErrNondeterministic, i+1)
		}
		if err == nil {
			err = c.check()
		}
		if err != nil {
			return nil, e.traceError(path[:i+1], err)
		}
	}
	return c, nil
}

// restore brings c back to the saved state at the end of path.
func (e *explorer) restore(c *cluster, saved *savedCluster, touched uint64, path []move) error {
	err := catchPanic(func() error { return c.restore(saved, touched) })
	if err != nil {
		return e.traceError(path, fmt.Errorf("%w: rebuild: %w", ErrNondeterministic, err))
	}
	return nil
}

// do makes mv in c, turning a panic of the core into an error.
func (e *explorer) do(c *cluster, mv move) (taken bool, err error) {
	err = catchPanic(func() error {
		var err error
		taken, err = c.do(mv)
		return err
	})
	return taken, err
}

func catchPanic(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorePanicked, p)
		}
	}()
	return f()
}

// hash hashes the whole state of c: every member (memberHash), the messages
// in flight, the ghost and the bounds spent. A member's hash is kept until it
// changes, so a transition rehashes the one member it changed.
func (e *explorer) hash(c *cluster) uint64 {
	var w hasher
	for _, m := range c.members {
		if !m.hashed {
			m.hash, m.hashed = e.memberHash(m), true
		}
		w.word(m.hash)
	}
	w.word(uint64(len(c.net.ids)))
	for _, id := range c.net.ids {
		w.word(uint64(id))
	}
	c.ghost.hash(&w)
	u := c.used
	for _, x := range []int{u.crashes, u.drops, u.writes, u.confChanges, u.heartbeats} {
		w.word(uint64(x))
	}
	return w.h
}

// memberHash hashes m's core, which holds its disk, and its applied
// configuration.
func (e *explorer) memberHash(m *member) uint64 {
	w := e.hasher
	w.h = 0
	w.word(m.id)
	w.value(reflect.ValueOf(m.rn).Elem(), 0)
	w.value(reflect.ValueOf(m.conf), 0)
	return w.h
}

// traceError wraps err with the transitions of path.
func (e *explorer) traceError(path []move, err error) error {
	t := &TraceError{Scenario: e.scn.Name, Setup: describeSetup(e.scn.Setup), Err: err}
	for _, mv := range path {
		t.Trace = append(t.Trace, e.msgs.transition(mv))
	}
	return t
}
