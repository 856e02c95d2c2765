package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/client"
)

// The spec fuzzer's knobs (make e2e-fuzz); without -e2e.fuzz TestSpecFuzz
// skips, so `make test` never runs it.
var (
	fuzzDuration = flag.Duration("e2e.fuzz", 0, "run TestSpecFuzz, the randomized spec fuzzer, for this long (0 skips it)")
	fuzzSeed     = flag.Uint64("e2e.fuzz.seed", 0, "the spec fuzzer's seed; 0 picks one from the clock (printed at start, to replay a run)")
	fuzzEvery    = flag.Int("e2e.fuzz.check-every", 8, "actions between two convergence checks of the spec fuzzer")
	fuzzBound    = flag.Duration("e2e.fuzz.bound", 5*time.Minute, "how long a convergence check of the spec fuzzer may wait")
)

// fuzzSelectorKey is a node label no node has: a pod that asks for it stays
// Pending. With badImage, the templates that cannot run.
const fuzzSelectorKey = "raftkube.io/fuzz-nowhere"

// TestSpecFuzz applies random valid spec changes to a RaftCluster (replicas
// 1..7, pod template changes, templates that cannot run), takes changes
// back, deletes pods, pods with their claims, and the manager, with random
// waits between them, while a checked writer writes. Every few actions and
// at the end it takes the spec back to one that can run and checks that the
// cluster converges within -e2e.fuzz.bound and that every acknowledged write
// reads back. A run is replayed (as far as timing allows) with its seed.
func TestSpecFuzz(t *testing.T) {
	if *fuzzDuration <= 0 {
		t.Skip("the spec fuzzer runs only with -e2e.fuzz=DURATION (make e2e-fuzz)")
	}
	seed := *fuzzSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	// Printed before anything can fail, so a failing run can be replayed.
	fmt.Printf("spec fuzzer: seed %d, duration %v, convergence check every %d actions (replay: make e2e-fuzz E2E_FUZZ_SEED=%d E2E_FUZZ_DURATION=%v)\n",
		seed, *fuzzDuration, *fuzzEvery, seed, *fuzzDuration)
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), *fuzzDuration+30*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	c := e.clusterClient(t)
	e.installOperator(ctx, t, c)

	f := &fuzzer{e: e, c: c, t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed}
	f.w = startCheckedWriter(ctx, t, e)
	defer f.w.close()
	// A failure anywhere below reports the seed and what the fuzzer did.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spec fuzzer FAILED with seed %d after %d actions:\n%s", seed, len(f.log), strings.Join(f.log, "\n"))
			if f.counts.acked == 0 {
				f.counts.acked = len(f.w.snapshot())
			}
			f.counts.report(t, seed)
		}
	})

	deadline := time.Now().Add(*fuzzDuration)
	unchecked := 0 // actions since the last convergence check
	for time.Now().Before(deadline) {
		f.act(ctx)
		if unchecked++; unchecked == *fuzzEvery {
			f.checkpoint(ctx)
			unchecked = 0
		} else {
			f.pause(ctx)
		}
	}
	if unchecked > 0 {
		f.checkpoint(ctx)
	}
	f.w.stopAndReadAll(ctx, t, &f.counts)
	f.counts.report(t, seed)
}

// fuzzCounts are what a fuzz run did; report prints them.
type fuzzCounts struct {
	changes, badChanges, reverts, podDeletions, claimDeletions, managerRestarts int
	checks, acked, lost                                                         int
	skipped                                                                     int
	longest                                                                     time.Duration
}

func (n *fuzzCounts) report(t *testing.T, seed uint64) {
	t.Helper()
	summary := fmt.Sprintf("spec fuzzer (seed %d): %d changes applied (%d that cannot run), %d reverts, %d pod deletions, "+
		"%d claim+pod deletions, %d manager restarts, %d actions skipped (unsafe then), %d convergence checks "+
		"(longest %v), %d writes acknowledged, %d lost",
		seed, n.changes, n.badChanges, n.reverts, n.podDeletions, n.claimDeletions, n.managerRestarts, n.skipped,
		n.checks, n.longest.Round(100*time.Millisecond), n.acked, n.lost)
	fmt.Println(summary)
	t.Log(summary)
}

