package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// backupHarness drives the backup reconcilers against the shared API
// server, one pass at a time, with a fake clock. It plays the kubelet: it
// ends backup pods with the termination message raftctl would write.
type backupHarness struct {
	t       *testing.T
	ctx     context.Context
	c       client.Client
	ns      string
	events  *fakeRecorder
	clock   *clocktesting.FakeClock
	reg     *prometheus.Registry
	backups *RaftBackupReconciler
	sched   *BackupScheduleReconciler
}

// newBackupHarness creates RaftCluster demo, formed (status.clusterID
// set), with spec.backup to S3 and its credentials Secret, changed by
// opts; TLS is on and its admin Secret exists.
func newBackupHarness(t *testing.T, opts ...func(*raftv1.RaftCluster)) *backupHarness {
	t.Helper()
	api := server(t)
	h := &backupHarness{t: t, ctx: t.Context(), c: api.Client, ns: api.Namespace(t), events: &fakeRecorder{},
		clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), reg: prometheus.NewRegistry()}
	m, err := NewMetrics(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	m.lastSuccess.now = h.clock.Now
	h.backups = &RaftBackupReconciler{Client: h.c, APIReader: h.c, Scheme: api.Scheme, Recorder: h.events, Metrics: m,
		Settings: Settings{NodeImage: "raftnode:test", ClusterDomain: "cluster.local"}, Clock: h.clock}
	h.sched = &BackupScheduleReconciler{Client: h.c, APIReader: h.c, Scheme: api.Scheme, Recorder: h.events, Metrics: m, Clock: h.clock}

	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "s3-creds"},
		Data: map[string][]byte{envAccessKeyID: []byte("id"), envSecretAccessKey: []byte("secret")}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo-admin-tls"}})
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo"},
		Spec: raftv1.RaftClusterSpec{Backup: &raftv1.BackupSpec{Storage: s3Storage()}}}
	for _, o := range opts {
		o(rc)
	}
	h.create(rc)
	rc.Status.ClusterID = "c1"
	if err := h.c.Status().Update(h.ctx, rc); err != nil {
		t.Fatalf("set status.clusterID: %v", err)
	}
	return h
}

func (h *backupHarness) create(o client.Object) {
	h.t.Helper()
	if err := h.c.Create(h.ctx, o); err != nil {
		h.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

func (h *backupHarness) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: h.ns, Name: name}
}

// newBackup creates RaftBackup name of demo, scheduled or not.
func (h *backupHarness) newBackup(name string, scheduled bool) {
	h.t.Helper()
	b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Spec: raftv1.RaftBackupSpec{Cluster: "demo"}}
	if scheduled {
		b.Labels = map[string]string{raftv1.LabelCluster: "demo", raftv1.LabelScheduledBackup: "true"}
	}
	h.create(b)
}

func (h *backupHarness) reconcile(name string) ctrl.Result {
	h.t.Helper()
	res, err := h.backups.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key(name)})
	if err != nil {
		h.t.Fatalf("reconcile RaftBackup %s: %v", name, err)
	}
	return res
}

func (h *backupHarness) backup(name string) *raftv1.RaftBackup {
	h.t.Helper()
	b := &raftv1.RaftBackup{}
	if err := h.c.Get(h.ctx, h.key(name), b); err != nil {
		h.t.Fatalf("get RaftBackup %s: %v", name, err)
	}
	return b
}

func (h *backupHarness) cluster() *raftv1.RaftCluster {
	h.t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := h.c.Get(h.ctx, h.key("demo"), rc); err != nil {
		h.t.Fatalf("get RaftCluster: %v", err)
	}
	return rc
}

// pod is backup name's pod, nil if there is none.
func (h *backupHarness) pod(name string) *corev1.Pod {
	h.t.Helper()
	pod := &corev1.Pod{}
	err := h.c.Get(h.ctx, h.key(backupPodName(name)), pod)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return pod
}

