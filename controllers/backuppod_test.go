package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// startedBackup is a RaftBackup of cluster demo in ns with its storage
// and key resolved, as start records them before it makes the pod.
func startedBackup(name string, st raftv1.BackupStorage, scheduled bool) *raftv1.RaftBackup {
	b := &raftv1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       raftv1.RaftBackupSpec{Cluster: "demo"},
	}
	if scheduled {
		b.Labels = map[string]string{raftv1.LabelScheduledBackup: "true", raftv1.LabelCluster: "demo"}
	}
	b.Status.Storage = &st
	b.Status.Key = backupKey(st, b)
	return b
}

func s3Storage() raftv1.BackupStorage {
	return raftv1.BackupStorage{S3: &raftv1.S3Storage{
		Endpoint: "https://s3.example", Bucket: "backups", Prefix: "raft", Region: "eu-west-1",
		CredentialsSecret: raftv1.SecretReference{Name: "s3-creds"},
	}}
}

func TestBackupPodS3WithTLS(t *testing.T) {
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"},
		Spec: raftv1.RaftClusterSpec{
			Image: "example/raftnode:1.2", ImagePullPolicy: corev1.PullAlways,
			Pod: raftv1.PodOverrides{NodeSelector: map[string]string{"disk": "ssd"}},
		},
		Status: raftv1.RaftClusterStatus{TLS: &raftv1.TLSStatus{AdminSecretName: "issued-admin"}},
	}
	b := startedBackup("before-upgrade", s3Storage(), false)
	pod := backupPod(rc, b, Settings{NodeImage: "default:1", ClusterDomain: "cluster.local"})

	if pod.Name != "before-upgrade-backup" || pod.Namespace != "ns" {
		t.Errorf("pod %s/%s", pod.Namespace, pod.Name)
	}
	c := pod.Spec.Containers[0]
	wantArgs := []string{
		"backup", "save", "--key=raft/ns/demo/before-upgrade.snap",
		"--endpoints=demo.ns.svc.cluster.local:2379", "--result-file=/dev/termination-log",
		"--s3-endpoint=https://s3.example", "--s3-bucket=backups", "--s3-region=eu-west-1",
		"--spool-dir=/spool",
	}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/raftctl"}) || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("command %q args %q,\nwant raftctl %q", c.Command, c.Args, wantArgs)
	}
	if c.Image != "example/raftnode:1.2" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %s %s, want the members'", c.Image, c.ImagePullPolicy)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, want := range map[string]string{
		"RAFTCTL_CACERT": "/etc/raftkube/admin-tls/ca.crt", "RAFTCTL_CERT": "/etc/raftkube/admin-tls/tls.crt",
		"RAFTCTL_KEY": "/etc/raftkube/admin-tls/tls.key", "RAFTCTL_TLS_SERVER_NAME": "demo.ns.svc",
	} {
		if env[name].Value != want {
			t.Errorf("env %s = %q, want %q", name, env[name].Value, want)
		}
	}
	if ref := env[envAccessKeyID].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "s3-creds" {
		t.Errorf("env %s %+v, want from Secret s3-creds", envAccessKeyID, env[envAccessKeyID])
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	if v := volumes[adminTLSVolume]; v.Secret == nil || v.Secret.SecretName != "issued-admin" || *v.Secret.DefaultMode != 0o440 {
		t.Errorf("admin TLS volume %+v, want status.tls.adminSecretName's Secret, mode 0440", v)
	}
	if v := volumes[spoolVolume]; v.EmptyDir == nil {
		t.Errorf("spool volume %+v, want an emptyDir", v)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts[adminTLSVolume] != adminTLSDir || mounts[spoolVolume] != spoolMountPath {
		t.Errorf("mounts %v", mounts)
	}
	if pod.Spec.NodeSelector["disk"] != "ssd" {
		t.Errorf("node selector %v, want the members'", pod.Spec.NodeSelector)
	}
}

func TestBackupPodIsRestrictedAndOnlyAClient(t *testing.T) {
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"}}
	pod := backupPod(rc, startedBackup("b", s3Storage(), false), Settings{NodeImage: "default:1"})
	c := pod.Spec.Containers[0]
	if c.Image != "default:1" {
		t.Errorf("image %s, want Settings.NodeImage", c.Image)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restart policy %s: a failed backup is not retried", pod.Spec.RestartPolicy)
	}
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the pod mounts a service account token it never uses")
	}
	sc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		*csc.AllowPrivilegeEscalation || !*csc.ReadOnlyRootFilesystem || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("security context %+v / %+v does not meet the restricted standard", sc, csc)
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || c.TerminationMessagePath != terminationLog {
		t.Errorf("termination message %s %s: the result must be read there, the log when raftctl wrote none", c.TerminationMessagePath, c.TerminationMessagePolicy)
	}

	// Not a member: no selector of the members' (StatefulSet, Services,
	// budget) picks it up ...
	podLabels := labels.Set(pod.Labels)
	if labels.SelectorFromSet(selectorLabels(rc)).Matches(podLabels) {
		t.Errorf("labels %v match the members' selector", pod.Labels)
	}
	if _, ok := pod.Labels[raftv1.LabelCluster]; ok {
		t.Errorf("labels %v carry %s: the cluster's reconciler would count the pod as a member", pod.Labels, raftv1.LabelCluster)
	}
	if pod.Labels[raftv1.LabelManagedBy] != managerName {
		t.Errorf("labels %v: the manager's cache holds only pods managed by it", pod.Labels)
	}
	// ... but the cluster's NetworkPolicy admits it to the client port.
	np := &networkingv1.NetworkPolicy{}
	mutateNetworkPolicy(rc, np, Settings{})
	admitted := false
	for _, rule := range np.Spec.Ingress {
		if rule.Ports[0].Port.IntValue() != clientPort {
			continue
		}
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil && labels.SelectorFromSet(peer.PodSelector.MatchLabels).Matches(podLabels) {
				admitted = true
			}
		}
	}
	if !admitted {
		t.Errorf("the NetworkPolicy does not admit a pod labelled %v to the client port", pod.Labels)
	}
}

