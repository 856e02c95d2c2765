package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/test/s3server"
)

// backupNS is TestBackupRestore's namespace.
const backupNS = "backup"

// TestBackupRestore runs the backups of issue 13 on the real node against a
// real S3 server (versitygw, on the node's bridge address so that pods
// reach it, over TLS with a CA of its own): a cluster under the checked
// workload takes scheduled backups every 10 s with retention keep 1; the
// objects and RaftBackups retention leaves are checked; a backup with a
// wrong secret and one to a closed port fail with StorageAccessDenied and
// StorageUnreachable (status, condition, Warning event) while the cluster
// keeps serving; a backup to a PersistentVolumeClaim succeeds. Then a last
// backup is taken under the workload, the cluster and its claims are
// deleted, and a new cluster restored from that backup must hold every
// write acknowledged before the backup started, none sent after it ended,
// and no gap. Times are logged, not asserted.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if *nodeKind != "real" {
		t.Skip("backups run in pods that reach the S3 server at the real node's address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	c := e.clusterClient(t)
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "3m")
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: backupNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	s3 := s3server.Start(t, s3server.Options{TLS: true, Host: e.nodeIP(ctx, t)})
	t.Logf("S3 server (versitygw) at %s", s3.URL())
	const bucket = "raftkube-backups"
	s3.CreateBucket(t, bucket)
	e.createSecret(ctx, t, backupNS, "s3-credentials", map[string]string{"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey})
	e.createSecret(ctx, t, backupNS, "s3-wrong-credentials", map[string]string{"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": "not-" + s3.SecretKey})
	e.createSecret(ctx, t, backupNS, "s3-ca", map[string]string{"ca.crt": string(s3.CAPEM)})
	storage := func(endpoint, credentials string) *raftv1.BackupStorage {
		return &raftv1.BackupStorage{S3: &raftv1.S3Storage{
			Endpoint: endpoint, Bucket: bucket, Prefix: "raftkube/", Region: s3.Region,
			CredentialsSecret: raftv1.SecretReference{Name: credentials},
			CASecret:          &raftv1.SecretKeyReference{Name: "s3-ca", Key: "ca.crt"},
		}}
	}

	// 1. A cluster with scheduled backups, under the checked workload.
	keep := int32(1)
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: backupNS, Name: clusterName},
		Spec: raftv1.RaftClusterSpec{Backup: &raftv1.BackupSpec{
			Storage:   *storage(s3.URL(), "s3-credentials"),
			Schedule:  "@every 10s",
			Retention: raftv1.BackupRetention{Keep: &keep},
		}},
	}
	if err := c.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	key := ctrlclient.ObjectKeyFromObject(rc)
	src := waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	w := startWorkloadIn(ctx, t, e, backupNS, clusterName)

	// Retention deletes the RaftBackups of pruned backups: count every
	// success seen.
	start := time.Now()
	seen := map[string]raftv1.RaftBackup{}
	waitFor(ctx, t, "2 scheduled backups succeeded", func(ctx context.Context) (bool, error) {
		done, err := succeededBackups(ctx, c, true)
		for _, b := range done {
			seen[b.Name] = b
		}
		return len(seen) >= 2, err
	})
	t.Logf("scheduled backups: %d succeeded after %v", len(seen), time.Since(start).Round(100*time.Millisecond))
	for _, b := range seen {
		t.Logf("  %s: index %d, %d bytes, %v, %s", b.Name, b.Status.Index, b.Status.SizeBytes,
			b.Status.FinishedAt.Sub(b.Status.StartedAt.Time), b.Status.Location)
	}

	// 2. Retention: with the schedule suspended and nothing running, keep
	// objects and as many scheduled RaftBackups remain, the same ones.
	patchBackup(ctx, t, c, key, func(b *raftv1.BackupSpec) { b.Suspend = true })
	waitFor(ctx, t, "no backup running", func(ctx context.Context) (bool, error) {
		var list raftv1.RaftBackupList
		if err := c.List(ctx, &list, ctrlclient.InNamespace(backupNS)); err != nil {
			return false, err
		}
		return !slices.ContainsFunc(list.Items, func(b raftv1.RaftBackup) bool {
			return b.Status.Phase == "" || b.Status.Phase == raftv1.BackupPending || b.Status.Phase == raftv1.BackupRunning
		}), nil
	})
	objects := listObjects(ctx, t, s3, bucket, "raftkube/"+backupNS+"/"+clusterName+"/scheduled/")
	scheduled, err := succeededBackups(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range scheduled {
		keys = append(keys, b.Status.Key)
	}
	sort.Strings(keys)
	t.Logf("after retention (keep %d): objects %v, RaftBackups %v", keep, objects, keys)
	if len(objects) != int(keep) || !slices.Equal(objects, keys) {
		t.Errorf("retention keep %d left objects %v and scheduled RaftBackups of keys %v; want %d of each, the same", keep, objects, keys, keep)
	}

	// 3. Failures the user can cause, while the workload runs.
	wrong := e.runBackup(ctx, t, c, "wrong-credentials", storage(s3.URL(), "s3-wrong-credentials"))
	e.checkFailedBackup(ctx, t, c, wrong, raftv1.ReasonStorageAccessDenied)
	nodeIP := e.nodeIP(ctx, t)
	closed := "https://" + net.JoinHostPort(nodeIP, strconv.Itoa(closedPort(t, nodeIP)))
	unreachable := e.runBackup(ctx, t, c, "unreachable", storage(closed, "s3-credentials"))
	e.checkFailedBackup(ctx, t, c, unreachable, raftv1.ReasonStorageUnreachable)
	rc = waitClusterIn(ctx, t, c, key, "Available with 3 voters", available(3))
	if got, want := condition(rc, raftv1.ConditionLastBackupSucceeded), string(metav1.ConditionFalse)+"/"+raftv1.ReasonStorageUnreachable; got != want {
		t.Errorf("LastBackupSucceeded = %s after a backup to a closed port, want %s", got, want)
	}

	// 4. A backup to a claim.
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: backupNS, Name: "backups"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := c.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	toVolume := e.runBackup(ctx, t, c, "to-volume", &raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups", Prefix: "raftkube"}})
	if toVolume.Status.Phase != raftv1.BackupSucceeded || !strings.HasPrefix(toVolume.Status.Location, "volume://backups/") {
		t.Errorf("backup to a claim: phase %s, location %q, %s: %s; want Succeeded at volume://backups/...",
			toVolume.Status.Phase, toVolume.Status.Location, toVolume.Status.Reason, toVolume.Status.Message)
	}

	// 5. The backup to restore from, under the workload; then the cluster
	// and its claims go.
	final := e.runBackup(ctx, t, c, "final", nil)
	if final.Status.Phase != raftv1.BackupSucceeded {
		t.Fatalf("final backup %s: %s: %s", final.Status.Phase, final.Status.Reason, final.Status.Message)
	}
	t.Logf("final backup: index %d, %d bytes in %v at %s", final.Status.Index, final.Status.SizeBytes,
		final.Status.FinishedAt.Sub(final.Status.StartedAt.Time), final.Status.Location)
	pause(ctx, 2*time.Second) // writes sent after the backup ended, which it must not hold
	acked := w.stopAndCheck(ctx, t)
	w.mu.Lock()
	sentAt, ackedAt := w.sentAt, w.ackedAt
	w.mu.Unlock()

	if err := c.Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := e.client.CoreV1().PersistentVolumeClaims(backupNS).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: raftv1.LabelCluster + "=" + clusterName}); err != nil {
		t.Fatal(err)
	}
	e.waitPodsGone(ctx, t, backupNS, clusterName, 0, 1, 2)

	// 6. Restore into a new cluster.
	start = time.Now()
	restored := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: backupNS, Name: "restored"},
		Spec:       raftv1.RaftClusterSpec{Restore: &raftv1.RestoreSpec{Backup: final.Name}},
	}
	if err := c.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	rkey := ctrlclient.ObjectKeyFromObject(restored)
	first := waitClusterIn(ctx, t, c, rkey, "a leader", func(rc *raftv1.RaftCluster) bool { return rc.Status.Leader != "" })
	t.Logf("restore: apply -> leader %v", time.Since(start).Round(100*time.Millisecond))
	restored = waitClusterIn(ctx, t, c, rkey, "Available with 3 voters", available(3))
	t.Logf("restore: apply -> Available with 3 voters %v", time.Since(start).Round(100*time.Millisecond))
	if first.Status.ClusterID == "" || restored.Status.ClusterID == src.Status.ClusterID || restored.Status.ClusterID == "" {
		t.Errorf("restored cluster id %q, source %q: want a new id", restored.Status.ClusterID, src.Status.ClusterID)
	}
	e.checkRestoredWrites(ctx, t, final, acked, sentAt, ackedAt)
}

