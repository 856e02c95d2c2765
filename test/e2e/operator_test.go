package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/test/linearizability"
)

// allScenarios adds the scenarios `make test` leaves to `make test-e2e`.
var allScenarios = flag.Bool("e2e.all", false, "also run the slower operator scenarios (spec changed mid-change, manager killed mid-change)")

const (
	operatorNS  = "raftkube-system"
	clusterName = "demo" // the sample's
)

// TestOperator installs the chart, applies the sample RaftCluster and scales
// it 3 -> 5 -> 3 while clients write, then checks that no acknowledged write
// was lost and the history is linearizable, that `helm uninstall` leaves
// the CRD and the cluster in place, that deleting the cluster garbage
// collects what it owns but keeps its volumes, and that the cluster created
// again under its name adopts them with every acknowledged write. On the
// real node a bad image is set and taken back. With -e2e.all it also
// changes the spec in the middle of a change, crashes the manager between
// two steps, restarts every member and fails the manager over.
func TestOperator(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	c := e.clusterClient(t)

	// 1. helm install, kubectl apply: Available with 3 voters.
	start := time.Now()
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "3m")
	t.Logf("helm install (manager Ready): %v", time.Since(start).Round(100*time.Millisecond))
	// The chart's defaults name the images `make images` builds.
	dep, err := e.client.AppsV1().Deployments(operatorNS).Get(ctx, "raftkube", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != managerImage() {
		t.Errorf("the chart's manager image is %s, want %s", img, managerImage())
	}
	e.tool(ctx, t, "helm", "test", "raftkube", "--namespace", operatorNS, "--timeout", "2m")

	start = time.Now()
	e.tool(ctx, t, "kubectl", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "raftkube_v1alpha1_raftcluster.yaml"))
	waitCluster(ctx, t, c, "Available with 3 voters", available(3))
	t.Logf("apply -> Available (3 voters): %v", time.Since(start).Round(100*time.Millisecond))
	if e.real {
		e.checkRestricted(t, ns+"/"+clusterName+"-0")
		e.checkNoToken(t, ns+"/"+clusterName+"-0")
		e.checkRestricted(t, operatorNS+"/"+managerPod(ctx, t, e))
	}
	// Steps were taken, so the operator's counter is in the scrape.
	e.checkMetricsAuth(ctx, t)

	// 2. Clients write (and read) during everything below.
	w := startWorkload(ctx, t, e)

	// 3. Scale to 5, through a joint configuration.
	start = time.Now()
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=5")
	waitCluster(ctx, t, c, "Available with 5 voters", available(5))
	t.Logf("scale 3 -> 5: %v", time.Since(start).Round(100*time.Millisecond))
	e.waitBudget(ctx, t, 3)
	if !e.jointSeen(ctx, t, 5) {
		t.Errorf("no member logged a joint configuration reaching 5 voters")
	}

	// 4. Scale to 3: the leavers' pods and claims go; the leader never left.
	start = time.Now()
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=3")
	waitCluster(ctx, t, c, "Available with 3 voters", available(3))
	e.waitGone(ctx, t, 3, 4)
	t.Logf("scale 5 -> 3 (pods and claims gone): %v", time.Since(start).Round(100*time.Millisecond))
	e.checkLeaderNeverRemoved(ctx, t)
	e.waitBudget(ctx, t, 2)
	e.checkEvictions(ctx, t)

	if *allScenarios {
		// 5. 3 -> 5, and back to 3 before the learners are promoted.
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=5")
		waitCluster(ctx, t, c, "a learner", func(rc *raftv1.RaftCluster) bool {
			return slices.ContainsFunc(rc.Status.Members, func(m raftv1.MemberStatus) bool { return m.Role == raftv1.RoleLearner })
		})
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=3")
		waitCluster(ctx, t, c, "Available with 3 voters and no learner", func(rc *raftv1.RaftCluster) bool {
			return available(3)(rc) && len(rc.Status.Members) == 3 &&
				!slices.ContainsFunc(rc.Status.Members, func(m raftv1.MemberStatus) bool { return m.Role != raftv1.RoleLeader && m.Role != raftv1.RoleFollower })
		})
		e.waitGone(ctx, t, 3, 4)

		// 6. A manager that dies right after adding a learner: restarted (by
		// the kubelet, with the same failpoint), it completes the change.
		// Only the test build has failpoints; the release image refuses them.
		e.tool(ctx, t, "helm", "upgrade", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
			"--namespace", operatorNS, "--reuse-values", "--set", "image.tag="+failpointsTag(), "--set", "failpoints=after-AddLearner",
			"--wait", "--timeout", "3m")
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=5")
		waitCluster(ctx, t, c, "Available with 5 voters after manager crashes", available(5))
		if n := e.managerRestarts(ctx, t); n < 1 {
			t.Errorf("the manager restarted %d times; the failpoint should have stopped it at least once", n)
		}
		e.tool(ctx, t, "helm", "upgrade", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
			"--namespace", operatorNS, "--reuse-values", "--set", "image.tag=", "--set", "failpoints=", "--wait", "--timeout", "3m")
		e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=3")
		waitCluster(ctx, t, c, "Available with 3 voters", available(3))
		e.waitGone(ctx, t, 3, 4)

		// A template change restarts the members one at a time, the
		// leader last (after a transfer), under writes.
		e.rollingRestart(ctx, t, c)

		// Two managers: the one holding the lease is deleted, the other
		// takes over and scales the cluster.
		e.managerFailover(ctx, t, c)
	}

	// An image that cannot be pulled stops the rollout at its first pod;
	// taking the change back replaces that pod at once.
	if e.real {
		e.revertBadImage(ctx, t, c)
	}

	// 7. No acknowledged write lost; the history linearizable.
	acked := w.stopAndCheck(ctx, t)

	// 8. helm uninstall leaves the CRD and the cluster's data.
	e.tool(ctx, t, "helm", "uninstall", "raftkube", "--namespace", operatorNS, "--wait", "--timeout", "2m")
	if _, err := e.toolErr(ctx, "kubectl", "get", "crd", "raftclusters.raftkube.io"); err != nil {
		t.Errorf("the CRD is gone after helm uninstall: %v", err)
	}
	rc := &raftv1.RaftCluster{}
	if err := c.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: clusterName}, rc); err != nil {
		t.Fatalf("the RaftCluster is gone after helm uninstall: %v", err)
	}
	for i := range 3 {
		if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-%s-%d", clusterName, i), metav1.GetOptions{}); err != nil {
			t.Errorf("claim of %s-%d after helm uninstall: %v", clusterName, i, err)
		}
	}

	// 9. Deleting the cluster: the garbage collector removes what it owns
	// (no operator runs any more); the claims stay (whenDeleted: Retain).
	if err := c.Delete(ctx, rc); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the cluster's objects garbage collected", func(ctx context.Context) (bool, error) {
		var left []string
		check := func(kind string, err error) {
			if !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("%s (%v)", kind, err))
			}
		}
		_, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, clusterName, metav1.GetOptions{})
		check("StatefulSet", err)
		_, err = e.client.CoreV1().Services(ns).Get(ctx, clusterName, metav1.GetOptions{})
		check("client Service", err)
		_, err = e.client.CoreV1().Services(ns).Get(ctx, clusterName+"-peer", metav1.GetOptions{})
		check("peer Service", err)
		_, err = e.client.CoreV1().ConfigMaps(ns).Get(ctx, clusterName+"-bootstrap", metav1.GetOptions{})
		check("ConfigMap", err)
		_, err = e.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, clusterName, metav1.GetOptions{})
		check("PodDisruptionBudget", err)
		for i := range 3 {
			_, err = e.client.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("%s-%d", clusterName, i), metav1.GetOptions{})
			check(fmt.Sprintf("pod %d", i), err)
		}
		if len(left) > 0 {
			return false, fmt.Errorf("left: %s", strings.Join(left, ", "))
		}
		return true, nil
	})
	for i := range 3 {
		if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-%s-%d", clusterName, i), metav1.GetOptions{}); err != nil {
			t.Errorf("claim of %s-%d after the cluster was deleted (whenDeleted: Retain): %v", clusterName, i, err)
		}
	}

	// 10. The same cluster created again over its retained claims: the
	// operator adopts the cluster they hold (same id, every acknowledged
	// write), founding none over it.
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--wait", "--timeout", "3m")
	start = time.Now()
	e.tool(ctx, t, "kubectl", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "raftkube_v1alpha1_raftcluster.yaml"))
	again := waitCluster(ctx, t, c, "Available with 3 voters on the retained claims", available(3))
	t.Logf("re-created over retained claims -> Available: %v", time.Since(start).Round(100*time.Millisecond))
	if again.Status.ClusterID != rc.Status.ClusterID {
		t.Errorf("re-created cluster has id %s, want the retained cluster's %s", again.Status.ClusterID, rc.Status.ClusterID)
	}
	// Its Secrets went with it: the new cluster has a CA of its own.
	w = newWorkload(ctx, t, e, ns, clusterName)
	if err := w.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.client().Close() }()
	if lost := readBack(ctx, t, w.client(), acked); lost > 0 {
		t.Errorf("%d acknowledged writes lost across delete and re-create", lost)
	}

	// 11. Disaster: two of the three voters lose their volumes at once. The
	// operator says the quorum is lost for good; the user's annotation
	// continues from the survivor (which holds every write: all three
	// members were caught up), and new members replace the lost ones.
	e.disasterRecovery(ctx, t, c, acked)
}

