package controllers

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

func restoreS3Storage() raftv1.BackupStorage {
	return raftv1.BackupStorage{S3: &raftv1.S3Storage{
		Endpoint: "https://s3.example:9000", Bucket: "backups", Region: "eu-1",
		CredentialsSecret: raftv1.SecretReference{Name: "s3-creds"},
		CASecret:          &raftv1.SecretKeyReference{Name: "s3-ca", Key: "ca.pem"},
	}}
}

func restoreVolumeStorage() raftv1.BackupStorage {
	return raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}
}

// restoredTemplate is the StatefulSet's pod template for a cluster restored
// from src.
func restoredTemplate(t *testing.T, src *restoreSource) corev1.PodSpec {
	t.Helper()
	sts := &appsv1.StatefulSet{}
	mutateStatefulSet(cluster(3), sts, testSettings, 1, src)
	return sts.Spec.Template.Spec
}

func restoreVolumeNamed(s corev1.PodSpec, name string) *corev1.Volume {
	for i := range s.Volumes {
		if s.Volumes[i].Name == name {
			return &s.Volumes[i]
		}
	}
	return nil
}

func restoreMountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

var restoreVarRef = regexp.MustCompile(`\$\(([A-Z_]+)\)`)

// The first member's pod fetches the backup in an init container and
// raftnode founds the cluster from it; every pod shares the template, and
// both steps act only in the pod the bootstrap ConfigMap names.
func TestPodTemplateRestoreFromS3(t *testing.T) {
	src := &restoreSource{Backup: "nightly", Storage: restoreS3Storage(), Key: "ns/old/nightly.snap", Location: "s3://backups/ns/old/nightly.snap"}
	s := restoredTemplate(t, src)
	if len(s.InitContainers) != 1 {
		t.Fatalf("init containers %d, want the restore fetch", len(s.InitContainers))
	}
	ic, main := s.InitContainers[0], s.Containers[0]
	if ic.Name != restoreContainer || ic.Image != main.Image || ic.ImagePullPolicy != main.ImagePullPolicy ||
		!slices.Equal(ic.Command, []string{"/usr/local/bin/raftctl"}) {
		t.Errorf("init container %s %s %v %v, want restore, the member's image, raftctl", ic.Name, ic.Image, ic.ImagePullPolicy, ic.Command)
	}
	want := []string{"backup", "fetch", "--key=ns/old/nightly.snap", "--to=/restore/snapshot",
		"--name=$(RAFTNODE_NAME)", "--bootstrap-member=$(RAFTNODE_BOOTSTRAP_MEMBER)", "--data-dir=/var/lib/raftnode",
		"--s3-endpoint=https://s3.example:9000", "--s3-bucket=backups", "--s3-region=eu-1", "--s3-ca-file=/etc/raftkube/backup-ca/ca.crt"}
	if !slices.Equal(ic.Args, want) {
		t.Errorf("fetch args\n %q\nwant\n %q", ic.Args, want)
	}
	// The kubelet expands $(VAR) in arguments from the container's own
	// environment only: every reference must be defined there, as the
	// member's container defines it.
	ienv, menv := envOf(&ic), envOf(&main)
	for _, a := range ic.Args {
		for _, m := range restoreVarRef.FindAllStringSubmatch(a, -1) {
			e, ok := ienv[m[1]]
			if !ok {
				t.Errorf("argument %q refers to %s, which the init container does not define", a, m[1])
				continue
			}
			if !sameEnvVar(e, menv[m[1]]) {
				t.Errorf("init container's %s = %+v, the member's %+v", m[1], e, menv[m[1]])
			}
		}
	}
	if e := ienv["RAFTNODE_NAME"]; e.Value != "$(POD_NAME)" || ienv["POD_NAME"].ValueFrom == nil {
		t.Errorf("RAFTNODE_NAME %+v, POD_NAME %+v: the name must expand to the pod's", e, ienv["POD_NAME"])
	}
	for _, k := range []string{envAccessKeyID, envSecretAccessKey} {
		if e := ienv[k]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "s3-creds" {
			t.Errorf("%s %+v, want it from Secret s3-creds", k, e)
		}
		if _, ok := menv[k]; ok {
			t.Errorf("the member's container gets %s: only the fetch needs the credentials", k)
		}
	}
	if m := restoreMountAt(ic, restoreDir); m == nil || m.Name != restoreVolume || m.ReadOnly {
		t.Errorf("init container's %s mount %+v, want the restore volume, writable", restoreDir, m)
	}
	if m := restoreMountAt(ic, dataDir); m == nil || m.Name != dataVolume || !m.ReadOnly {
		t.Errorf("init container's %s mount %+v, want the data volume, read-only", dataDir, m)
	}
	if m := restoreMountAt(ic, backupCADir); m == nil || !m.ReadOnly {
		t.Errorf("init container's CA mount %+v", m)
	}
	if v := restoreVolumeNamed(s, restoreVolume); v == nil || v.EmptyDir == nil {
		t.Errorf("restore volume %+v, want an emptyDir", v)
	}
	if v := restoreVolumeNamed(s, backupCAVolume); v == nil || v.Secret == nil || v.Secret.SecretName != "s3-ca" {
		t.Errorf("CA volume %+v, want Secret s3-ca", v)
	}
	if e := menv["RAFTNODE_BOOTSTRAP_FROM"]; e.Value != restoreFile {
		t.Errorf("member's RAFTNODE_BOOTSTRAP_FROM %q, want %s", e.Value, restoreFile)
	}
	if m := restoreMountAt(main, restoreDir); m == nil || m.Name != restoreVolume || !m.ReadOnly {
		t.Errorf("member's %s mount %+v, want the restore volume, read-only", restoreDir, m)
	}
	// Restricted: what the member's container gets, and modest resources.
	sc := ic.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("init container security context %+v, want no escalation, read-only root, every capability dropped", sc)
	}
	if ic.Resources.Requests.Cpu().IsZero() || ic.Resources.Limits.Memory().IsZero() {
		t.Errorf("init container resources %+v, want requests and a memory limit", ic.Resources)
	}
}