// fuzzer is one run's state.
type fuzzer struct {
	e    *env
	c    ctrlclient.Client
	t    *testing.T
	rng  *rand.Rand
	seed uint64
	w    *checkedWriter
	// undo is the spec before the last change, nil once it was taken back.
	undo *raftv1.RaftClusterSpec
	// bad: the spec's template is one that cannot run.
	bad    bool
	serial int // makes each template change distinct
	start  time.Time
	log    []string
	counts fuzzCounts
}

// record logs one action with the time since the run began.
func (f *fuzzer) record(format string, args ...any) {
	if f.start.IsZero() {
		f.start = time.Now()
	}
	line := fmt.Sprintf("%7.1fs  %s", time.Since(f.start).Seconds(), fmt.Sprintf(format, args...))
	f.log = append(f.log, line)
	f.t.Log(line)
}

// act takes one random action. Taking back a change that cannot run is the
// most likely action right after one.
func (f *fuzzer) act(ctx context.Context) {
	type choice struct {
		weight int
		do     func(context.Context)
	}
	revertWeight := 0
	if f.undo != nil {
		revertWeight = 12
		if f.bad {
			revertWeight = 45
		}
	}
	choices := []choice{
		{18, f.scale},
		{14, f.goodTemplate},
		{9, f.badTemplate},
		{revertWeight, f.revert},
		{14, f.deletePod},
		{7, f.deleteClaim},
		{6, f.restartManager},
	}
	total := 0
	for _, ch := range choices {
		total += ch.weight
	}
	r := f.rng.IntN(total)
	for _, ch := range choices {
		if r < ch.weight {
			ch.do(ctx)
			return
		}
		r -= ch.weight
	}
}

// pause waits between two actions: not at all, a little, a while, or until
// the cluster converges (bounded: a spec that cannot run never does).
func (f *fuzzer) pause(ctx context.Context) {
	switch r := f.rng.IntN(100); {
	case r < 25:
	case r < 60:
		pause(ctx, time.Duration(f.rng.IntN(3000))*time.Millisecond)
	case r < 80:
		pause(ctx, 3*time.Second+time.Duration(f.rng.IntN(12000))*time.Millisecond)
	default:
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			return f.converged(ctx) == nil, nil
		})
		cancel()
		f.record("waited for convergence: %v after %v", err == nil, time.Since(start).Round(100*time.Millisecond))
	}
}

// update applies mutate to the cluster's spec, again on a conflict with the
// manager's status writes.
func (f *fuzzer) update(ctx context.Context, mutate func(*raftv1.RaftClusterSpec)) (before raftv1.RaftClusterSpec) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rc, err := f.get(ctx)
		if err != nil {
			return err
		}
		before = *rc.Spec.DeepCopy()
		mutate(&rc.Spec)
		if err := f.c.Update(ctx, rc); err != nil {
			return err
		}
		f.bad = cannotRun(rc.Spec)
		return nil
	})
	if err != nil {
		f.t.Fatalf("update the spec of %s: %v", clusterName, err)
	}
	return before
}

// cannotRun says whether s holds one of the fuzzer's templates that cannot run.
func cannotRun(s raftv1.RaftClusterSpec) bool {
	_, unschedulable := s.Pod.NodeSelector[fuzzSelectorKey]
	return s.Image == badImage || unschedulable
}

func (f *fuzzer) get(ctx context.Context) (*raftv1.RaftCluster, error) {
	rc := &raftv1.RaftCluster{}
	if err := f.c.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: clusterName}, rc); err != nil {
		return nil, fmt.Errorf("get %s: %w", clusterName, err)
	}
	return rc, nil
}

