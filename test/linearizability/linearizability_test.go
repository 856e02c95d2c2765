package linearizability

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/test/harness"
)

// The defaults are the budget of `go test ./...`: a few short histories. A
// long run passes more, e.g. -lin.histories=50 -lin.duration=20s.
var (
	flagHistories    = flag.Int("lin.histories", 3, "number of histories (each on a fresh cluster)")
	flagDuration     = flag.Duration("lin.duration", 4*time.Second, "length of each history's workload")
	flagClients      = flag.Int("lin.clients", 6, "concurrent clients")
	flagKeys         = flag.Int("lin.keys", 3, "number of keys the clients share")
	flagSeed         = flag.Uint64("lin.seed", 0, "seed of the workload and nemesis choices (0: random, logged)")
	flagCheckTimeout = flag.Duration("lin.check-timeout", 60*time.Second, "time porcupine may take per history; beyond it the test fails as inconclusive")
	flagOut          = flag.String("lin.out", "", "directory for the visualization and history of a failed history (default: the test's -artifacts dir, else a kept temporary dir)")
	flagNemesis      = flag.Bool("lin.nemesis", true, "inject faults while the clients run")
	flagSave         = flag.Bool("lin.save", false, "save every history as JSON (in the -lin.out dir), not only failed ones")
	flagRecheck      = flag.String("lin.recheck", "", "TestRecheck checks this saved history.json")
)

// TestLinearizability runs histories of concurrent clients against a cluster
// of real raftnode processes under the nemesis, and checks each with the
// model.
func TestLinearizability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clusters for several seconds")
	}
	b := binaries(t)
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun one history with -lin.seed=<its seed> -lin.histories=1)", seed)
	for i := range *flagHistories {
		hseed := seed + uint64(i)
		t.Run(fmt.Sprintf("history%d-seed%d", i, hseed), func(t *testing.T) {
			runHistory(t, b, hseed)
		})
	}
}

func runHistory(t *testing.T, b harness.Binaries, seed uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), *flagDuration+3*time.Minute)
	defer cancel()
	c := harness.StartCluster(ctx, t, b, harness.Options{
		Voters: 3,
		// Snapshots and compaction every few dozen writes, so restarted and
		// new members also catch up from snapshots.
		SnapshotEntries: 64,
	})
	eps := &endpoints{}
	for _, n := range c.Members() {
		eps.add(n.ClientAddr())
	}
	keys := make([]string, *flagKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("lin/k%d", i)
	}

	rec := NewRecorder()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range *flagClients {
		w := &worker{
			id: i, rng: rand.New(rand.NewPCG(seed, uint64(i)+1)), keys: keys, eps: eps,
			sess: rec.Session(), seen: make(map[string]*KeyValue),
		}
		wg.Go(func() { w.run(ctx, t, stop) })
	}
	nem := &nemesis{t: t, c: c, rec: rec, eps: eps, rng: rand.New(rand.NewPCG(seed, 0)),
		done: make(map[string]int), failed: make(map[string]int)}
	if *flagNemesis {
		wg.Go(func() { nem.run(ctx, stop) })
	}
	select {
	case <-time.After(*flagDuration):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()

	heal(ctx, t, c)
	finalReads(ctx, t, c, rec, eps, keys)
	history := rec.History()
	st := rec.Stats()
	t.Logf("%d operations (%d completed, %d unknown outcome; %d not applied, dropped): %s; nemesis: %s",
		len(history), st.Completed, st.Unknown, st.NotApplied, kinds(st), summary(nem))
	if st.Completed < 10*len(keys) {
		t.Errorf("only %d requests completed: the cluster was barely available", st.Completed)
	}

	out := outDir(t)
	start := time.Now()
	verdict, err := Check(history, rec.Annotations(), *flagCheckTimeout, filepath.Join(out, "visualization.html"))
	t.Logf("porcupine: %s in %v", verdict.Result, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Error(err)
	}
	if *flagSave {
		t.Logf("history saved to %s", saveHistory(t, out, history))
	}
	switch verdict.Result {
	case porcupine.Illegal:
		path := saveHistory(t, out, history)
		t.Errorf("history is not linearizable (keys %v); visualization: %s; history: %s\n%s", verdict.IllegalKeys,
			verdict.Visualization, path, strings.Join(verdict.Explanations, "\n"))
	case porcupine.Unknown:
		path := saveHistory(t, out, history)
		t.Errorf("inconclusive: porcupine did not finish within %v (-lin.check-timeout); history: %s", *flagCheckTimeout, path)
	case porcupine.Ok:
		checkNotVacuous(t, history, len(keys))
	}
	for _, p := range CheckWriteOrder(history) {
		t.Errorf("write order: %s", p)
	}
}

// heal restarts members that are down, waits for a leader and until every
// member applied everything committed.
func heal(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	for _, n := range c.Members() {
		if !n.Running() {
			if err := n.Restart(ctx); err != nil {
				t.Fatalf("heal: %v", err)
			}
		}
	}
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatalf("heal: %v", err)
	}
}