// disasterRecovery deletes the claims and pods of members 1 and 2 of a
// caught-up 3-member cluster, waits for the QuorumLost condition, sets the
// disaster-recovery annotation and checks that the cluster comes back with
// its id and every acknowledged write.
func (e *env) disasterRecovery(ctx context.Context, t *testing.T, c ctrlclient.Client, acked map[string]string) {
	t.Helper()
	rc := waitCluster(ctx, t, c, "three voters caught up", func(rc *raftv1.RaftCluster) bool {
		if !available(3)(rc) || len(rc.Status.Members) != 3 {
			return false
		}
		for _, m := range rc.Status.Members {
			if m.MatchIndex == 0 || m.MatchIndex != rc.Status.Members[0].MatchIndex {
				return false
			}
		}
		return true
	})
	start := time.Now()
	for _, i := range []int{1, 2} {
		e.tool(ctx, t, "kubectl", "delete", "pvc", fmt.Sprintf("data-%s-%d", clusterName, i), "--namespace", ns, "--wait=false")
	}
	e.tool(ctx, t, "kubectl", "delete", "pod", clusterName+"-1", clusterName+"-2", "--namespace", ns, "--wait=false")
	waitCluster(ctx, t, c, "QuorumLost", func(rc *raftv1.RaftCluster) bool {
		return condition(rc, raftv1.ConditionProgressing) == "True/"+raftv1.ReasonQuorumLost
	})
	t.Logf("two volumes lost -> QuorumLost reported: %v", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	e.tool(ctx, t, "kubectl", "annotate", "raft/"+clusterName, "--namespace", ns, raftv1.AnnotationForceNewCluster+"="+rc.Status.ClusterID)
	after := waitCluster(ctx, t, c, "Available with 3 voters after disaster recovery", available(3))
	t.Logf("annotated -> Available with 3 voters: %v", time.Since(start).Round(100*time.Millisecond))
	if after.Status.ClusterID != rc.Status.ClusterID {
		t.Errorf("cluster id %s after recovery, want %s", after.Status.ClusterID, rc.Status.ClusterID)
	}
	if _, ok := after.Annotations[raftv1.AnnotationForceNewCluster]; ok {
		t.Errorf("the %s annotation is still set after the recovery", raftv1.AnnotationForceNewCluster)
	}
	events, err := e.client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events.Items, func(ev eventsv1.Event) bool {
		return ev.Reason == raftv1.ReasonForcedNewCluster && ev.Type == corev1.EventTypeWarning && ev.Regarding.Name == clusterName
	}) {
		t.Errorf("no Warning event %s on the cluster", raftv1.ReasonForcedNewCluster)
	}
	w := newWorkload(ctx, t, e, ns, clusterName)
	if err := w.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.client().Close() }()
	if lost := readBack(ctx, t, w.client(), acked); lost > 0 {
		t.Errorf("%d acknowledged writes lost across the disaster recovery", lost)
	}
}