// change applies a spec change that the next revert takes back.
func (f *fuzzer) change(ctx context.Context, bad bool, what string, mutate func(*raftv1.RaftClusterSpec)) {
	before := f.update(ctx, mutate)
	f.undo = &before
	f.counts.changes++
	if bad {
		f.counts.badChanges++
	}
	f.record("change: %s", what)
}

func (f *fuzzer) scale(ctx context.Context) {
	rc, err := f.get(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	cur := ptrValue(rc.Spec.Replicas)
	n := cur
	for n == cur {
		n = int32(1 + f.rng.IntN(7))
	}
	f.change(ctx, false, fmt.Sprintf("replicas %d -> %d", cur, n), func(s *raftv1.RaftClusterSpec) { s.Replicas = &n })
}

// goodTemplate changes the pod template in a way pods can run: an
// annotation, the CPU request, or a Raft setting; each restarts every member.
func (f *fuzzer) goodTemplate(ctx context.Context) {
	f.serial++
	switch f.rng.IntN(3) {
	case 0:
		v := fmt.Sprintf("%d", f.serial)
		f.change(ctx, false, "pod annotation raftkube.io/fuzz="+v, func(s *raftv1.RaftClusterSpec) {
			if s.Pod.Annotations == nil {
				s.Pod.Annotations = map[string]string{}
			}
			s.Pod.Annotations["raftkube.io/fuzz"] = v
		})
	case 1:
		cpu := resource.MustParse(fmt.Sprintf("%dm", 5+5*f.rng.IntN(10)))
		f.change(ctx, false, "cpu request "+cpu.String(), func(s *raftv1.RaftClusterSpec) {
			if s.Resources.Requests == nil {
				s.Resources.Requests = corev1.ResourceList{}
			}
			s.Resources.Requests[corev1.ResourceCPU] = cpu
		})
	default:
		n := int64(5000 + 1000*f.rng.IntN(10) + f.serial)
		f.change(ctx, false, fmt.Sprintf("raft.snapshotEntries %d", n), func(s *raftv1.RaftClusterSpec) { s.Raft.SnapshotEntries = n })
	}
}

// badTemplate makes the template one no pod can run.
func (f *fuzzer) badTemplate(ctx context.Context) {
	if f.rng.IntN(2) == 0 {
		f.change(ctx, true, "image "+badImage+" (cannot be pulled)", func(s *raftv1.RaftClusterSpec) { s.Image = badImage })
		return
	}
	f.change(ctx, true, "nodeSelector "+fuzzSelectorKey+"=true (no node has it)", func(s *raftv1.RaftClusterSpec) {
		if s.Pod.NodeSelector == nil {
			s.Pod.NodeSelector = map[string]string{}
		}
		s.Pod.NodeSelector[fuzzSelectorKey] = "true"
	})
}

func (f *fuzzer) revert(ctx context.Context) {
	undo := *f.undo
	f.update(ctx, func(s *raftv1.RaftClusterSpec) { *s = undo })
	f.record("revert the last change (the spec can run now: %v)", !f.bad)
	f.undo = nil
	f.counts.reverts++
}

// pods lists the cluster's pods, by name.
func (f *fuzzer) pods(ctx context.Context) []corev1.Pod {
	pods, err := f.e.clusterPods(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return pods
}

func (f *fuzzer) deletePod(ctx context.Context) {
	pods := slices.DeleteFunc(f.pods(ctx), func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	if len(pods) == 0 {
		f.skip("delete a pod: none")
		return
	}
	p := pods[f.rng.IntN(len(pods))]
	if err := f.e.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatalf("delete pod %s: %v", p.Name, err)
	}
	f.counts.podDeletions++
	f.record("delete pod %s", p.Name)
}

// deleteClaim deletes a member's claim and then its pod: the member comes
// back with an empty volume and must be replaced. Losing a volume is a
// fault Raft tolerates only while a majority keeps its data, so the fuzzer
// does it only when every voter of at least 3 is ready and no replacement
// is in progress; otherwise the action is skipped.
func (f *fuzzer) deleteClaim(ctx context.Context) {
	rc, err := f.get(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if why := f.claimUnsafe(ctx, rc); why != "" {
		f.skip("delete a claim: " + why)
		return
	}
	m := rc.Status.Members[f.rng.IntN(len(rc.Status.Members))]
	claim := "data-" + m.Name
	if err := f.e.client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil {
		f.t.Fatalf("delete claim %s: %v", claim, err)
	}
	if err := f.e.client.CoreV1().Pods(ns).Delete(ctx, m.Name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatalf("delete pod %s: %v", m.Name, err)
	}
	f.counts.claimDeletions++
	f.record("delete claim %s and pod %s (member %s, %s)", claim, m.Name, m.ID, m.Role)
}

// claimUnsafe says why losing one volume now could lose acknowledged data
// or quorum for good; "" when it is safe.
func (f *fuzzer) claimUnsafe(ctx context.Context, rc *raftv1.RaftCluster) string {
	s := rc.Status
	switch {
	case s.ObservedGeneration != rc.Generation:
		return "status is of an older spec"
	case s.Replicas < 3:
		return fmt.Sprintf("%d voters", s.Replicas)
	case s.ReadyReplicas != s.Replicas || int(s.Replicas) != len(s.Members):
		return fmt.Sprintf("%d of %d voters ready, %d members", s.ReadyReplicas, s.Replicas, len(s.Members))
	}
	for _, m := range s.Members {
		if m.ReplacesID != "" || !m.Ready || (m.Role != raftv1.RoleLeader && m.Role != raftv1.RoleFollower) {
			return fmt.Sprintf("member %s is %s (ready %v, replaces %q)", m.Name, m.Role, m.Ready, m.ReplacesID)
		}
	}
	for _, p := range f.pods(ctx) {
		if p.DeletionTimestamp != nil || !podReady(&p) {
			return "pod " + p.Name + " is not ready"
		}
	}
	return ""
}

func (f *fuzzer) restartManager(ctx context.Context) {
	pods, err := f.e.managerPods(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := f.e.client.CoreV1().Pods(operatorNS).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			f.t.Fatalf("delete manager pod %s: %v", p.Name, err)
		}
		f.counts.managerRestarts++
		f.record("restart the manager (delete pod %s)", p.Name)
		return
	}
	f.skip("restart the manager: no manager pod")
}

func (f *fuzzer) skip(why string) {
	f.counts.skipped++
	f.record("skip: %s", why)
}

// checkpoint takes the spec back to one that can run (the replicas and the
// good template changes stay), waits for convergence and reads back every
// write acknowledged so far.
func (f *fuzzer) checkpoint(ctx context.Context) {
	f.t.Helper()
	f.update(ctx, func(s *raftv1.RaftClusterSpec) {
		s.Image = ""
		delete(s.Pod.NodeSelector, fuzzSelectorKey)
	})
	f.undo = nil
	rc, err := f.get(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.record("check: spec can run (replicas %d); waiting for convergence", ptrValue(rc.Spec.Replicas))
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, *fuzzBound)
	defer cancel()
	var last error
	err = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = f.converged(ctx)
		return last == nil, nil
	})
	took := time.Since(start)
	if err != nil {
		f.dump(ctx)
		f.t.Fatalf("seed %d: no convergence within %v of taking the spec back to one that can run: %v", f.seed, *fuzzBound, last)
	}
	f.counts.checks++
	f.counts.longest = max(f.counts.longest, took)
	n, err := f.w.readBack(ctx)
	if err != nil {
		f.dump(ctx)
		f.t.Fatalf("seed %d: %v", f.seed, err)
	}
	f.record("check: converged in %v; %d acknowledged writes read back", took.Round(100*time.Millisecond), n)
}