func sameEnvVar(a, b corev1.EnvVar) bool {
	if a.Name != b.Name || a.Value != b.Value || (a.ValueFrom == nil) != (b.ValueFrom == nil) {
		return false
	}
	if a.ValueFrom == nil {
		return true
	}
	return a.ValueFrom.String() == b.ValueFrom.String()
}

// A backup on a volume is read from the claim, mounted read-only.
func TestPodTemplateRestoreFromVolume(t *testing.T) {
	s := restoredTemplate(t, &restoreSource{Storage: restoreVolumeStorage(), Key: "ns/old/a.snap", Location: "volume://backups/ns/old/a.snap"})
	ic := s.InitContainers[0]
	if !slices.Contains(ic.Args, "--dir="+backupMountPath) || !slices.Contains(ic.Args, "--volume-name=backups") || !slices.Contains(ic.Args, "--key=ns/old/a.snap") {
		t.Errorf("fetch args %q, want the volume's directory and the key", ic.Args)
	}
	if v := restoreVolumeNamed(s, backupVolume); v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "backups" || !v.PersistentVolumeClaim.ReadOnly {
		t.Errorf("backup volume %+v, want claim backups, read-only", v)
	}
	if m := restoreMountAt(ic, backupMountPath); m == nil || !m.ReadOnly {
		t.Errorf("backup mount %+v, want read-only", m)
	}
	if m := restoreMountAt(s.Containers[0], backupMountPath); m != nil {
		t.Errorf("the member mounts the backup volume: %+v", m)
	}
}