func condition(rc *raftv1.RaftCluster, typ string) string {
	c := rc.Status.Condition(typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

// clusterClient is a controller-runtime client that knows RaftClusters.
func (e *env) clusterClient(t *testing.T) ctrlclient.Client {
	t.Helper()
	ctrllog.SetLogger(logr.Discard()) // the client logs nothing the test needs
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := raftv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := ctrlclient.New(e.rest, ctrlclient.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// available: phase Available with n voters, all ready, as the spec asks.
func available(n int32) func(*raftv1.RaftCluster) bool {
	return func(rc *raftv1.RaftCluster) bool {
		s := rc.Status
		return s.ObservedGeneration == rc.Generation && s.Phase == raftv1.PhaseAvailable &&
			s.Replicas == n && s.ReadyReplicas == n && s.Leader != ""
	}
}

// waitCluster polls the sample cluster until cond holds.
func waitCluster(ctx context.Context, t *testing.T, c ctrlclient.Client, what string, cond func(*raftv1.RaftCluster) bool) *raftv1.RaftCluster {
	t.Helper()
	return waitNamed(ctx, t, c, clusterName, what, cond)
}

// waitGone waits until the pods and claims of the ordinals are gone.
func (e *env) waitGone(ctx context.Context, t *testing.T, ordinals ...int) {
	t.Helper()
	for _, i := range ordinals {
		pod, claim := fmt.Sprintf("%s-%d", clusterName, i), fmt.Sprintf("data-%s-%d", clusterName, i)
		waitFor(ctx, t, pod+" and "+claim+" gone", func(ctx context.Context) (bool, error) {
			_, perr := e.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
			_, cerr := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
			return apierrors.IsNotFound(perr) && apierrors.IsNotFound(cerr), nil
		})
	}
}

// appliedConfig matches raftnode's log line for an applied configuration.
var appliedConfig = regexp.MustCompile(`msg="applied configuration".* voters="?\[([0-9 ]*)\]"? outgoing="?\[([0-9 ]*)\]"?`)

// jointSeen reports whether a member of pods 0..2 logged a joint
// configuration whose incoming half has n voters.
func (e *env) jointSeen(ctx context.Context, t *testing.T, n int) bool {
	t.Helper()
	for i := range 3 {
		logs, err := e.client.CoreV1().Pods(ns).GetLogs(fmt.Sprintf("%s-%d", clusterName, i), &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Errorf("logs of %s-%d: %v", clusterName, i, err)
			continue
		}
		for _, m := range appliedConfig.FindAllStringSubmatch(string(logs), -1) {
			if len(strings.Fields(m[1])) == n && len(strings.Fields(m[2])) > 0 {
				t.Logf("%s-%d applied a joint configuration: voters [%s], outgoing [%s]", clusterName, i, m[1], m[2])
				return true
			}
		}
	}
	return false
}

// managerLog returns the manager's log (all its containers' restarts).
func (e *env) managerLog(ctx context.Context, t *testing.T) string {
	t.Helper()
	pods, err := e.client.CoreV1().Pods(operatorNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, "raftkube") || strings.Contains(p.Name, "test") {
			continue
		}
		logs, err := e.client.CoreV1().Pods(operatorNS).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Errorf("logs of %s: %v", p.Name, err)
		}
		b.Write(logs)
	}
	return b.String()
}

// checkLeaderNeverRemoved reads the manager's log of the steps it took and
// checks that no removal named the leader of the moment.
func (e *env) checkLeaderNeverRemoved(ctx context.Context, t *testing.T) {
	t.Helper()
	removals := 0
	for line := range strings.SplitSeq(e.managerLog(ctx, t), "\n") {
		var entry struct {
			Msg    string `json:"msg"`
			Action string `json:"action"`
			Leader string `json:"leader"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "step" || !strings.HasPrefix(entry.Action, "RemoveVoters") {
			continue
		}
		removals++
		if entry.Leader == "" {
			t.Errorf("removal without a known leader: %s", line)
			continue
		}
		if m := regexp.MustCompile(`remove=([0-9a-f,]+)`).FindStringSubmatch(entry.Action); m != nil && slices.Contains(strings.Split(m[1], ","), entry.Leader) {
			t.Errorf("the manager removed the leader %s: %s", entry.Leader, line)
		}
	}
	if removals == 0 {
		t.Errorf("the manager logged no RemoveVoters step")
	}
}

// managerRestarts is the restart count of the manager's container.
func (e *env) managerRestarts(ctx context.Context, t *testing.T) int32 {
	t.Helper()
	pods, err := e.client.CoreV1().Pods(operatorNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if !strings.Contains(p.Name, "test") {
				n += cs.RestartCount
			}
		}
	}
	return n
}

// workload is clients writing and reading during the scenarios: one session
// writes keys of its own once each (every acknowledged one must be readable
// at the end), two more put, get and compare-and-swap a few shared keys;
// every operation is recorded for the linearizability check.
type workload struct {
	e                  *env
	namespace, cluster string
	// creds is the application's certificate; refresh reloads it (a CA
	// rotation replaces it).
	creds  *clusterCreds
	rec    *linearizability.Recorder
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	acked map[string]string // unique key -> value, acknowledged puts
	// When each unique put was sent and when it was acknowledged: a backup
	// must hold what was acknowledged before it started and nothing sent
	// after it finished.
	sentAt, ackedAt map[string]time.Time
	// c reaches pods 0..2 at the addresses in endpoints; a pod re-created
	// (rolling restart) has a new address, so c is replaced when they change.
	c         *client.Client
	endpoints []string
	retired   []*client.Client
	checked   time.Time
}

// startWorkload writes to the sample cluster through pods 0..2, the
// members that stay throughout (test processes cannot resolve the
// cluster's DNS names, so pod IPs).
func startWorkload(ctx context.Context, t *testing.T, e *env) *workload {
	t.Helper()
	return startWorkloadIn(ctx, t, e, ns, clusterName)
}

// newWorkload is a workload on the named cluster that does not run yet,
// with the application's certificate.
func newWorkload(ctx context.Context, t *testing.T, e *env, namespace, cluster string) *workload {
	t.Helper()
	return &workload{e: e, namespace: namespace, cluster: cluster, creds: e.clusterCreds(ctx, t, namespace, cluster, appCert),
		rec: linearizability.NewRecorder(), cancel: func() {}, acked: map[string]string{},
		sentAt: map[string]time.Time{}, ackedAt: map[string]time.Time{}}
}

// startWorkloadIn is startWorkload on any cluster.
func startWorkloadIn(ctx context.Context, t *testing.T, e *env, namespace, cluster string) *workload {
	t.Helper()
	w := newWorkload(ctx, t, e, namespace, cluster)
	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	if err := w.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	w.wg.Go(func() { w.uniqueWrites(wctx) })
	for s := range 2 {
		w.wg.Go(func() { w.shared(wctx, s) })
	}
	return w
}

// refresh reloads the certificate and points the client at pods 0..2's
// current addresses, at most once a second; the replaced client is closed
// at the end (calls may be in flight).
func (w *workload) refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.checked) < time.Second {
		return nil
	}
	w.checked = time.Now()
	if err := w.creds.reload(ctx); err != nil {
		return err
	}
	var endpoints []string
	for i := range 3 {
		p, err := w.e.client.CoreV1().Pods(w.namespace).Get(ctx, fmt.Sprintf("%s-%d", w.cluster, i), metav1.GetOptions{})
		if err != nil || p.Status.PodIP == "" {
			continue
		}
		endpoints = append(endpoints, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clientPort)))
	}
	if len(endpoints) == 0 || slices.Equal(endpoints, w.endpoints) {
		return nil
	}
	c, err := client.New(ctx, client.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, TLS: w.creds.config()})
	if err != nil {
		return err
	}
	if w.c != nil {
		w.retired = append(w.retired, w.c)
	}
	w.c, w.endpoints = c, endpoints
	return nil
}

func (w *workload) client() *client.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c
}

// send sends in, and after a request that reached no member looks for new
// pod addresses.
func (w *workload) send(ctx context.Context, in linearizability.Input) (linearizability.Output, linearizability.Outcome, string) {
	out, outcome, err := linearizability.Send(ctx, w.client(), in)
	if outcome == linearizability.NotApplied && ctx.Err() == nil {
		_ = w.refresh(ctx)
	}
	return out, outcome, errString(err)
}

func (w *workload) uniqueWrites(ctx context.Context) {
	s := w.rec.Session()
	for i := 0; ctx.Err() == nil; i++ {
		in := linearizability.Input{Kind: linearizability.OpPut, Key: fmt.Sprintf("unique-%06d", i), Value: fmt.Sprintf("v%d", i)}
		w.mu.Lock()
		w.sentAt[in.Key] = time.Now()
		w.mu.Unlock()
		_, outcome := s.Do(in, func() (linearizability.Output, linearizability.Outcome, string) {
			return w.send(ctx, in)
		})
		if outcome == linearizability.Completed {
			w.mu.Lock()
			w.acked[in.Key] = in.Value
			w.ackedAt[in.Key] = time.Now()
			w.mu.Unlock()
		}
		pause(ctx, 20*time.Millisecond)
	}
}

func (w *workload) shared(ctx context.Context, session int) {
	s := w.rec.Session()
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("shared-%d", i%4)
		in := linearizability.Input{Kind: linearizability.OpPut, Key: key, Value: fmt.Sprintf("s%d-%d", session, i)}
		switch i % 3 {
		case 1:
			in = linearizability.Input{Kind: linearizability.OpGet, Key: key}
		case 2:
			in = linearizability.Input{Kind: linearizability.OpCAS, Key: key, ExpectedValue: fmt.Sprintf("s%d-%d", session, i-2), Value: fmt.Sprintf("s%d-%d-cas", session, i)}
		}
		s.Do(in, func() (linearizability.Output, linearizability.Outcome, string) {
			return w.send(ctx, in)
		})
		pause(ctx, 30*time.Millisecond)
	}
}

// stopAndCheck stops the clients, reads back every acknowledged unique write
// and checks the recorded history with porcupine.
func (w *workload) stopAndCheck(ctx context.Context, t *testing.T) (acked map[string]string) {
	t.Helper()
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	w.checked = time.Time{}
	acked = w.acked
	w.mu.Unlock()
	if err := w.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range append(w.retired, w.c) {
			_ = c.Close()
		}
	}()
	st := w.rec.Stats()
	t.Logf("workload: %d completed, %d unknown outcome, %d not applied; %d unique writes acknowledged",
		st.Completed, st.Unknown, st.NotApplied, len(acked))
	if len(acked) < 10 {
		t.Errorf("only %d writes acknowledged during the scenarios", len(acked))
	}
	lost := readBack(ctx, t, w.client(), acked)
	t.Logf("acknowledged writes lost: %d of %d", lost, len(acked))
	v, err := linearizability.Check(w.rec.History(), w.rec.Annotations(), time.Minute, filepath.Join(t.TempDir(), "history.html"))
	if err != nil {
		t.Errorf("check history: %v", err)
	}
	if v.Result != porcupine.Ok {
		t.Errorf("history not linearizable (%s): keys %v\n%s", v.Result, v.IllegalKeys, strings.Join(v.Explanations, "\n"))
	}
	return acked
}

// readBack reads every acknowledged key (linearizably) and counts those
// missing or changed.
func readBack(ctx context.Context, t *testing.T, c *client.Client, acked map[string]string) (lost int) {
	t.Helper()
	for key, want := range acked {
		kv, found, err := c.Get(ctx, []byte(key))
		if err != nil {
			t.Fatalf("read back %s: %v", key, err)
		}
		if !found || string(kv.GetValue()) != want {
			lost++
			t.Errorf("acknowledged write %s=%s reads back as %q (found %v)", key, want, kv.GetValue(), found)
		}
	}
	return lost
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// rollingRestart changes spec.raft.snapshotEntries and waits until every pod
// was re-created, checking on the way that at most one pod is not ready at a
// time and, from the manager's log, that no pod was restarted while its
// member led.
func (e *env) rollingRestart(ctx context.Context, t *testing.T, c ctrlclient.Client) {
	t.Helper()
	start := time.Now()
	before := waitCluster(ctx, t, c, "Available with 3 voters", available(3))
	idOf := map[string]string{}
	for _, m := range before.Status.Members {
		idOf[m.Name] = m.ID
	}
	oldUID := map[string]string{}
	for i := range 3 {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("%s-%d", clusterName, i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		oldUID[p.Name] = string(p.UID)
	}
	e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=merge", "-p", `{"spec":{"raft":{"snapshotEntries":5000}}}`)
	maxDown := 0
	phases := map[raftv1.ClusterPhase]bool{}
	waitFor(ctx, t, "every pod restarted on the new template", func(ctx context.Context) (bool, error) {
		// One List: a consistent view of all three pods at one moment.
		pods, err := e.clusterPods(ctx)
		if err != nil {
			return false, err
		}
		byName := map[string]*corev1.Pod{}
		for i := range pods {
			byName[pods[i].Name] = &pods[i]
		}
		restarted, down := 0, 0
		for name, uid := range oldUID {
			p, ok := byName[name]
			if !ok {
				down++
				continue
			}
			if string(p.UID) != uid {
				restarted++
			}
			if !podReady(p) || p.DeletionTimestamp != nil {
				down++
			}
		}
		maxDown = max(maxDown, down)
		rc := &raftv1.RaftCluster{}
		if err := c.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: clusterName}, rc); err != nil {
			return false, err
		}
		phases[rc.Status.Phase] = true
		return restarted == 3 && available(3)(rc), nil
	})
	t.Logf("rolling restart of 3 members: %v, at most %d pod(s) down at once, phases %v", time.Since(start).Round(100*time.Millisecond), maxDown, slices.Sorted(maps.Keys(phases)))
	if phases[raftv1.PhaseDegraded] {
		t.Errorf("the phase was Degraded during the rolling restart: a restarted pod coming back is part of the upgrade")
	}
	if maxDown > 1 {
		t.Errorf("%d pods were down at once during the rolling restart", maxDown)
	}
	restarts := 0
	for line := range strings.SplitSeq(e.managerLog(ctx, t), "\n") {
		var entry struct {
			Msg    string `json:"msg"`
			Action string `json:"action"`
			Leader string `json:"leader"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "step" || !strings.HasPrefix(entry.Action, "RestartPod") {
			continue
		}
		restarts++
		for name, id := range idOf {
			if strings.Contains(entry.Action, "pods=["+name+"]") && id == entry.Leader {
				t.Errorf("%s was restarted while its member %s led: %s", name, id, line)
			}
		}
	}
	if restarts < 3 {
		t.Errorf("the manager logged %d RestartPod steps, want 3", restarts)
	}
}

// waitBudget waits until the cluster's PodDisruptionBudget keeps minAvailable
// pods: a majority of the current voters.
func (e *env) waitBudget(ctx context.Context, t *testing.T, minAvailable int) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("PodDisruptionBudget minAvailable=%d", minAvailable), func(ctx context.Context) (bool, error) {
		pdb, err := e.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, clusterName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != minAvailable {
			return false, fmt.Errorf("minAvailable %v", pdb.Spec.MinAvailable)
		}
		return pdb.Status.ObservedGeneration == pdb.Generation, nil
	})
}

// checkEvictions drains like `kubectl drain` would, through the eviction
// API: with 3 voters one pod may go, a second is refused while the first is
// away, and the evicted member comes back.
func (e *env) checkEvictions(ctx context.Context, t *testing.T) {
	t.Helper()
	evict := func(name string) error {
		return e.client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	first, second := fmt.Sprintf("%s-2", clusterName), fmt.Sprintf("%s-1", clusterName)
	// The eviction API lets a pod that is not Ready go whenever the budget
	// looks healthy (unhealthyPodEvictionPolicy IfHealthyBudget), so the
	// refusal below means something only while the second pod is Ready:
	// wait for every member Ready and the budget to have seen it.
	waitFor(ctx, t, "3 Ready members and the budget allowing one disruption", func(ctx context.Context) (bool, error) {
		for i := range 3 {
			p, err := e.client.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("%s-%d", clusterName, i), metav1.GetOptions{})
			if err != nil || !podReady(p) {
				return false, err
			}
		}
		pdb, err := e.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, clusterName, metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.CurrentHealthy == 3 &&
			pdb.Status.DisruptionsAllowed == 1, err
	})
	if err := evict(first); err != nil {
		t.Fatalf("evict %s with all 3 voters ready: %v", first, err)
	}
	if p, err := e.client.CoreV1().Pods(ns).Get(ctx, second, metav1.GetOptions{}); err != nil || !podReady(p) {
		t.Logf("%s is not Ready right after %s went (%v): the budget may let it go too", second, first, err)
	}
	if err := evict(second); !apierrors.IsTooManyRequests(err) {
		t.Errorf("evict %s while %s is away: %v, want 429 Too Many Requests from the budget", second, first, err)
	}
	waitFor(ctx, t, first+" back and Ready", func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, first, metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp == nil && podReady(p), err
	})
}

