package envtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers"
)

// backupEnv is a manager running the backup reconcilers, as cmd/manager
// wires them, against the real API server, watching one namespace.
// envtest has no kubelet: the test ends the backup pods itself, with the
// termination message raftctl writes.
type backupEnv struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	ns  string
	reg *prometheus.Registry
}

func startBackupManager(t *testing.T) *backupEnv {
	t.Helper()
	api := kube.Get(t)
	// Registered first, so it runs after the manager has stopped.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	e := &backupEnv{t: t, ctx: t.Context(), c: api.Client, ns: api.Namespace(t), reg: prometheus.NewRegistry()}
	mgr, err := ctrl.NewManager(api.Config, ctrl.Options{
		Scheme:                 api.Scheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := controllers.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	// Each test's manager registers the same controller names.
	opts := controller.Options{SkipNameValidation: new(true)}
	backups := &controllers.RaftBackupReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: api.Scheme, Recorder: &events.FakeRecorder{},
		Metrics: metrics, Settings: controllers.Settings{NodeImage: "raftnode:test", ClusterDomain: "cluster.local"}, Clock: clock.RealClock{},
	}
	if err := backups.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	schedule := &controllers.BackupScheduleReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: api.Scheme, Recorder: &events.FakeRecorder{},
		Metrics: metrics, Clock: clock.RealClock{},
	}
	if err := schedule.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return e
}

// createCluster creates RaftCluster demo, plaintext, backing up to a
// volume with spec.backup, and marks it formed, as its reconciler would.
func (e *backupEnv) createCluster(backup raftv1.BackupSpec) {
	e.t.Helper()
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "demo"},
		Spec:       raftv1.RaftClusterSpec{TLS: raftv1.TLSSpec{Enabled: new(false)}, Backup: &backup},
	}
	if err := e.c.Create(e.ctx, rc); err != nil {
		e.t.Fatal(err)
	}
	rc.Status.ClusterID = "c1"
	if err := e.c.Status().Update(e.ctx, rc); err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond, which reports what it still waits for, until it
// reports nothing; the manager works in goroutines of its own.
func (e *backupEnv) eventually(what string, cond func() error) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after a minute, %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *backupEnv) backup(name string) (*raftv1.RaftBackup, error) {
	b := &raftv1.RaftBackup{}
	return b, e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, b)
}

func (e *backupEnv) cluster() *raftv1.RaftCluster {
	e.t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: "demo"}, rc); err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// endPod plays the kubelet: pod name ends with raftctl's result msg.
func (e *backupEnv) endPod(name string, succeeded bool, msg string) {
	e.t.Helper()
	pod := &corev1.Pod{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, pod); err != nil {
		e.t.Fatal(err)
	}
	phase, code := corev1.PodSucceeded, int32(0)
	if !succeeded {
		phase, code = corev1.PodFailed, 1
	}
	pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "backup", Image: "raftnode:test", ImageID: "raftnode@sha256:0",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg,
			StartedAt: metav1.Now(), FinishedAt: metav1.Now()}},
	}}}
	if err := e.c.Status().Update(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *backupEnv) podGone(name string) error {
	err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &corev1.Pod{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get pod %s: %w", name, err)
	}
	return fmt.Errorf("pod %s still exists", name)
}

// metric is the value of family name's sample for cluster demo (and
// result, if given); false when there is none.
func (e *backupEnv) metric(name, result string) (float64, bool) {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != e.ns || labels["cluster"] != "demo" || (result != "" && labels["result"] != result) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestRaftBackupWithTheManager: a RaftBackup gets a pod that runs raftctl
// backup save as the cluster's client; once the pod ends with raftctl's
// result the backup has succeeded with it, the pod is gone, and the
// cluster's status and the metrics say so.
func TestRaftBackupWithTheManager(t *testing.T) {
	e := startBackupManager(t)
	e.createCluster(raftv1.BackupSpec{Storage: raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}})
	b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "before-upgrade"}, Spec: raftv1.RaftBackupSpec{Cluster: "demo"}}
	if err := e.c.Create(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	key := e.ns + "/demo/before-upgrade.snap"
	start := time.Now()
	e.eventually("the backup runs", func() error {
		b, err := e.backup("before-upgrade")
		if err != nil || b.Status.Phase != raftv1.BackupRunning {
			return fmt.Errorf("phase %q (%w)", b.Status.Phase, err)
		}
		return nil
	})
	t.Logf("RaftBackup created -> Running with its pod: %v", time.Since(start).Round(time.Millisecond))
	pod := &corev1.Pod{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: "before-upgrade-backup"}, pod); err != nil {
		t.Fatal(err)
	}
	if pod.Labels[raftv1.LabelClient] != "demo" || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "backups" {
		t.Errorf("pod labels %v volumes %+v", pod.Labels, pod.Spec.Volumes)
	}

	e.endPod("before-upgrade-backup", true, `{"key":"`+key+`","location":"volume://backups/`+key+`","size":2048,"index":17,"term":2,"clusterID":"c1","sha256":"beef","seconds":0.4}`)
	start = time.Now()
	e.eventually("the backup succeeds and its pod goes", func() error {
		b, err := e.backup("before-upgrade")
		if err != nil || b.Status.Phase != raftv1.BackupSucceeded {
			return fmt.Errorf("phase %q (%w)", b.Status.Phase, err)
		}
		return e.podGone("before-upgrade-backup")
	})
	t.Logf("pod ended -> Succeeded, pod deleted: %v", time.Since(start).Round(time.Millisecond))
	b, _ = e.backup("before-upgrade")
	if s := b.Status; s.SizeBytes != 2048 || s.Index != 17 || s.Location != "volume://backups/"+key || s.Key != key {
		t.Errorf("status %+v", s)
	}
	rc := e.cluster()
	if c := rc.Status.Condition(raftv1.ConditionLastBackupSucceeded); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("LastBackupSucceeded %+v", c)
	}
	bs := rc.Status.Backup
	if bs == nil || bs.LastSuccessfulBackup != "before-upgrade" || bs.LastSuccessTime == nil {
		t.Fatalf("status.backup %+v", bs)
	}
	if v, _ := e.metric("raftkube_backups_total", "succeeded"); v != 1 {
		t.Errorf("raftkube_backups_total{result=succeeded} = %v, want 1", v)
	}
	ts, _ := e.metric("raftkube_backup_last_success_timestamp_seconds", "")
	if math.Abs(ts-float64(bs.LastSuccessTime.Unix())) > 1 {
		t.Errorf("last success timestamp %v, status says %v", ts, bs.LastSuccessTime)
	}
	if age, ok := e.metric("raftkube_backup_last_success_age_seconds", ""); !ok || age < 0 || age > 60 {
		t.Errorf("last success age %v (%v)", age, ok)
	}
}