// Once bootstrapped, the template has nothing of the restore, and its hash
// changes: the first member's pod is restarted onto it like any template
// change, and no pod needs the storage or its Secrets again.
func TestPodTemplateRestoreDropped(t *testing.T) {
	rc := cluster(3)
	sts := &appsv1.StatefulSet{}
	mutateStatefulSet(rc, sts, testSettings, 1, &restoreSource{Storage: restoreS3Storage(), Key: "k", Location: "s3://backups/k"})
	restoring := sts.Annotations[annotationTemplateHash]
	mutateStatefulSet(rc, sts, testSettings, 1, nil)
	s := sts.Spec.Template.Spec
	if sts.Annotations[annotationTemplateHash] == restoring {
		t.Error("the template hash did not change when the restore was dropped")
	}
	plain := &appsv1.StatefulSet{}
	mutateStatefulSet(rc, plain, testSettings, 1, nil)
	if plain.Annotations[annotationTemplateHash] != sts.Annotations[annotationTemplateHash] {
		t.Error("the template after the restore differs from a cluster's that never restored")
	}
	if len(s.InitContainers) != 0 || restoreVolumeNamed(s, restoreVolume) != nil || restoreVolumeNamed(s, backupCAVolume) != nil {
		t.Errorf("init containers %d, volumes %+v: the restore is still in the template", len(s.InitContainers), s.Volumes)
	}
	if _, ok := envOf(&s.Containers[0])["RAFTNODE_BOOTSTRAP_FROM"]; ok {
		t.Error("RAFTNODE_BOOTSTRAP_FROM still set")
	}
}

// restorePass runs one pass that must succeed and take step want, and
// returns its events.
func (h *harness) restorePass(want plan.Kind) []testEvent {
	h.t.Helper()
	if _, err := h.reconcile(); err != nil {
		h.t.Fatalf("reconcile, expecting %s: %v", want, err)
	}
	events := h.events.take()
	var steps []string
	for _, e := range events {
		switch e.Action {
		case "Validate", "Wait", "Issue", actionRestore, actionRestored:
			continue // not steps: warnings, certificates, the restore's own
		}
		if e.Type == corev1.EventTypeNormal {
			steps = append(steps, e.Action)
		}
	}
	expect := []string{want.String()}
	if want == plan.Wait || want == plan.Steady {
		expect = nil
	}
	if !slices.Equal(steps, expect) {
		h.t.Fatalf("pass took steps %v, want %v (Progressing %+v)", steps, expect, h.cluster().Status.Condition(raftv1.ConditionProgressing))
	}
	return events
}

// restoreEventWith returns the first event of that reason whose note holds every
// one of parts.
func restoreEventWith(events []testEvent, eventType, reason string, parts ...string) (testEvent, bool) {
	for _, e := range events {
		if e.Type != eventType || e.Reason != reason {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.Note, p)
		}
		if ok {
			return e, true
		}
	}
	return testEvent{}, false
}

func (h *harness) createRestoreBackup(name string) *raftv1.RaftBackup {
	h.t.Helper()
	b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Spec: raftv1.RaftBackupSpec{Cluster: "old"}}
	if err := h.c.Create(h.ctx, b); err != nil {
		h.t.Fatalf("create RaftBackup: %v", err)
	}
	return b
}

func (h *harness) setRestoreBackupStatus(b *raftv1.RaftBackup, st raftv1.RaftBackupStatus) {
	h.t.Helper()
	b.Status = st
	if err := h.c.Status().Update(h.ctx, b); err != nil {
		h.t.Fatalf("update RaftBackup status: %v", err)
	}
}

func (h *harness) restoreStatefulSet() (*appsv1.StatefulSet, bool) {
	h.t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := h.c.Get(h.ctx, h.key("demo"), sts); err != nil {
		return nil, false
	}
	return sts, true
}

func fromBackup(name string) func(*raftv1.RaftCluster) {
	return func(rc *raftv1.RaftCluster) { rc.Spec.Restore = &raftv1.RestoreSpec{Backup: name} }
}