// managerFailover runs two manager replicas, deletes the one holding the
// leader-election Lease, and checks that the other takes the lease and
// carries out a scale 3 -> 5 -> 3.
func (e *env) managerFailover(ctx context.Context, t *testing.T, c ctrlclient.Client) {
	t.Helper()
	start := time.Now()
	e.tool(ctx, t, "helm", "upgrade", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--reuse-values", "--set", "replicaCount=2", "--wait", "--timeout", "3m")
	leader := e.waitLeader(ctx, t, "")
	if err := e.client.CoreV1().Pods(operatorNS).Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the leading manager %s: %v", leader, err)
	}
	e.waitLeader(ctx, t, leader)
	t.Logf("manager failover (2 replicas, leader %s deleted): %v", leader, time.Since(start).Round(100*time.Millisecond))
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=5")
	waitCluster(ctx, t, c, "Available with 5 voters under the new manager", available(5))
	e.tool(ctx, t, "kubectl", "scale", "raft/"+clusterName, "--replicas=3")
	waitCluster(ctx, t, c, "Available with 3 voters under the new manager", available(3))
	e.waitGone(ctx, t, 3, 4)
}

// managerPods are the chart's pods but its `helm test` one.
func (e *env) managerPods(ctx context.Context) ([]corev1.Pod, error) {
	pods, err := e.client.CoreV1().Pods(operatorNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=raftkube"})
	if err != nil {
		return nil, fmt.Errorf("list manager pods: %w", err)
	}
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return strings.Contains(p.Name, "test") }), nil
}

