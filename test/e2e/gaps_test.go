package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/client"
)

// measureGaps turns on TestWriteGaps (make e2e-gaps), a benchmark: it
// reports, it does not judge.
var (
	measureGaps = flag.Bool("e2e.gaps", false, "run TestWriteGaps: the longest gap between acknowledged writes during each operator step, as a table")
	gapRounds   = flag.Int("e2e.gaps.rounds", 3, "how many times TestWriteGaps takes every step")
)

// TestWriteGaps measures what a user's writer sees during each step the
// operator takes (scale 3 -> 5, 5 -> 3, rolling restart, a lost volume
// replaced, the leader's pod deleted): the longest time between two
// acknowledged writes. Four writers each put one key at a time: a
// long-lived Go client and a fresh raftctl process per put, each either
// through the client Service (what docs/operator.md tells users) or through
// every pod's address (refreshed from the API as pods come and go). For the
// worst gap of each step it prints the failed attempts inside it and what
// the members and the Service's endpoints did meanwhile, to show where the
// time went.
func TestWriteGaps(t *testing.T) {
	if !*measureGaps {
		t.Skip("a benchmark: runs only with -e2e.gaps (make e2e-gaps)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+time.Duration(*gapRounds)*5*time.Minute)
	defer cancel()
	raftctl := filepath.Join(buildDir, "raftctl")
	build := exec.CommandContext(ctx, "go", "build", "-o", raftctl, "./cmd/raftctl")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build raftctl: %v\n%s", err, out)
	}
	e := startEnv(ctx, t)
	c := e.clusterClient(t)
	e.installOperator(ctx, t, c)
	svc, err := e.client.CoreV1().Services(ns).Get(ctx, clusterName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	service := net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(clientPort))
	// The application's certificate, as a user's writer would hold it.
	app := e.clusterCreds(ctx, t, ns, clusterName, appCert)
	tlsFlags := app.raftctlFlags(t)

	tl := &timeline{start: time.Now()}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { tl.watch(wctx, e, service, app.config()) })
	waitFor(ctx, t, "the pods' addresses", func(context.Context) (bool, error) { return len(tl.podEndpoints()) == 3, nil })
	writers := []*gapWriter{
		{name: "Go client, Service", tl: tl, put: goPutter(wctx, t, app.config(), func() []string { return []string{service} })},
		{name: "Go client, pod IPs", tl: tl, put: goPutter(wctx, t, app.config(), tl.podEndpoints)},
		{name: "raftctl, Service", tl: tl, put: raftctlPutter(raftctl, tlsFlags, func() []string { return []string{service} })},
		{name: "raftctl, pod IPs", tl: tl, put: raftctlPutter(raftctl, tlsFlags, tl.podEndpoints)},
	}
	for _, w := range writers {
		wg.Go(func() { w.run(wctx) })
	}

	var steps []gapStep
	for round := range *gapRounds {
		step := func(name string, do func()) {
			t.Helper()
			s := gapStep{name: name, round: round, start: time.Now()}
			do()
			// Writes after convergence close the last gap of the step.
			pause(ctx, 3*time.Second)
			s.end = time.Now()
			steps = append(steps, s)
			t.Logf("round %d, %s: %v", round+1, name, s.end.Sub(s.start).Round(100*time.Millisecond))
		}
		gapSteps(ctx, t, e, c, tl, step, round)
	}
	stop()
	wg.Wait()
	printGaps(writers, steps, tl)
}