// setPodStatus plays the kubelet on backup name's pod.
func (h *backupHarness) setPodStatus(name string, st corev1.PodStatus) {
	h.t.Helper()
	pod := h.pod(name)
	if pod == nil {
		h.t.Fatalf("backup %s has no pod", name)
	}
	pod.Status = st
	if err := h.c.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatalf("set pod status: %v", err)
	}
}

// endPod ends backup name's pod as raftctl would: exit 0 or 1 with msg as
// its termination message.
func (h *backupHarness) endPod(name string, succeeded bool, msg string) {
	h.t.Helper()
	phase, code := corev1.PodSucceeded, int32(0)
	if !succeeded {
		phase, code = corev1.PodFailed, 1
	}
	h.setPodStatus(name, corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: backupContainerName, Image: "raftnode:test", ImageID: "raftnode@sha256:0",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg,
			StartedAt: metav1.Now(), FinishedAt: metav1.Now()}},
	}}})
}

// eventReasons are the type and reason of the events since the last call.
func (h *backupHarness) eventReasons() []string {
	var out []string
	for _, e := range h.events.take() {
		out = append(out, e.Type+" "+e.Reason)
	}
	return out
}

// metric is the value of the sample of family name with the given label
// values; false if there is none.
func (h *backupHarness) metric(name string, labels map[string]string) (float64, bool) {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue samples
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestBackupLifecycle(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("before-upgrade", false)

	if res := h.reconcile("before-upgrade"); res.RequeueAfter != podStartTimeout {
		t.Errorf("requeue after %v, want the pod's start timeout", res.RequeueAfter)
	}
	b := h.backup("before-upgrade")
	wantKey := "raft/" + h.ns + "/demo/before-upgrade.snap"
	if b.Status.Phase != raftv1.BackupRunning || b.Status.StartedAt == nil || b.Status.Key != wantKey ||
		b.Status.Location != "s3://backups/"+wantKey || b.Status.Storage == nil || b.Status.Storage.S3.Bucket != "backups" {
		t.Fatalf("status %+v, want Running with the cluster's storage resolved", b.Status)
	}
	pod := h.pod("before-upgrade")
	if pod == nil || !metav1.IsControlledBy(pod, b) {
		t.Fatalf("pod %v, want one controlled by the RaftBackup", pod)
	}
	if got := h.eventReasons(); !slices.Equal(got, []string{"Normal BackupStarted", "Normal BackupStarted"}) {
		t.Errorf("events %v, want BackupStarted on the backup and the cluster", got)
	}
	// A pass while the pod runs changes nothing.
	h.setPodStatus("before-upgrade", corev1.PodStatus{Phase: corev1.PodRunning})
	if res := h.reconcile("before-upgrade"); res.RequeueAfter != 0 || h.backup("before-upgrade").Status.Phase != raftv1.BackupRunning {
		t.Errorf("a running pod's pass: requeue %v, phase %s", res.RequeueAfter, h.backup("before-upgrade").Status.Phase)
	}

	h.clock.Step(3 * time.Second)
	h.endPod("before-upgrade", true, `{"key":"`+wantKey+`","location":"s3://backups/`+wantKey+`","size":4096,"index":42,"term":3,"clusterID":"c1","sha256":"00ff","seconds":2.5}`)
	h.reconcile("before-upgrade")
	b = h.backup("before-upgrade")
	s := b.Status
	if s.Phase != raftv1.BackupSucceeded || s.Reason != raftv1.ReasonBackupSucceeded || s.SizeBytes != 4096 || s.Index != 42 ||
		s.Term != 3 || s.ClusterID != "c1" || s.SHA256 != "00ff" || s.FinishedAt == nil || !s.FinishedAt.Time.Equal(h.clock.Now()) {
		t.Errorf("status %+v, want Succeeded with the result", s)
	}
	if h.pod("before-upgrade") != nil {
		t.Error("the finished backup's pod was not deleted")
	}
	if got := h.eventReasons(); !slices.Equal(got, []string{"Normal BackupSucceeded", "Normal BackupSucceeded"}) {
		t.Errorf("events %v", got)
	}
	rc := h.cluster()
	c := rc.Status.Condition(raftv1.ConditionLastBackupSucceeded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != raftv1.ReasonBackupSucceeded || !strings.Contains(c.Message, "before-upgrade") {
		t.Errorf("LastBackupSucceeded %+v", c)
	}
	if bs := rc.Status.Backup; bs == nil || bs.LastSuccessfulBackup != "before-upgrade" || !bs.LastSuccessTime.Time.Equal(h.clock.Now()) {
		t.Errorf("status.backup %+v", rc.Status.Backup)
	}
	cluster := map[string]string{"namespace": h.ns, "cluster": "demo"}
	if v, _ := h.metric("raftkube_backups_total", map[string]string{"namespace": h.ns, "cluster": "demo", "result": "succeeded"}); v != 1 {
		t.Errorf("raftkube_backups_total{result=succeeded} = %v, want 1", v)
	}
	if v, _ := h.metric("raftkube_backup_last_success_timestamp_seconds", cluster); v != float64(h.clock.Now().Unix()) {
		t.Errorf("last success timestamp %v, want %d", v, h.clock.Now().Unix())
	}
	h.clock.Step(90 * time.Second)
	if v, _ := h.metric("raftkube_backup_last_success_age_seconds", cluster); v != 90 {
		t.Errorf("last success age %v, want 90 (computed at scrape)", v)
	}

	// Later passes change nothing.
	before := b.ResourceVersion
	h.reconcile("before-upgrade")
	if h.backup("before-upgrade").ResourceVersion != before {
		t.Error("a pass over a finished backup wrote it")
	}
}

func TestBackupFailureReasonsReachTheCluster(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("b", false)
	h.reconcile("b")
	h.events.take()
	h.endPod("b", false, `{"key":"k.snap","error":{"reason":"StorageAccessDenied","message":"PutObject: Access Denied"}}`)
	h.reconcile("b")
	s := h.backup("b").Status
	if s.Phase != raftv1.BackupFailed || s.Reason != raftv1.ReasonStorageAccessDenied || !strings.Contains(s.Message, "Secret s3-creds") {
		t.Errorf("status %+v", s)
	}
	if got := h.eventReasons(); !slices.Equal(got, []string{"Warning StorageAccessDenied", "Warning StorageAccessDenied"}) {
		t.Errorf("events %v, want warnings on the backup and the cluster", got)
	}
	c := h.cluster().Status.Condition(raftv1.ConditionLastBackupSucceeded)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != raftv1.ReasonStorageAccessDenied || !strings.Contains(c.Message, "AWS_ACCESS_KEY_ID") {
		t.Errorf("LastBackupSucceeded %+v", c)
	}
	if h.cluster().Status.Backup != nil {
		t.Errorf("status.backup %+v after a failure only", h.cluster().Status.Backup)
	}
	if v, _ := h.metric("raftkube_backups_total", map[string]string{"result": "failed"}); v != 1 {
		t.Errorf("raftkube_backups_total{result=failed} = %v", v)
	}
	if _, ok := h.metric("raftkube_backup_last_success_timestamp_seconds", nil); ok {
		t.Error("a last success reported with none")
	}
}

func TestBackupFailsBeforeAnyPod(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func(*raftv1.RaftCluster)
		// secret, if set, replaces the credentials Secret's data.
		secret map[string][]byte
		want   []string
	}{
		{
			name: "no storage anywhere", opt: func(rc *raftv1.RaftCluster) { rc.Spec.Backup = nil },
			want: []string{"no storage", "spec.backup.storage of RaftCluster demo"},
		},
		{
			name: "no credentials Secret",
			opt:  func(rc *raftv1.RaftCluster) { rc.Spec.Backup.Storage.S3.CredentialsSecret.Name = "missing" },
			want: []string{"Secret missing does not exist", "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		},
		{
			name:   "a key missing",
			secret: map[string][]byte{envAccessKeyID: []byte("id")},
			want:   []string{"Secret s3-creds has no key AWS_SECRET_ACCESS_KEY"},
		},
		{
			name: "no CA Secret",
			opt: func(rc *raftv1.RaftCluster) {
				rc.Spec.Backup.Storage.S3.CASecret = &raftv1.SecretKeyReference{Name: "s3-ca", Key: "bundle.pem"}
			},
			want: []string{"Secret s3-ca does not exist", "bundle.pem"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []func(*raftv1.RaftCluster){}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			h := newBackupHarness(t, opts...)
			if tc.secret != nil {
				sec := &corev1.Secret{}
				if err := h.c.Get(h.ctx, h.key("s3-creds"), sec); err != nil {
					t.Fatal(err)
				}
				sec.Data = tc.secret
				if err := h.c.Update(h.ctx, sec); err != nil {
					t.Fatal(err)
				}
			}
			h.newBackup("b", false)
			h.reconcile("b")
			s := h.backup("b").Status
			if s.Phase != raftv1.BackupFailed || s.Reason != raftv1.ReasonInvalidBackupConfig {
				t.Fatalf("status %+v, want Failed InvalidConfig", s)
			}
			for _, w := range tc.want {
				if !strings.Contains(s.Message, w) {
					t.Errorf("message %q lacks %q", s.Message, w)
				}
			}
			if h.pod("b") != nil {
				t.Error("a pod was created for a backup that cannot work")
			}
			if c := h.cluster().Status.Condition(raftv1.ConditionLastBackupSucceeded); c == nil || c.Reason != raftv1.ReasonInvalidBackupConfig {
				t.Errorf("LastBackupSucceeded %+v", c)
			}
		})
	}
}

func TestBackupWaitsForItsCluster(t *testing.T) {
	h := newBackupHarness(t, func(rc *raftv1.RaftCluster) { rc.Spec.TLS.Enabled = new(false) })
	b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "early"}, Spec: raftv1.RaftBackupSpec{Cluster: "later", Storage: new(s3Storage())}}
	h.create(b)
	if res := h.reconcile("early"); res.RequeueAfter != requeuePending {
		t.Errorf("requeue after %v", res.RequeueAfter)
	}
	if s := h.backup("early").Status; s.Phase != raftv1.BackupPending || !strings.Contains(s.Message, "RaftCluster later does not exist") {
		t.Errorf("status %+v", s)
	}
	// A cluster that has not formed yet.
	h.create(&raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "later"}, Spec: raftv1.RaftClusterSpec{TLS: raftv1.TLSSpec{Enabled: new(false)}}})
	h.reconcile("early")
	if s := h.backup("early").Status; s.Phase != raftv1.BackupPending || !strings.Contains(s.Message, "has not formed") {
		t.Errorf("status %+v", s)
	}
	if h.pod("early") != nil {
		t.Error("pod created for a cluster that has not formed")
	}
	// The waiting backup is woken by its cluster's changes.
	reqs := h.backups.waitingBackups(h.ctx, &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "later"}})
	if len(reqs) != 1 || reqs[0].Name != "early" {
		t.Errorf("a change of cluster later wakes %v", reqs)
	}
}