// managerPod is the name of a manager pod.
func managerPod(ctx context.Context, t *testing.T, e *env) string {
	t.Helper()
	pods, err := e.managerPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning {
			return p.Name
		}
	}
	t.Fatalf("no running manager pod among %d", len(pods))
	return ""
}

// podPid is the host pid of the container of pod (NAMESPACE/NAME) on the
// real node.
func (e *env) podPid(t *testing.T, pod string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(buildDir, "localkube"), "node", "pid", "--state", e.controlDir, pod).Output()
	if err != nil {
		t.Fatalf("localkube node pid %s: %v", pod, err)
	}
	return strings.TrimSpace(string(out))
}

// checkRestricted checks, on the real node, that the container of pod
// (NAMESPACE/NAME) runs as 65532:65532 with no capabilities and a
// read-only root filesystem: what the images and the pod templates promise.
func (e *env) checkRestricted(t *testing.T, pod string) {
	t.Helper()
	pid := e.podPid(t, pod)
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	if fields["Uid"] != "65532 65532 65532 65532" || fields["Gid"] != "65532 65532 65532 65532" {
		t.Errorf("%s runs as uid %q gid %q, want 65532", pod, fields["Uid"], fields["Gid"])
	}
	if fields["CapEff"] != "0000000000000000" || fields["NoNewPrivs"] != "1" {
		t.Errorf("%s has capabilities %q, no_new_privs %q; want none and 1", pod, fields["CapEff"], fields["NoNewPrivs"])
	}
	mounts, err := os.ReadFile(filepath.Join("/proc", pid, "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			if !slices.Contains(strings.Split(f[5], ","), "ro") {
				t.Errorf("%s's root filesystem is mounted %s, want ro", pod, f[5])
			}
			return
		}
	}
	t.Errorf("%s: no root mount in its mountinfo", pod)
}