// A cluster restored from a RaftBackup starts no pod until the backup has
// succeeded: the pass waits with RestoreSourceNotReady and a Warning naming
// the backup and its phase. Then pod 0 founds the cluster from it, the
// events name the backup and where it is, and once the cluster id is
// recorded the template drops the restore. The first member is restarted
// onto it only after the others joined, as any rolling restart: a
// leadership transfer, then its pod.
func TestRestoreFromRaftBackup(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)), fromBackup("nightly"))

	notReady := func(phase string) {
		t.Helper()
		events := h.restorePass(plan.Wait)
		if _, ok := h.restoreStatefulSet(); ok {
			t.Fatal("a StatefulSet was created before the backup succeeded")
		}
		rc := h.cluster()
		if got := condition(rc, raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonRestoreSourceNotReady {
			t.Errorf("Progressing %s, want True/%s", got, raftv1.ReasonRestoreSourceNotReady)
		}
		if rc.Status.Phase != raftv1.PhasePending {
			t.Errorf("phase %s, want Pending", rc.Status.Phase)
		}
		if _, ok := restoreEventWith(events, corev1.EventTypeWarning, raftv1.ReasonRestoreSourceNotReady, "RaftBackup nightly", phase); !ok {
			t.Errorf("events %+v, want a Warning naming RaftBackup nightly and %q", events, phase)
		}
	}
	notReady("does not exist")
	// Reported once per change, not on every pass.
	if events := h.restorePass(plan.Wait); len(events) != 0 {
		t.Errorf("the same wait again recorded %+v", events)
	}
	b := h.createRestoreBackup("nightly")
	notReady("is new")
	h.setRestoreBackupStatus(b, raftv1.RaftBackupStatus{Phase: raftv1.BackupRunning})
	notReady("is Running")

	st := restoreS3Storage()
	h.setRestoreBackupStatus(b, raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded, Storage: &st, Key: "ns/old/nightly.snap",
		Location: "s3://backups/ns/old/nightly.snap"})
	h.revision = "rev-restore"
	events := h.restorePass(plan.SetReplicas)
	if _, ok := restoreEventWith(events, corev1.EventTypeNormal, raftv1.ReasonRestoring, "demo-0", "RaftBackup nightly", "s3://backups/ns/old/nightly.snap"); !ok {
		t.Errorf("events %+v, want Restoring naming demo-0, the backup and its location", events)
	}
	sts, ok := h.restoreStatefulSet()
	if !ok {
		t.Fatal("no StatefulSet once the backup succeeded")
	}
	if ic := sts.Spec.Template.Spec.InitContainers; len(ic) != 1 || !slices.Contains(ic[0].Args, "--key=ns/old/nightly.snap") {
		t.Fatalf("init containers %+v, want the fetch of the backup's key", ic)
	}
	h.setUpdateRevision("rev-restore")
	h.restorePass(plan.Wait)
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonRestoring {
		t.Errorf("Progressing %s while pod 0 restores, want True/%s", got, raftv1.ReasonRestoring)
	}

	h.startPod(0)
	events = h.restorePass(plan.FinishBootstrap)
	if _, ok := restoreEventWith(events, corev1.EventTypeNormal, raftv1.ReasonRestoring, "c1", "RaftBackup nightly", "s3://backups/ns/old/nightly.snap"); !ok {
		t.Errorf("events %+v, want one saying cluster c1 was founded from the backup", events)
	}
	// The backup is not read again: deleting it changes nothing.
	if err := h.c.Delete(h.ctx, b); err != nil {
		t.Fatal(err)
	}
	h.restorePass(plan.SetReplicas) // to three, from the template without the restore
	sts, _ = h.restoreStatefulSet()
	if s := sts.Spec.Template.Spec; len(s.InitContainers) != 0 || restoreVolumeNamed(s, restoreVolume) != nil {
		t.Fatalf("after bootstrap the template still restores: %+v", s.InitContainers)
	}
	h.setUpdateRevision("rev-plain")

	var steps []string
	for range 30 {
		if _, err := h.reconcile(); err != nil {
			t.Fatal(err)
		}
		for _, e := range h.events.take() {
			if e.Type == corev1.EventTypeNormal {
				steps = append(steps, e.Action)
			}
			if e.Action == actionRestore || e.Action == actionRestored || e.Reason == raftv1.ReasonRestoreSourceNotReady {
				t.Errorf("event after bootstrap: %+v", e)
			}
		}
		if c := h.cluster().Status.Condition(raftv1.ConditionProgressing); c.Status == metav1.ConditionFalse {
			break
		}
		h.kubelet()
		h.raft.catchUp()
	}
	if rc := h.cluster(); rc.Status.Phase != raftv1.PhaseAvailable || rc.Status.Replicas != 3 {
		t.Fatalf("phase %s with %d voters after the restore, want Available with 3 (steps %v)", rc.Status.Phase, rc.Status.Replicas, steps)
	}
	restart := slices.Index(steps, plan.RestartPod.String())
	promote := slices.Index(steps, plan.PromoteLearners.String())
	transfer := slices.Index(steps, plan.TransferLeadership.String())
	if restart < 0 || promote < 0 || transfer < 0 || !(promote < transfer && transfer < restart) || slices.Index(steps[restart+1:], plan.RestartPod.String()) >= 0 {
		t.Errorf("steps %v: want the others promoted, then leadership moved, then pod 0 restarted once", steps)
	}
	if got := h.podRevisions()["demo-0"]; got != "rev-plain" {
		t.Errorf("demo-0 on revision %q, want rev-plain", got)
	}
}