func TestBackupWaitsForTheAdminCertificate(t *testing.T) {
	h := newBackupHarness(t)
	if err := h.c.Delete(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo-admin-tls"}}); err != nil {
		t.Fatal(err)
	}
	h.newBackup("b", false)
	h.reconcile("b")
	if s := h.backup("b").Status; s.Phase != raftv1.BackupPending || !strings.Contains(s.Message, "demo-admin-tls") {
		t.Errorf("status %+v", s)
	}
}

func TestBackupsOfAClusterRunOneAtATime(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("first", false)
	h.newBackup("second", false)
	// Whichever is looked at first, the older starts first.
	h.reconcile("second")
	if s := h.backup("second").Status; s.Phase != raftv1.BackupPending || !strings.Contains(s.Message, "RaftBackup first") {
		t.Errorf("second: %+v, want it waiting for the older first", s)
	}
	h.reconcile("first")
	if p := h.backup("first").Status.Phase; p != raftv1.BackupRunning {
		t.Fatalf("first: %s", p)
	}
	h.reconcile("second")
	if s := h.backup("second").Status; s.Phase != raftv1.BackupPending || !strings.Contains(s.Message, "first of the cluster is running") {
		t.Errorf("second: %+v, want it waiting while first runs", s)
	}
	if h.pod("second") != nil {
		t.Error("second's pod started while first runs")
	}
	h.endPod("first", true, `{"key":"k.snap","size":1}`)
	h.reconcile("first")
	h.reconcile("second")
	if p := h.backup("second").Status.Phase; p != raftv1.BackupRunning || h.pod("second") == nil {
		t.Errorf("second: %s after first finished, want Running", p)
	}
}

