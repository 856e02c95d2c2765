package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

func TestBackupKey(t *testing.T) {
	s3 := func(prefix string) raftv1.BackupStorage {
		return raftv1.BackupStorage{S3: &raftv1.S3Storage{Endpoint: "https://s3", Bucket: "b", Prefix: prefix}}
	}
	oneOff := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Name: "before-upgrade", Namespace: "ns"}, Spec: raftv1.RaftBackupSpec{Cluster: "demo"}}
	scheduled := oneOff.DeepCopy()
	scheduled.Name, scheduled.Labels = "demo-20261205-181431", map[string]string{raftv1.LabelScheduledBackup: "true"}
	for _, tc := range []struct {
		st   raftv1.BackupStorage
		b    *raftv1.RaftBackup
		want string
	}{
		{s3(""), oneOff, "ns/demo/before-upgrade.snap"},
		{s3("raftkube"), oneOff, "raftkube/ns/demo/before-upgrade.snap"},
		{s3("/a//b/"), oneOff, "a/b/ns/demo/before-upgrade.snap"},
		{s3("x/../"), scheduled, "ns/demo/scheduled/demo-20261205-181431.snap"},
		{raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "c", Prefix: "backups"}}, scheduled, "backups/ns/demo/scheduled/demo-20261205-181431.snap"},
	} {
		if got := backupKey(tc.st, tc.b); got != tc.want {
			t.Errorf("backupKey(prefix %q, %s) = %q, want %q", storagePrefix(tc.st), tc.b.Name, got, tc.want)
		}
	}
}

func TestAccessStorage(t *testing.T) {
	a := accessStorage(raftv1.BackupStorage{S3: &raftv1.S3Storage{
		Endpoint: "https://s3.example:9000", Bucket: "b", CredentialsSecret: raftv1.SecretReference{Name: "creds"},
		CASecret: &raftv1.SecretKeyReference{Name: "ca"},
	}}, false)
	wantArgs := []string{"--s3-endpoint=https://s3.example:9000", "--s3-bucket=b", "--s3-region=us-east-1", "--s3-ca-file=/etc/raftkube/backup-ca/ca.crt"}
	if !slices.Equal(a.Args, wantArgs) {
		t.Errorf("args %q, want %q", a.Args, wantArgs)
	}
	for _, e := range a.Env {
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != "creds" || ref.Key != e.Name || *ref.Optional != (e.Name == envSessionToken) {
			t.Errorf("env %s from %s/%s optional %v: want the Secret creds, key %[1]s, optional only for the token", e.Name, ref.Name, ref.Key, *ref.Optional)
		}
	}
	if len(a.Volumes) != 1 || a.Volumes[0].Secret.Items[0].Key != "ca.crt" {
		t.Errorf("volumes %+v: want the CA Secret's ca.crt", a.Volumes)
	}

	v := accessStorage(raftv1.BackupStorage{Volume: &raftv1.VolumeStorage{ClaimName: "backups"}}, true)
	if !slices.Equal(v.Args, []string{"--dir=/backup", "--volume-name=backups"}) || len(v.Env) != 0 {
		t.Errorf("volume storage: args %q env %v", v.Args, v.Env)
	}
	if !v.Volumes[0].PersistentVolumeClaim.ReadOnly || !v.Mounts[0].ReadOnly {
		t.Error("a restore's backup claim is not mounted read-only")
	}
}