// finalReads reads every key linearizably, as part of the history, so that an
// acknowledged write missing at the end is a violation; then checks that every
// member holds the same.
func finalReads(ctx context.Context, t *testing.T, c *harness.Cluster, rec *Recorder, eps *endpoints, keys []string) {
	t.Helper()
	_, list := eps.get()
	cl, err := newWorkloadClient(list)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sess := rec.Session()
	for _, key := range keys {
		in := Input{Kind: OpGet, Key: key}
		err := harness.WaitFor(ctx, "a final read of "+key, func(ctx context.Context) error {
			var err error
			sess.Do(in, func() (Output, Outcome, string) {
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				defer cancel()
				var o Output
				var oc Outcome
				o, oc, err = Send(octx, cl, in)
				return o, oc, ""
			})
			return err
		})
		if err != nil {
			t.Fatalf("final read: %v", err)
		}
	}
	// Replicas must not diverge: once every member applied everything, its
	// own state is the cluster's. A write whose client gave up may still be
	// committing, so this waits for the members to agree with a fresh
	// linearizable read rather than comparing once.
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = harness.WaitFor(actx, "every member to hold what a linearizable read gives", func(ctx context.Context) error {
		if err := c.WaitConverged(ctx); err != nil {
			return err
		}
		for _, key := range keys {
			kv, _, err := cl.Get(ctx, []byte(key))
			if err != nil {
				return err
			}
			want := fromProto(kv)
			for _, n := range c.Running() {
				resp, err := n.KV().Get(ctx, &serverpb.GetRequest{Key: []byte(key), Consistency: serverpb.Consistency_CONSISTENCY_SERIALIZABLE})
				if err != nil {
					return fmt.Errorf("serializable read of %s on %s: %w", key, n.Name(), err)
				}
				if got := fromProto(resp.GetKv()); got.String() != want.String() {
					return fmt.Errorf("%s on %s (applied %d) is %s; a linearizable read gives %s", key, n.Name(),
						resp.GetHeader().GetAppliedIndex(), got, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("replicas diverge: %v", err)
	}
}

// checkNotVacuous makes sure the check could have failed, and would not have
// taken too long to say so: the history with one final read changed to a
// value no one wrote must be rejected; so must the history with a read from
// its middle changed so. The final reads are the last n operations of the
// history.
func checkNotVacuous(t *testing.T, history []porcupine.Operation, n int) {
	t.Helper()
	mustReject(t, history, len(history)-n)
	for i := len(history) / 2; i < len(history); i++ {
		if history[i].Input.(Input).Kind == OpGet {
			mustReject(t, history, i)
			break
		}
	}
}

// mustReject checks that the history with the read at i changed is rejected.
func mustReject(t *testing.T, history []porcupine.Operation, i int) {
	t.Helper()
	tampered := slices.Clone(history)
	op := tampered[i]
	out := op.Output.(Output)
	out.KV = &KeyValue{Value: "never written", Version: 1, CreateIndex: 1, ModIndex: 1}
	op.Output = out
	tampered[i] = op
	key := op.Input.(Input).Key
	var part []porcupine.Operation
	for _, o := range tampered {
		if o.Input.(Input).Key == key {
			part = append(part, o)
		}
	}
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(Model, Prepare(part), *flagCheckTimeout)
	t.Logf("history with read %d of %d changed: %s in %v", i, len(history), res, time.Since(start).Round(time.Millisecond))
	if res == porcupine.Ok {
		t.Errorf("the checker accepts the history with read %d, of %s, changed to %s", i, key, out.KV)
	}
}

// outDir is where a failed history's files go: under -lin.out, else the
// test's artifact dir when -artifacts is set, else a temporary dir that is
// kept when the test fails. Check and saveHistory make it when they write.
func outDir(t *testing.T) string {
	switch a := flag.Lookup("test.artifacts"); {
	case *flagOut != "":
		return filepath.Join(*flagOut, strings.ReplaceAll(t.Name(), "/", "_"))
	case a != nil && a.Value.String() == "true":
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "raftkube-linearizability-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	return dir
}

// saveHistory writes the history as JSON next to the visualization.
func saveHistory(t *testing.T, dir string, history []porcupine.Operation) string {
	path := filepath.Join(dir, "history.json")
	if err := WriteHistory(path, history); err != nil {
		t.Error(err)
		return ""
	}
	return path
}

// TestRecheck checks a history saved by a failed run (-lin.recheck=path), to
// look at a violation again or try a change of the model on it.
func TestRecheck(t *testing.T) {
	if *flagRecheck == "" {
		t.Skip("no -lin.recheck history")
	}
	history, err := ReadHistory(*flagRecheck)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range partitionByKey(history) {
		unknown := 0
		for _, op := range part {
			if op.Output.(Output).Unknown {
				unknown++
			}
		}
		start := time.Now()
		res := porcupine.CheckOperationsTimeout(Model, Prepare(part), *flagCheckTimeout)
		t.Logf("key %s: %d operations, %d unknown: %s in %v", part[0].Input.(Input).Key, len(part), unknown, res, time.Since(start).Round(time.Millisecond))
	}
	verdict, err := Check(history, nil, *flagCheckTimeout, filepath.Join(outDir(t), "visualization.html"))
	if err != nil {
		t.Error(err)
	}
	if verdict.Result != porcupine.Ok {
		t.Errorf("%s on keys %v; visualization: %s\n%s", verdict.Result, verdict.IllegalKeys, verdict.Visualization,
			strings.Join(verdict.Explanations, "\n"))
	} else {
		checkNotVacuous(t, history, len(partitionByKey(history)))
	}
	for _, p := range CheckWriteOrder(history) {
		t.Errorf("write order: %s", p)
	}
}

func kinds(st Stats) string {
	var parts []string
	for _, k := range []OpKind{OpGet, OpPut, OpDelete, OpCAS} {
		parts = append(parts, fmt.Sprintf("%d %s", st.ByKind[k], k))
	}
	return strings.Join(parts, ", ")
}

func summary(n *nemesis) string {
	var names []string
	for name := range n.done {
		names = append(names, name)
	}
	for name := range n.failed {
		if _, ok := n.done[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		s := fmt.Sprintf("%d %s", n.done[name], name)
		if f := n.failed[name]; f > 0 {
			s += fmt.Sprintf(" (+%d failed)", f)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