func TestBackupPodThatCannotStart(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("b", false)
	h.reconcile("b")
	h.setPodStatus("b", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: backupContainerName, Image: "raftnode:test", ImageID: "",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "pull raftnode:test: not found"}},
	}}})
	h.clock.Step(4 * time.Minute)
	if res := h.reconcile("b"); res.RequeueAfter != 6*time.Minute {
		t.Errorf("requeue after %v, want the rest of the start timeout", res.RequeueAfter)
	}
	if p := h.backup("b").Status.Phase; p != raftv1.BackupRunning {
		t.Fatalf("phase %s before the timeout", p)
	}
	h.clock.Step(6 * time.Minute)
	h.reconcile("b")
	s := h.backup("b").Status
	if s.Phase != raftv1.BackupFailed || s.Reason != raftv1.ReasonBackupPodFailed || !strings.Contains(s.Message, "ImagePullBackOff: pull raftnode:test") {
		t.Errorf("status %+v", s)
	}
	if h.pod("b") != nil {
		t.Error("the pod that could not start was not deleted")
	}
}

func TestBackupPodDeletedWhileRunning(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("b", false)
	h.reconcile("b")
	if err := h.c.Delete(h.ctx, h.pod("b")); err != nil {
		t.Fatal(err)
	}
	h.reconcile("b")
	if s := h.backup("b").Status; s.Phase != raftv1.BackupFailed || s.Reason != raftv1.ReasonBackupPodFailed || !strings.Contains(s.Message, "deleted") {
		t.Errorf("status %+v", s)
	}
}