// converged is nil when the cluster is where its spec says with nothing
// left to do; else what is not yet.
func (f *fuzzer) converged(ctx context.Context) error { return f.e.converged(ctx, f.c) }

// converged is nil when the cluster is where its spec says with nothing left
// to do: phase Available, Progressing False/Reconciled, as many ready voters
// as spec.replicas and no other member, every pod ready on the
// StatefulSet's update revision; else what is not yet.
func (e *env) converged(ctx context.Context, c ctrlclient.Client) error {
	rc := &raftv1.RaftCluster{}
	if err := c.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: clusterName}, rc); err != nil {
		return fmt.Errorf("get %s: %w", clusterName, err)
	}
	want := ptrValue(rc.Spec.Replicas)
	s := rc.Status
	if s.ObservedGeneration != rc.Generation {
		return fmt.Errorf("status observed generation %d, spec is %d", s.ObservedGeneration, rc.Generation)
	}
	if s.Phase != raftv1.PhaseAvailable {
		return fmt.Errorf("phase %s", s.Phase)
	}
	if p := s.Condition(raftv1.ConditionProgressing); p == nil || p.Status != metav1.ConditionFalse || p.Reason != raftv1.ReasonReconciled {
		return fmt.Errorf("progressing: %+v", p)
	}
	voters := 0
	for _, m := range s.Members {
		if (m.Role == raftv1.RoleLeader || m.Role == raftv1.RoleFollower) && m.Ready {
			voters++
		}
	}
	if voters != int(want) || len(s.Members) != int(want) || s.Replicas != want || s.ReadyReplicas != want || s.Leader == "" {
		return fmt.Errorf("%d ready voters of %d members (status replicas %d, ready %d, leader %q), spec wants %d",
			voters, len(s.Members), s.Replicas, s.ReadyReplicas, s.Leader, want)
	}
	sts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, clusterName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get statefulset: %w", err)
	}
	rev := sts.Status.UpdateRevision
	if sts.Status.ObservedGeneration != sts.Generation || rev == "" {
		return fmt.Errorf("statefulset status of generation %d, spec is %d", sts.Status.ObservedGeneration, sts.Generation)
	}
	pods, err := e.clusterPods(ctx)
	if err != nil {
		return err
	}
	if len(pods) != int(want) {
		return fmt.Errorf("%d pods, want %d", len(pods), want)
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || !podReady(&p) {
			return fmt.Errorf("pod %s not ready", p.Name)
		}
		if got := p.Labels[appsv1.StatefulSetRevisionLabel]; got != rev {
			return fmt.Errorf("pod %s on revision %s, update revision %s", p.Name, got, rev)
		}
	}
	return nil
}