// A restore from a storage and key needs no RaftBackup: the first pass
// creates the StatefulSet that fetches it.
func TestRestoreFromStorage(t *testing.T) {
	st := restoreVolumeStorage()
	h := newHarness(t, ptrTo(int32(1)), func(rc *raftv1.RaftCluster) {
		rc.Spec.Restore = &raftv1.RestoreSpec{Storage: &st, Key: "ns/gone/x.snap"}
	})
	events := h.restorePass(plan.SetReplicas)
	if _, ok := restoreEventWith(events, corev1.EventTypeNormal, raftv1.ReasonRestoring, "volume://backups/ns/gone/x.snap"); !ok {
		t.Errorf("events %+v, want Restoring naming the location", events)
	}
	sts, _ := h.restoreStatefulSet()
	if ic := sts.Spec.Template.Spec.InitContainers; len(ic) != 1 || !slices.Contains(ic[0].Args, "--key=ns/gone/x.snap") {
		t.Fatalf("init containers %+v, want the fetch of the key", ic)
	}
	h.startPod(0)
	events = h.restorePass(plan.FinishBootstrap)
	if _, ok := restoreEventWith(events, corev1.EventTypeNormal, raftv1.ReasonRestoring, "founded from volume://backups/ns/gone/x.snap"); !ok {
		t.Errorf("events %+v, want the founding from the location", events)
	}
}

// A failed RaftBackup says that nothing can come of it, and how to go on.
func TestRestoreFromFailedBackup(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)), fromBackup("broken"))
	b := h.createRestoreBackup("broken")
	h.setRestoreBackupStatus(b, raftv1.RaftBackupStatus{Phase: raftv1.BackupFailed, Reason: raftv1.ReasonStorageAccessDenied})
	events := h.restorePass(plan.Wait)
	if _, ok := restoreEventWith(events, corev1.EventTypeWarning, raftv1.ReasonRestoreSourceNotReady, "RaftBackup broken is Failed", raftv1.ReasonStorageAccessDenied, "another spec.restore"); !ok {
		t.Errorf("events %+v, want a Warning naming the failure and the fix", events)
	}
	// A Succeeded backup without a storage and key cannot be read either.
	h.setRestoreBackupStatus(b, raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded})
	events = h.restorePass(plan.Wait)
	if _, ok := restoreEventWith(events, corev1.EventTypeWarning, raftv1.ReasonRestoreSourceNotReady, "names no storage and key"); !ok {
		t.Errorf("events %+v, want a Warning that the backup's status names no storage", events)
	}
	if _, ok := h.restoreStatefulSet(); ok {
		t.Error("a StatefulSet was created")
	}
}