func TestBackupPodScheduledOnVolumeWithoutTLS(t *testing.T) {
	keep := int32(3)
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"},
		Spec: raftv1.RaftClusterSpec{
			TLS: raftv1.TLSSpec{Enabled: new(false)},
			Backup: &raftv1.BackupSpec{Retention: raftv1.BackupRetention{
				Keep: &keep, MaxAge: &metav1.Duration{Duration: 720 * time.Hour},
			}},
		},
	}
	st := raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}
	pod := backupPod(rc, startedBackup("demo-20261205-030000", st, true), Settings{NodeImage: "default:1"})
	c := pod.Spec.Containers[0]
	wantArgs := []string{
		"backup", "save", "--key=ns/demo/scheduled/demo-20261205-030000.snap",
		"--endpoints=demo.ns.svc:2379", "--result-file=/dev/termination-log",
		"--dir=/backup", "--volume-name=backups",
		"--prune-prefix=ns/demo/scheduled/", "--keep=3", "--max-age=720h0m0s",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q,\nwant %q", c.Args, wantArgs)
	}
	for _, e := range c.Env {
		t.Errorf("env %s set without TLS and S3", e.Name)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "backups" || pod.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly {
		t.Errorf("volumes %+v, want the backup claim alone, writable", pod.Spec.Volumes)
	}

	// Retention without maxAge, and keep defaulted.
	rc.Spec.Backup.Retention = raftv1.BackupRetention{}
	args := backupArgs(rc, startedBackup("demo-20261205-030000", st, true), Settings{})
	if !slices.Equal(args[len(args)-2:], []string{"--prune-prefix=ns/demo/scheduled/", "--keep=7"}) {
		t.Errorf("args %q: want the default keep and no --max-age", args)
	}
}

func TestBackupPodName(t *testing.T) {
	if n := backupPodName(strings.Repeat("a", 253)); len(n) != 253 {
		t.Errorf("pod name of a 253-character backup is %d characters", len(n))
	}
	if n := backupPodName("demo-0"); n == podName(&raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, 0) {
		t.Errorf("backup demo-0's pod %s is member demo-0's", n)
	}
}