// gapSteps takes the measured steps once, from 3 voters back to 3 voters.
func gapSteps(ctx context.Context, t *testing.T, e *env, c ctrlclient.Client, tl *timeline, step func(string, func()), round int) {
	t.Helper()
	rc := func(ctx context.Context) *raftv1.RaftCluster {
		r := &raftv1.RaftCluster{}
		if err := c.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: clusterName}, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	settled := func(what string) {
		waitFor(ctx, t, clusterName+" converged after "+what, func(ctx context.Context) (bool, error) {
			err := e.converged(ctx, c)
			return err == nil, err
		})
	}
	// Waits until the cluster is no longer converged: the step has begun.
	begun := func(what string) {
		waitFor(ctx, t, what+" to begin", func(ctx context.Context) (bool, error) {
			return e.converged(ctx, c) != nil, nil
		})
	}

	step("steady (3 voters, 20 s)", func() { pause(ctx, 20*time.Second) })
	step("scale 3 -> 5", func() {
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=5")
		settled("scale 3 -> 5")
	})
	step("scale 5 -> 3", func() {
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=3")
		settled("scale 5 -> 3")
		e.waitGone(ctx, t, 3, 4)
	})
	step("rolling restart (3 members)", func() {
		e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=merge", "-p",
			fmt.Sprintf(`{"spec":{"pod":{"annotations":{"raftkube.io/gaps":"%d"}}}}`, round))
		begun("the rolling restart")
		settled("the rolling restart")
	})
	step("lost volume replaced (a follower)", func() {
		r := rc(ctx)
		victim := ""
		for _, m := range r.Status.Members {
			if m.Name != r.Status.Leader {
				victim = m.Name
			}
		}
		tl.note("delete claim data-%s and pod %s (leader %s)", victim, victim, r.Status.Leader)
		if err := e.client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data-"+victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := e.client.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		begun("the replacement")
		settled("the lost volume")
	})
	step("leader's pod deleted", func() {
		leader := rc(ctx).Status.Leader
		tl.note("delete pod %s (the leader)", leader)
		if err := e.client.CoreV1().Pods(ns).Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		begun("the leader's pod to go")
		settled("the leader's pod deleted")
	})
	// The scenarios that touch the members: a bad image set and
	// taken back, a size the storage class cannot give and taken back, the
	// manager's pod deleted (it is not in the data path: no gap expected).
	step("bad image set and taken back", func() {
		e.setBadImage(ctx, t)
		tl.note("a pod cannot pull %s; taking the change back", badImage)
		e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=json", "-p", `[{"op":"remove","path":"/spec/image"}]`)
		settled("the bad image taken back")
	})
	step("storage size the class cannot give, taken back", func() {
		size := rc(ctx).Spec.Storage.Size.String()
		e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=merge", "-p", `{"spec":{"storage":{"size":"100Gi"}}}`)
		waitCluster(ctx, t, c, "StorageResizing ExpansionNotSupported", func(rc *raftv1.RaftCluster) bool {
			return condition(rc, raftv1.ConditionStorageResizing) == "False/"+raftv1.ReasonExpansionNotSupported
		})
		e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=merge", "-p", `{"spec":{"storage":{"size":"`+size+`"}}}`)
		waitCluster(ctx, t, c, "StorageResizing Resized", func(rc *raftv1.RaftCluster) bool {
			return condition(rc, raftv1.ConditionStorageResizing) == "False/"+raftv1.ReasonResized
		})
		settled("the size taken back")
	})
	step("manager's pod deleted", func() {
		pod := managerPod(ctx, t, e)
		tl.note("delete the manager's pod %s", pod)
		if err := e.client.CoreV1().Pods(operatorNS).Delete(ctx, pod, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, "a new manager pod ready", func(ctx context.Context) (bool, error) {
			pods, err := e.managerPods(ctx)
			if err != nil {
				return false, err
			}
			return slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name != pod && podReady(&p) }), nil
		})
		settled("the manager's restart")
	})
}