// TestScheduledBackupsWithTheManager: spec.backup.schedule creates a
// RaftBackup, not owned by the cluster; once it succeeded, retention has
// deleted the RaftBackup of the file raftctl pruned; the cluster's
// deletion removes its metrics.
func TestScheduledBackupsWithTheManager(t *testing.T) {
	e := startBackupManager(t)
	keep := int32(1)
	st := raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}
	// A run of long ago, its file about to be pruned.
	old := &raftv1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "demo-20200101-000000",
			Labels: map[string]string{raftv1.LabelCluster: "demo", raftv1.LabelScheduledBackup: "true"}},
		Spec: raftv1.RaftBackupSpec{Cluster: "demo"},
	}
	if err := e.c.Create(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	oldKey := e.ns + "/demo/scheduled/demo-20200101-000000.snap"
	old.Status = raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded, Storage: &st, Key: oldKey}
	if err := e.c.Status().Update(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	e.createCluster(raftv1.BackupSpec{Storage: st, Schedule: "@every 2s", Retention: raftv1.BackupRetention{Keep: &keep}})

	var run *raftv1.RaftBackup
	e.eventually("a scheduled backup runs", func() error {
		var list raftv1.RaftBackupList
		if err := e.c.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
			return err
		}
		for i, b := range list.Items {
			if b.Name != old.Name && b.Status.Phase == raftv1.BackupRunning {
				run = &list.Items[i]
				return nil
			}
		}
		return errors.New("none running")
	})
	if len(run.OwnerReferences) != 0 || run.Labels[raftv1.LabelScheduledBackup] != "true" {
		t.Errorf("scheduled backup %s: owners %v labels %v", run.Name, run.OwnerReferences, run.Labels)
	}
	if bs := e.cluster().Status.Backup; bs == nil || bs.LastScheduleTime == nil || bs.NextScheduleTime == nil {
		t.Errorf("status.backup %+v, want the schedule's times", bs)
	}

	e.endPod(run.Name+"-backup", true, `{"key":"`+run.Status.Key+`","size":1,"pruned":["`+oldKey+`"],"prunedCount":1}`)
	e.eventually("the run succeeds and retention deletes the pruned backup's RaftBackup", func() error {
		b, err := e.backup(run.Name)
		if err != nil || b.Status.Phase != raftv1.BackupSucceeded {
			return fmt.Errorf("phase %q (%w)", b.Status.Phase, err)
		}
		if _, err := e.backup(old.Name); !apierrors.IsNotFound(err) {
			return fmt.Errorf("RaftBackup %s: %w", old.Name, err)
		}
		return e.podGone(run.Name + "-backup")
	})
	if v, _ := e.metric("raftkube_backups_total", "succeeded"); v != 1 {
		t.Errorf("raftkube_backups_total{result=succeeded} = %v", v)
	}

	if err := e.c.Delete(e.ctx, e.cluster()); err != nil {
		t.Fatal(err)
	}
	e.eventually("the deleted cluster's metrics go", func() error {
		for _, name := range []string{"raftkube_backups_total", "raftkube_backup_last_success_timestamp_seconds", "raftkube_backup_last_success_age_seconds"} {
			if _, ok := e.metric(name, ""); ok {
				return fmt.Errorf("%s still reported", name)
			}
		}
		return nil
	})
	if _, err := e.backup(run.Name); err != nil {
		t.Errorf("the scheduled backup went with its cluster: %v", err)
	}
}