// Claims of an earlier cluster of this name: with spec.bootstrap Fresh the
// cluster is refused as without a restore (RetainedData); with Adopt, the
// default, the claims are adopted, nothing is restored, and a Warning says
// so.
func TestRestoreOverRetainedClaims(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bootstrap raftv1.BootstrapPolicy
	}{{"Fresh", raftv1.BootstrapFresh}, {"Adopt", raftv1.BootstrapAdopt}} {
		t.Run(tc.name, func(t *testing.T) {
			st := restoreS3Storage()
			h := newHarness(t, ptrTo(int32(1)), func(rc *raftv1.RaftCluster) {
				rc.Spec.Bootstrap = tc.bootstrap
				rc.Spec.Restore = &raftv1.RestoreSpec{Storage: &st, Key: "k.snap"}
			})
			claim := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "data-demo-0", Labels: selectorLabels(h.cluster())},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: defaultStorageSize}},
				},
			}
			if err := h.c.Create(h.ctx, claim); err != nil {
				t.Fatal(err)
			}
			if tc.bootstrap == raftv1.BootstrapFresh {
				h.restorePass(plan.Wait)
				if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonRetainedData {
					t.Errorf("Progressing %s, want True/%s", got, raftv1.ReasonRetainedData)
				}
				if _, ok := h.restoreStatefulSet(); ok {
					t.Error("a StatefulSet was created over retained claims")
				}
				return
			}
			events := h.restorePass(plan.SetReplicas)
			if _, ok := restoreEventWith(events, corev1.EventTypeWarning, raftv1.ReasonRetainedData, "spec.restore is not used"); !ok {
				t.Errorf("events %+v, want a Warning that the restore is not used", events)
			}
			sts, _ := h.restoreStatefulSet()
			if len(sts.Spec.Template.Spec.InitContainers) != 0 {
				t.Error("adopting pods fetch the backup")
			}
		})
	}
}

// A RaftBackup's changes wake the clusters that wait to be restored from
// it, and only those.
func TestClustersRestoringFrom(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)), fromBackup("nightly"))
	for _, rc := range []*raftv1.RaftCluster{
		{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "other"}, Spec: raftv1.RaftClusterSpec{Restore: &raftv1.RestoreSpec{Backup: "weekly"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "plain"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "founded"}, Spec: raftv1.RaftClusterSpec{Restore: &raftv1.RestoreSpec{Backup: "nightly"}}},
	} {
		if err := h.c.Create(h.ctx, rc); err != nil {
			t.Fatal(err)
		}
	}
	founded := &raftv1.RaftCluster{}
	h.get(founded, "founded")
	founded.Status.ClusterID = "c9"
	if err := h.c.Status().Update(h.ctx, founded); err != nil {
		t.Fatal(err)
	}
	b := h.createRestoreBackup("nightly")
	got := h.r.clustersRestoringFrom(h.ctx, b)
	if len(got) != 1 || got[0].Name != "demo" || got[0].Namespace != h.ns {
		t.Errorf("requests %v, want only %s/demo", got, h.ns)
	}
}

// The RaftBackup deleted once pod 0 may have fetched it: the template keeps
// the fetch (the file stays in the storage), steps on running pods go on,
// and the cluster founded meanwhile is recorded.
func TestRestoreGoesOnWhenBackupDeletedAfterStart(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)), fromBackup("nightly"))
	b := h.createRestoreBackup("nightly")
	st := restoreVolumeStorage()
	h.setRestoreBackupStatus(b, raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded, Storage: &st, Key: "k.snap"})
	h.restorePass(plan.SetReplicas)
	sts, _ := h.restoreStatefulSet()
	hash := sts.Annotations[annotationTemplateHash]
	if err := h.c.Delete(h.ctx, b); err != nil {
		t.Fatal(err)
	}
	h.restorePass(plan.Wait) // pod 0 not started: the usual bootstrap wait
	if sts, _ := h.restoreStatefulSet(); sts.Annotations[annotationTemplateHash] != hash || len(sts.Spec.Template.Spec.InitContainers) != 1 {
		t.Fatal("the template changed when the RaftBackup went")
	}
	h.startPod(0)
	events := h.restorePass(plan.FinishBootstrap)
	if _, ok := restoreEventWith(events, corev1.EventTypeNormal, raftv1.ReasonRestoring, "founded from spec.restore"); !ok {
		t.Errorf("events %+v, want the founding recorded", events)
	}
	if got := h.cluster().Status.ClusterID; got != "c1" {
		t.Errorf("status.clusterID %q, want c1", got)
	}
}