func TestScheduledBackupRetention(t *testing.T) {
	keep := int32(1)
	h := newBackupHarness(t, func(rc *raftv1.RaftCluster) {
		rc.Spec.Backup.Retention.Keep = &keep
	})
	// Earlier scheduled runs, as the reconciler left them, and a backup of
	// the user's own.
	st := s3Storage()
	old := func(name string, phase raftv1.BackupPhase, scheduled bool) string {
		h.newBackup(name, scheduled)
		b := h.backup(name)
		b.Status = raftv1.RaftBackupStatus{Phase: phase, Storage: &st, Key: backupKey(st, b)}
		if err := h.c.Status().Update(h.ctx, b); err != nil {
			t.Fatal(err)
		}
		return b.Status.Key
	}
	k1 := old("demo-20261205-010000", raftv1.BackupSucceeded, true)
	old("demo-20261205-020000", raftv1.BackupSucceeded, true)
	old("demo-20261205-021500", raftv1.BackupFailed, true)
	old("demo-20261205-023000", raftv1.BackupFailed, true)
	mine := old("mine", raftv1.BackupSucceeded, false)

	h.newBackup("demo-20261205-030000", true)
	h.reconcile("demo-20261205-030000")
	h.events.take()
	// raftctl pruned the 01:00 file (and names the user's, which it cannot
	// have: it prunes only the scheduled directory).
	h.endPod("demo-20261205-030000", true, `{"key":"k","size":1,"pruned":["`+k1+`","`+mine+`"],"prunedCount":2}`)
	h.reconcile("demo-20261205-030000")

	var list raftv1.RaftBackupList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list.Items {
		names = append(names, b.Name)
	}
	want := []string{"demo-20261205-020000", "demo-20261205-023000", "demo-20261205-030000", "mine"}
	if !slices.Equal(names, want) {
		t.Errorf("RaftBackups left %v, want %v", names, want)
	}
	if got := h.eventReasons(); !slices.Contains(got, "Normal BackupsPruned") {
		t.Errorf("events %v, want BackupsPruned", got)
	}
}