// printGaps prints a table of the longest gap per step and writer (each
// round, then the longest over the rounds), and for each step of each round
// the failed puts of every writer's longest gap and what the members and the
// Service did meanwhile.
func printGaps(writers []*gapWriter, steps []gapStep, tl *timeline) {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"round: step", "took"}
	for _, w := range writers {
		header = append(header, w.name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	longest := map[string][]time.Duration{} // by step, by writer
	var names []string
	var details []string
	for _, s := range steps {
		if longest[s.name] == nil {
			longest[s.name] = make([]time.Duration, len(writers))
			names = append(names, s.name)
		}
		row := []string{fmt.Sprintf("%d: %s", s.round+1, s.name), s.end.Sub(s.start).Round(100 * time.Millisecond).String()}
		var worst gap
		var worstBy *gapWriter
		for i, w := range writers {
			g := w.longestGap(s.start, s.end)
			longest[s.name][i] = max(longest[s.name][i], g.length())
			row = append(row, fmt.Sprintf("%v (%d ok, %d failed)", g.length().Round(10*time.Millisecond), w.count(s.start, s.end, true), w.count(s.start, s.end, false)))
			if g.length() > worst.length() {
				worst, worstBy = g, w
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		if worstBy == nil {
			continue
		}
		d := fmt.Sprintf("round %d, %s: worst gap %v (%s), %.2fs..%.2fs after the writers began", s.round+1, s.name,
			worst.length().Round(10*time.Millisecond), worstBy.name, worst.from.Sub(tl.start).Seconds(), worst.to.Sub(tl.start).Seconds())
		for _, w := range writers {
			g := w.longestGap(s.start, s.end)
			d += fmt.Sprintf("\n %s: longest gap %v, %.2fs..%.2fs\n%s", w.name, g.length().Round(10*time.Millisecond),
				g.from.Sub(tl.start).Seconds(), g.to.Sub(tl.start).Seconds(), strings.Join(w.failuresIn(g, tl.start), "\n"))
		}
		d += "\n what happened meanwhile:\n" + strings.Join(tl.eventsIn(worst.from.Add(-time.Second), worst.to), "\n")
		details = append(details, d)
	}
	fmt.Fprintln(tw, strings.Repeat("\t", len(header)))
	for _, name := range names {
		row := []string{"longest: " + name, ""}
		for _, l := range longest[name] {
			row = append(row, l.Round(10*time.Millisecond).String())
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	_ = tw.Flush()
	fmt.Printf("longest gap between two acknowledged writes, per step and writer (one put at a time each):\n%s\n", table.String())
	for _, d := range details {
		fmt.Println(d)
		fmt.Println()
	}
}

// gapStep is one measured step: from just before its action until a few
// seconds after convergence.
type gapStep struct {
	name       string
	round      int
	start, end time.Time
}

// gap is the time between two acknowledged writes.
type gap struct{ from, to time.Time }

func (g gap) length() time.Duration { return g.to.Sub(g.from) }

// attempt is one put: when it began and ended, and its error.
type attemptRecord struct {
	began, ended time.Time
	err          string
}

// gapWriter puts one key at a time and records every attempt.
type gapWriter struct {
	name string
	tl   *timeline
	put  func(ctx context.Context, key, value string) error

	mu       sync.Mutex
	attempts []attemptRecord
}

func (w *gapWriter) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("gap-%s-%06d", strings.NewReplacer(" ", "", ",", "-").Replace(w.name), i)
		began := time.Now()
		err := w.put(ctx, key, strconv.Itoa(i))
		if ctx.Err() != nil {
			return
		}
		r := attemptRecord{began: began, ended: time.Now()}
		if err != nil {
			r.err = strings.Join(strings.Fields(err.Error()), " ")
		}
		w.mu.Lock()
		w.attempts = append(w.attempts, r)
		w.mu.Unlock()
		if err != nil {
			// What a user's retry loop does: try again soon, not at once.
			pause(ctx, 20*time.Millisecond)
		}
	}
}

// longestGap is the longest time between two acknowledged puts that
// overlaps [from, to].
func (w *gapWriter) longestGap(from, to time.Time) gap {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest gap
	var prev time.Time
	for _, a := range w.attempts {
		if a.err != "" {
			continue
		}
		if !prev.IsZero() && a.ended.After(from) && prev.Before(to) {
			if g := (gap{prev, a.ended}); g.length() > longest.length() {
				longest = g
			}
		}
		prev = a.ended
	}
	return longest
}

// count is the number of puts that ended in [from, to], acknowledged or not.
func (w *gapWriter) count(from, to time.Time, ok bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.attempts {
		if a.ended.After(from) && a.ended.Before(to) && (a.err == "") == ok {
			n++
		}
	}
	return n
}

// failuresIn describes the failed puts inside g, runs of one error as one
// line.
func (w *gapWriter) failuresIn(g gap, start time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	var run []attemptRecord
	flush := func() {
		if len(run) == 0 {
			return
		}
		first, last := run[0], run[len(run)-1]
		out = append(out, fmt.Sprintf("  %7.2fs..%7.2fs  %d put(s) failed, the first after %v: %s", first.began.Sub(start).Seconds(),
			last.ended.Sub(start).Seconds(), len(run), first.ended.Sub(first.began).Round(time.Millisecond), first.err))
		run = nil
	}
	for _, a := range w.attempts {
		if a.err == "" || !a.ended.After(g.from) || !a.began.Before(g.to) {
			continue
		}
		if len(run) > 0 && run[0].err != a.err {
			flush()
		}
		run = append(run, a)
	}
	flush()
	return out
}

// goPutter is a long-lived Go client with TLS settings cfg, made again only
// when the endpoints it is given change (pods come and go; the Service's
// address never does).
func goPutter(ctx context.Context, t *testing.T, cfg *tls.Config, endpoints func() []string) func(ctx context.Context, key, value string) error {
	var c *client.Client
	var eps []string
	context.AfterFunc(ctx, func() {
		if c != nil {
			_ = c.Close()
		}
	})
	return func(ctx context.Context, key, value string) error {
		if now := endpoints(); !slices.Equal(now, eps) && len(now) > 0 {
			nc, err := client.New(ctx, client.Config{Endpoints: now, DialTimeout: 2 * time.Second, TLS: cfg})
			if err != nil {
				t.Errorf("client for %v: %v", now, err)
				return err
			}
			if c != nil {
				_ = c.Close()
			}
			c, eps = nc, now
		}
		if c == nil {
			return fmt.Errorf("no endpoints")
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.Put(pctx, []byte(key), []byte(value))
		return err
	}
}

// raftctlPutter runs `raftctl put` once per write, as a shell loop would,
// with the TLS flags given.
func raftctlPutter(raftctl string, tlsFlags []string, endpoints func() []string) func(ctx context.Context, key, value string) error {
	return func(ctx context.Context, key, value string) error {
		eps := endpoints()
		if len(eps) == 0 {
			return fmt.Errorf("no endpoints")
		}
		args := append([]string{"--endpoints", strings.Join(eps, ",")}, tlsFlags...)
		out, err := exec.CommandContext(ctx, raftctl, append(args, "put", key, value)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
}

// timeline polls what the writers depend on, every 100ms: the pods (ready,
// address), the members' own view of the leader, and the ready addresses of
// the client Service's EndpointSlices; it keeps the changes.
type timeline struct {
	start time.Time

	mu     sync.Mutex
	events []timedEvent
	podEPs []string // the pods' client addresses, for the pod-IP writers
}

type timedEvent struct {
	at   time.Time
	what string
}

func (tl *timeline) note(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, timedEvent{time.Now(), fmt.Sprintf(format, args...)})
}

func (tl *timeline) podEndpoints() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.podEPs
}

func (tl *timeline) eventsIn(from, to time.Time) []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for _, ev := range tl.events {
		if !ev.at.Before(from) && !ev.at.After(to) {
			out = append(out, fmt.Sprintf("  %7.2fs  %s", ev.at.Sub(tl.start).Seconds(), ev.what))
		}
	}
	return out
}

func (tl *timeline) watch(ctx context.Context, e *env, service string, cfg *tls.Config) {
	last := map[string]string{}
	members := map[string]*client.Client{} // by pod address
	defer func() {
		for _, c := range members {
			_ = c.Close()
		}
	}()
	set := func(key, value string) {
		if last[key] != value {
			last[key] = value
			tl.note("%s: %s", key, value)
		}
	}
	for ctx.Err() == nil {
		began := time.Now()
		if pods, err := e.clusterPods(ctx); err == nil {
			var eps []string
			for _, p := range pods {
				state := "ready"
				switch {
				case p.DeletionTimestamp != nil:
					state = "terminating"
				case p.Status.PodIP == "":
					state = "no IP (" + string(p.Status.Phase) + ")"
				case !podReady(&p):
					state = "running, not ready"
				}
				set("pod "+p.Name, fmt.Sprintf("%s %s uid %s", state, p.Status.PodIP, string(p.UID)[:8]))
				if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
					continue
				}
				ep := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clientPort))
				eps = append(eps, ep)
				mc := members[ep]
				if mc == nil {
					mc, err = client.New(ctx, client.Config{Endpoints: []string{ep}, DialTimeout: 300 * time.Millisecond, TLS: cfg})
					if err != nil {
						continue
					}
					members[ep] = mc
				}
				sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				st, err := mc.Status(sctx, ep)
				cancel()
				if err != nil {
					set("member "+p.Name, "no answer")
					continue
				}
				set("member "+p.Name, fmt.Sprintf("%s, knows leader %x", st.GetRole(), st.GetLeader().GetId()))
			}
			tl.mu.Lock()
			tl.podEPs = eps
			tl.mu.Unlock()
			for ep, mc := range members {
				if !slices.Contains(eps, ep) {
					_ = mc.Close()
					delete(members, ep)
				}
			}
		}
		epSlices, err := e.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + clusterName})
		if err == nil {
			var ready []string
			for _, s := range epSlices.Items {
				for _, ep := range s.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
						ready = append(ready, ep.Addresses...)
					}
				}
			}
			slices.Sort(ready)
			set("Service "+service+" ready endpoints", "["+strings.Join(ready, " ")+"]")
		}
		pause(ctx, 100*time.Millisecond-time.Since(began))
	}
}