// succeededBackups lists the namespace's Succeeded RaftBackups, scheduled
// ones or the others, oldest first.
func succeededBackups(ctx context.Context, c ctrlclient.Client, scheduled bool) ([]raftv1.RaftBackup, error) {
	var list raftv1.RaftBackupList
	if err := c.List(ctx, &list, ctrlclient.InNamespace(backupNS)); err != nil {
		return nil, err
	}
	var out []raftv1.RaftBackup
	for _, b := range list.Items {
		if (b.Labels[raftv1.LabelScheduledBackup] == "true") == scheduled && b.Status.Phase == raftv1.BackupSucceeded {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// patchBackup changes the cluster's spec.backup.
func patchBackup(ctx context.Context, t *testing.T, c ctrlclient.Client, key ctrlclient.ObjectKey, mutate func(*raftv1.BackupSpec)) {
	t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := c.Get(ctx, key, rc); err != nil {
		t.Fatal(err)
	}
	patch := ctrlclient.MergeFrom(rc.DeepCopy())
	mutate(rc.Spec.Backup)
	if err := c.Patch(ctx, rc, patch); err != nil {
		t.Fatal(err)
	}
}

// runBackup creates a RaftBackup of the cluster to storage (nil: the
// cluster's) and waits until it has succeeded or failed.
func (e *env) runBackup(ctx context.Context, t *testing.T, c ctrlclient.Client, name string, storage *raftv1.BackupStorage) *raftv1.RaftBackup {
	t.Helper()
	b := &raftv1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: backupNS, Name: name},
		Spec:       raftv1.RaftBackupSpec{Cluster: clusterName, Storage: storage},
	}
	start := time.Now()
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "RaftBackup "+name+" finished", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, ctrlclient.ObjectKeyFromObject(b), b); err != nil {
			return false, err
		}
		return b.Status.Phase == raftv1.BackupSucceeded || b.Status.Phase == raftv1.BackupFailed, nil
	})
	t.Logf("RaftBackup %s: %s (%s) after %v", name, b.Status.Phase, b.Status.Reason, time.Since(start).Round(100*time.Millisecond))
	return b
}