// checkNoToken checks, on the real node, that no service-account token is
// mounted in the container of pod (NAMESPACE/NAME).
func (e *env) checkNoToken(t *testing.T, pod string) {
	t.Helper()
	mounts, err := os.ReadFile(filepath.Join("/proc", e.podPid(t, pod), "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], "/var/run/secrets/kubernetes.io") {
			t.Errorf("%s mounts a service-account token at %s", pod, f[4])
		}
	}
}

// badImage is on a loopback port nothing listens on: its pull fails at once.
const badImage = "127.0.0.1:1/raftkube/raftnode:missing"

// setBadImage sets badImage on the sample cluster and waits until one of its
// pods fails to pull it; it returns that pod's name.
func (e *env) setBadImage(ctx context.Context, t *testing.T) string {
	t.Helper()
	e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=merge", "-p", `{"spec":{"image":"`+badImage+`"}}`)
	var broken string
	waitFor(ctx, t, "a pod failing to pull "+badImage, func(ctx context.Context) (bool, error) {
		pods, err := e.clusterPods(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
					broken = p.Name
					return true, nil
				}
			}
		}
		return false, nil
	})
	return broken
}

// revertBadImage sets an image no registry serves: the rolling restart
// replaces one follower, whose pod cannot pull it, and stops there with the
// other two members serving. Removing the image from the spec again must
// bring the cluster back to three ready voters on the default image without
// anyone deleting a pod by hand.
func (e *env) revertBadImage(ctx context.Context, t *testing.T, c ctrlclient.Client) {
	t.Helper()
	start := time.Now()
	waitCluster(ctx, t, c, "Available with 3 voters", available(3))
	broken := e.setBadImage(ctx, t)
	t.Logf("%s cannot pull %s; taking the change back", broken, badImage)
	e.tool(ctx, t, "kubectl", "patch", "raft/"+clusterName, "--type=json", "-p", `[{"op":"remove","path":"/spec/image"}]`)
	waitCluster(ctx, t, c, "Available with 3 voters after the bad image was taken back", available(3))
	waitFor(ctx, t, "every pod on the default image, ready", func(ctx context.Context) (bool, error) {
		pods, err := e.clusterPods(ctx)
		if err != nil || len(pods) != 3 {
			return false, err
		}
		for _, p := range pods {
			if p.Spec.Containers[0].Image != nodeImage() || !podReady(&p) || p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
	t.Logf("bad image set and taken back: %v", time.Since(start).Round(100*time.Millisecond))
}