// clusterPods lists the sample cluster's pods, by name.
func (e *env) clusterPods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: raftv1.LabelCluster + "=" + clusterName})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// dump logs what a failing check saw: the RaftCluster, pods, claims,
// events and the manager's log.
func (f *fuzzer) dump(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "raft", clusterName, "-n", ns, "-o", "yaml"},
		{"get", "pods,pvc,statefulset", "-n", ns, "-o", "wide"},
		{"get", "events", "-n", ns, "--sort-by=.lastTimestamp"},
		{"get", "pods", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.controller-revision-hash} {.status.phase} {.status.containerStatuses}{\"\\n\"}{end}"},
	} {
		out, err := f.e.toolErr(dctx, "kubectl", args...)
		f.t.Logf("kubectl %s (err %v):\n%s", strings.Join(args, " "), err, out)
	}
	logs := f.e.managerLog(dctx, f.t)
	const tail = 20000
	if len(logs) > tail {
		logs = logs[len(logs)-tail:]
	}
	f.t.Logf("manager log (tail):\n%s", logs)
}

func ptrValue(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// installOperator installs the chart and applies the sample cluster, and
// waits until it is Available with 3 voters.
func (e *env) installOperator(ctx context.Context, t *testing.T, c ctrlclient.Client) {
	t.Helper()
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "3m")
	e.tool(ctx, t, "kubectl", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "raftkube_v1alpha1_raftcluster.yaml"))
	waitCluster(ctx, t, c, "Available with 3 voters", available(3))
}