func TestBackupOfADeletedCluster(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("b", false)
	h.reconcile("b")
	if err := h.c.Delete(h.ctx, h.cluster()); err != nil {
		t.Fatal(err)
	}
	h.endPod("b", true, `{"key":"k.snap","size":1}`)
	h.reconcile("b")
	if s := h.backup("b").Status; s.Phase != raftv1.BackupSucceeded {
		t.Errorf("status %+v: a backup that was stored succeeded, cluster or not", s)
	}
	if _, ok := h.metric("raftkube_backups_total", map[string]string{"namespace": h.ns, "cluster": "demo"}); ok {
		t.Error("a backup of a deleted cluster brought its metrics back")
	}
}

// A pass that reads a RaftBackup from a cache that has not seen it finish
// (its pod gone) does not finish it again.
func TestBackupFinishedSeenStale(t *testing.T) {
	h := newBackupHarness(t)
	h.newBackup("b", false)
	h.reconcile("b")
	stale := h.backup("b")
	h.endPod("b", true, `{"key":"k.snap","size":1}`)
	h.reconcile("b")
	h.events.take()

	direct, err := client.NewWithWatch(server(t).Config, client.Options{Scheme: server(t).Scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := *h.backups
	r.Client = interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if b, ok := obj.(*raftv1.RaftBackup); ok && key.Name == "b" {
				stale.DeepCopyInto(b)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	if _, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("b")}); err != nil {
		t.Fatal(err)
	}
	if c := h.cluster().Status.Condition(raftv1.ConditionLastBackupSucceeded); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("LastBackupSucceeded %+v after a stale pass, want the backup's success", c)
	}
	if got := h.eventReasons(); len(got) != 0 {
		t.Errorf("events %v from a stale pass", got)
	}
}

// A pod the API server refuses (here by the namespace's Pod Security
// level, which spec.pod.securityContext does not meet) fails the backup at
// once, with the refusal, rather than being retried for ever.
func TestBackupPodRefused(t *testing.T) {
	h := newBackupHarness(t, func(rc *raftv1.RaftCluster) { rc.Spec.Pod.SecurityContext = &corev1.PodSecurityContext{} })
	ns := &corev1.Namespace{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Name: h.ns}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if err := h.c.Update(h.ctx, ns); err != nil {
		t.Fatal(err)
	}
	h.newBackup("b", false)
	h.reconcile("b")
	s := h.backup("b").Status
	if s.Phase != raftv1.BackupFailed || s.Reason != raftv1.ReasonBackupPodFailed || !strings.Contains(s.Message, "refused pod b-backup") {
		t.Errorf("status %+v", s)
	}
	if c := h.cluster().Status.Condition(raftv1.ConditionLastBackupSucceeded); c == nil || c.Reason != raftv1.ReasonBackupPodFailed {
		t.Errorf("LastBackupSucceeded %+v", c)
	}
}

// A waiting backup's passes write its status once, not every time.
func TestBackupPendingWritesOnce(t *testing.T) {
	h := newBackupHarness(t)
	b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "b"}, Spec: raftv1.RaftBackupSpec{Cluster: "absent"}}
	h.create(b)
	writes := 0
	direct, err := client.NewWithWatch(server(t).Config, client.Options{Scheme: server(t).Scheme})
	if err != nil {
		t.Fatal(err)
	}
	h.backups.Client = interceptor.NewClient(direct, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes++
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	for range 3 {
		h.reconcile("b")
	}
	if writes != 1 {
		t.Errorf("%d status writes in 3 passes of a waiting backup, want 1", writes)
	}
}