// checkFailedBackup checks that b failed with reason, and that the reason
// shows as a Warning event on the RaftBackup and on the cluster.
func (e *env) checkFailedBackup(ctx context.Context, t *testing.T, c ctrlclient.Client, b *raftv1.RaftBackup, reason string) {
	t.Helper()
	if b.Status.Phase != raftv1.BackupFailed || b.Status.Reason != reason {
		t.Errorf("RaftBackup %s: %s %s (%s), want Failed %s", b.Name, b.Status.Phase, b.Status.Reason, b.Status.Message, reason)
	}
	t.Logf("RaftBackup %s: %s", b.Name, b.Status.Message)
	waitFor(ctx, t, "Warning events "+reason, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := c.List(ctx, &list, ctrlclient.InNamespace(backupNS)); err != nil {
			return false, err
		}
		on := func(kind, name string) bool {
			return slices.ContainsFunc(list.Items, func(ev eventsv1.Event) bool {
				return ev.Reason == reason && ev.Type == corev1.EventTypeWarning && ev.Regarding.Kind == kind && ev.Regarding.Name == name
			})
		}
		return on("RaftBackup", b.Name) && on("RaftCluster", clusterName), nil
	})
}

// checkRestoredWrites reads the unique keys back from the restored cluster:
// every write acknowledged before the backup started is there with its
// value; nothing sent after the backup finished is; and since the unique
// writes go one at a time, no acknowledged write older than the newest one
// present is missing.
func (e *env) checkRestoredWrites(ctx context.Context, t *testing.T, b *raftv1.RaftBackup, acked map[string]string, sentAt, ackedAt map[string]time.Time) {
	t.Helper()
	w := newWorkload(ctx, t, e, backupNS, "restored")
	if err := w.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.client().Close() }()
	// status times have whole seconds: started is at or before the real
	// start, finished+1s after the real end.
	started, finished := b.Status.StartedAt.Time, b.Status.FinishedAt.Add(time.Second)
	keys := make([]string, 0, len(sentAt))
	for k := range sentAt {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	present := map[string]bool{}
	newest := ""
	var before, after int
	for _, k := range keys {
		kv, found, err := w.client().Get(ctx, []byte(k))
		if err != nil {
			t.Fatalf("read %s from the restored cluster: %v", k, err)
		}
		present[k] = found
		if found {
			newest = k
			n, err := strconv.Atoi(strings.TrimPrefix(k, "unique-"))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("v%d", n); string(kv.GetValue()) != want {
				t.Errorf("restored %s = %q, never written", k, kv.GetValue())
			}
		}
		if at, ok := ackedAt[k]; ok && at.Before(started) {
			before++
			if !found {
				t.Errorf("%s, acknowledged at %s before the backup started (%s), is missing", k, at.Format(time.RFC3339Nano), started.Format(time.RFC3339))
			}
		}
		if sentAt[k].After(finished) {
			after++
			if found {
				t.Errorf("%s, sent at %s after the backup finished (%s), is in it", k, sentAt[k].Format(time.RFC3339Nano), finished.Format(time.RFC3339))
			}
		}
	}
	gaps := 0
	for k := range acked {
		if k < newest && !present[k] {
			gaps++
			t.Errorf("%s was acknowledged before %s was sent, and is missing where %s is present", k, newest, newest)
		}
	}
	t.Logf("restored cluster: %d unique writes present (newest %s); %d acknowledged before the backup started, all checked; %d sent after it ended, none expected; %d gaps",
		countTrue(present), newest, before, after, gaps)
	if before == 0 || after == 0 {
		t.Errorf("the check needs writes on both sides of the backup: %d before, %d after", before, after)
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// listObjects lists the keys under prefix in the bucket, sorted.
func listObjects(ctx context.Context, t *testing.T, s *s3server.Server, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for obj := range s.Client(t).ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	sort.Strings(keys)
	return keys
}

// createSecret creates an Opaque Secret of data.
func (e *env) createSecret(ctx context.Context, t *testing.T, namespace, name string, data map[string]string) {
	t.Helper()
	if _, err := e.client.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		StringData: data,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// nodeIP is the real node's InternalIP: the bridge address, which pods
// reach and which is this machine's.
func (e *env) nodeIP(ctx context.Context, t *testing.T) string {
	t.Helper()
	nodes, err := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return a.Address
			}
		}
	}
	t.Fatalf("no node has an InternalIP")
	return ""
}

// closedPort is a port of host that nothing listens on.
func closedPort(t *testing.T, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(fmt.Errorf("find a closed port: %w", err))
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