// checkedWriter is TestOperator's workload with only its writer of unique
// keys: every acknowledged write is remembered and must read back. (The
// shared keys' porcupine check would grow too large for a long run.)
type checkedWriter struct {
	*workload
}

func startCheckedWriter(ctx context.Context, t *testing.T, e *env) *checkedWriter {
	t.Helper()
	w := newWorkload(ctx, t, e, ns, clusterName)
	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	if err := w.refresh(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	w.wg.Go(func() { w.uniqueWrites(wctx) })
	return &checkedWriter{w}
}

// snapshot copies the acknowledged writes.
func (w *checkedWriter) snapshot() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}

// readBack reads every unique key with linearizable Ranges, a page at a
// time, and checks that each acknowledged write is there with its value.
func (w *checkedWriter) readBack(ctx context.Context) (int, error) {
	acked := w.snapshot()
	seen := make(map[string]string, len(acked))
	from, end := []byte("unique-"), []byte("unique.") // '.' follows '-'
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := w.forceRefreshClient(rctx).Range(rctx, from, client.WithRange(end), client.WithLimit(2000))
		cancel()
		if err != nil {
			return 0, fmt.Errorf("read back the acknowledged writes: %w", err)
		}
		for _, kv := range r.GetKvs() {
			seen[string(kv.GetKey())] = string(kv.GetValue())
		}
		if !r.GetMore() || len(r.GetKvs()) == 0 {
			break
		}
		from = append(bytes.Clone(r.GetKvs()[len(r.GetKvs())-1].GetKey()), 0)
	}
	var lost []string
	for k, v := range acked {
		if seen[k] != v {
			lost = append(lost, fmt.Sprintf("%s=%s (read %q)", k, v, seen[k]))
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return 0, fmt.Errorf("%d of %d acknowledged writes lost: %s", len(lost), len(acked), strings.Join(lost[:min(len(lost), 20)], ", "))
	}
	return len(acked), nil
}

// forceRefreshClient points the client at the pods' current addresses
// before a read: after convergence pods may have new ones.
func (w *checkedWriter) forceRefreshClient(ctx context.Context) *client.Client {
	w.mu.Lock()
	w.checked = time.Time{}
	w.mu.Unlock()
	_ = w.refresh(ctx)
	return w.client()
}

// stopAndReadAll stops the writer and reads each acknowledged key back with
// its own linearizable Get.
func (w *checkedWriter) stopAndReadAll(ctx context.Context, t *testing.T, n *fuzzCounts) {
	t.Helper()
	w.cancel()
	w.wg.Wait()
	acked := w.snapshot()
	c := w.forceRefreshClient(ctx)
	n.acked = len(acked)
	var errs []error
	for key, want := range acked {
		kv, found, err := c.Get(ctx, []byte(key))
		if err != nil {
			t.Fatalf("read back %s: %v", key, err)
		}
		if !found || string(kv.GetValue()) != want {
			n.lost++
			if len(errs) < 20 {
				errs = append(errs, fmt.Errorf("acknowledged write %s=%s reads back as %q (found %v)", key, want, kv.GetValue(), found))
			}
		}
	}
	st := w.rec.Stats()
	t.Logf("writer: %d completed, %d unknown outcome, %d not applied", st.Completed, st.Unknown, st.NotApplied)
	if len(acked) < 10 {
		t.Errorf("only %d writes acknowledged", len(acked))
	}
	if n.lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost: %v", n.lost, len(acked), errors.Join(errs...))
	}
}

// close closes the writer's clients.
func (w *checkedWriter) close() {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range append(w.retired, w.c) {
		if c != nil {
			_ = c.Close()
		}
	}
	w.retired, w.c = nil, nil
}
