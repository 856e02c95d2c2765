package v1alpha1_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// raftBackup builds RaftBackup name from the YAML of its spec, as a user
// would write it.
func raftBackup(t *testing.T, ns, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(spec), &m); err != nil {
		t.Fatalf("bad spec YAML in test: %v\n%s", err, spec)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": raftv1.GroupVersion.String(),
		"kind":       "RaftBackup",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       m,
	}}
}

const backupS3 = `{s3: {endpoint: "https://s3.example:9000", bucket: backups, credentialsSecret: {name: creds}}}`

// checkRefusal fails t unless err is an Invalid refusal with want, or,
// for want "", no error.
func checkRefusal(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("accepted, want refused with %q", want)
	case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want):
		t.Errorf("error %v\nwant Invalid with %q", err, want)
	}
}

func TestRaftBackupSpecOnCreate(t *testing.T) {
	s := server(t)
	for _, tc := range []struct {
		name, spec string
		want       string // "" accepts
	}{
		{"the cluster's storage", "cluster: demo", ""},
		{"its own S3 storage", "{cluster: demo, storage: " + backupS3 + "}", ""},
		{"its own volume", "{cluster: demo, storage: {volume: {claimName: backups, prefix: raft/x}}}", ""},
		{"no cluster", "{storage: " + backupS3 + "}", "spec.cluster: Required value"},
		{"a cluster name too long for a cluster", "cluster: a" + strings.Repeat("b", 52), "spec.cluster"},
		{"an empty storage", "{cluster: demo, storage: {}}", "set exactly one of s3 and volume"},
		{
			"two storages", "{cluster: demo, storage: {volume: {claimName: b}, s3: {endpoint: \"https://s3.example\", bucket: backups, credentialsSecret: {name: c}}}}",
			"set exactly one of s3 and volume",
		},
		{"a prefix out of the volume", "{cluster: demo, storage: {volume: {claimName: b, prefix: a/../../x}}}", "prefix may not contain '..'"},
		{"an endpoint with a path", "{cluster: demo, storage: {s3: {endpoint: \"https://s3.example/bucket\", bucket: backups, credentialsSecret: {name: c}}}}", "spec.storage.s3.endpoint"},
		{"an endpoint of another scheme", "{cluster: demo, storage: {s3: {endpoint: \"s3://backups\", bucket: backups, credentialsSecret: {name: c}}}}", "spec.storage.s3.endpoint"},
		{"a bucket name too short", "{cluster: demo, storage: {s3: {endpoint: \"https://s3.example\", bucket: b, credentialsSecret: {name: c}}}}", "spec.storage.s3.bucket"},
		{"no credentials", "{cluster: demo, storage: {s3: {endpoint: \"https://s3.example\", bucket: backups}}}", "credentialsSecret: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := s.Namespace(t)
			checkRefusal(t, s.Client.Create(t.Context(), raftBackup(t, ns, "b", tc.spec)), tc.want)
		})
	}
}

func TestRaftBackupDefaults(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	if err := s.Client.Create(t.Context(), raftBackup(t, ns, "b", "{cluster: demo, storage: "+backupS3+"}")); err != nil {
		t.Fatal(err)
	}
	b := &raftv1.RaftBackup{}
	if err := s.Client.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "b"}, b); err != nil {
		t.Fatal(err)
	}
	if r := b.Spec.Storage.S3.Region; r != "us-east-1" {
		t.Errorf("region %q, want the default us-east-1", r)
	}
}

// A RaftBackup is a record of one backup: its spec never changes, its
// status is the operator's.
func TestRaftBackupSpecIsImmutable(t *testing.T) {
	s := server(t)
	const fixed = "a RaftBackup's spec cannot change: create another RaftBackup"
	for _, tc := range []struct {
		name, create, patch string
		want                string
	}{
		{"another cluster", "cluster: demo", `{"spec":{"cluster":"other"}}`, fixed},
		{"a storage added", "cluster: demo", `{"spec":{"storage":{"volume":{"claimName":"b"}}}}`, fixed},
		{"the storage changed", "{cluster: demo, storage: " + backupS3 + "}", `{"spec":{"storage":{"s3":{"bucket":"other"}}}}`, fixed},
		{"labels change", "cluster: demo", `{"metadata":{"labels":{"keep":"yes"}}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := s.Namespace(t)
			if err := s.Client.Create(t.Context(), raftBackup(t, ns, "b", tc.create)); err != nil {
				t.Fatalf("create refused: %v", err)
			}
			b := &raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}}
			checkRefusal(t, s.Client.Patch(t.Context(), b, client.RawPatch(types.MergePatchType, []byte(tc.patch))), tc.want)
		})
	}
}

func TestRaftBackupStatusIsASubresource(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	ctx := t.Context()
	if err := s.Client.Create(ctx, raftBackup(t, ns, "b", "cluster: demo")); err != nil {
		t.Fatal(err)
	}
	b := &raftv1.RaftBackup{}
	key := types.NamespacedName{Namespace: ns, Name: "b"}
	if err := s.Client.Get(ctx, key, b); err != nil {
		t.Fatal(err)
	}
	b.Status = raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded, Key: "ns/demo/b.snap", Index: 42}
	if err := s.Client.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Get(ctx, key, b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != "" {
		t.Errorf("an update of the object wrote status %+v", b.Status)
	}
	b.Status = raftv1.RaftBackupStatus{Phase: raftv1.BackupSucceeded, Key: "ns/demo/b.snap", Index: 42}
	if err := s.Client.Status().Update(ctx, b); err != nil {
		t.Fatalf("status update: %v", err)
	}
	b.Status.Phase = "Done"
	checkRefusal(t, s.Client.Status().Update(ctx, b), "status.phase")
}

func TestBackupSpecOfACluster(t *testing.T) {
	s := server(t)
	backup := func(extra string) string {
		return "backup: {storage: {volume: {claimName: backups}}" + extra + "}"
	}
	for _, tc := range []struct {
		name, spec string
		want       string // "" accepts
	}{
		{"storage alone", backup(""), ""},
		{"five fields", backup(`, schedule: "0 3 * * *"`), ""},
		{"steps, ranges and lists", backup(`, schedule: "*/15 1-5 * JAN,JUL MON-FRI"`), ""},
		{"a descriptor", backup(`, schedule: "@daily"`), ""},
		{"every 90 minutes", backup(`, schedule: "@every 1h30m"`), ""},
		{"in a time zone", backup(`, schedule: "CRON_TZ=Europe/Paris 0 3 * * *"`), ""},
		{"six fields", backup(`, schedule: "0 0 3 * * *"`), "spec.backup.schedule"},
		{"four fields", backup(`, schedule: "0 3 * *"`), "spec.backup.schedule"},
		{"words", backup(`, schedule: "every night"`), "spec.backup.schedule"},
		{"every what", backup(`, schedule: "@every day"`), "spec.backup.schedule"},
		{"an unknown descriptor", backup(`, schedule: "@fortnightly"`), "spec.backup.schedule"},
		{"keep none", backup(", retention: {keep: 0}"), "spec.backup.retention.keep"},
		{"no storage", "backup: {schedule: \"@daily\"}", "spec.backup.storage"},
		{"two storages", "backup: {storage: {volume: {claimName: b}, s3: {endpoint: \"https://s3.example\", bucket: backups, credentialsSecret: {name: c}}}}", "set exactly one of s3 and volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := s.Namespace(t)
			checkRefusal(t, s.Client.Create(t.Context(), raftCluster(t, ns, tc.spec)), tc.want)
		})
	}
}

func TestBackupRetentionDefaults(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	if err := s.Client.Create(t.Context(), raftCluster(t, ns, "backup: {storage: {volume: {claimName: backups}}, schedule: \"@daily\"}")); err != nil {
		t.Fatal(err)
	}
	r := s.get(t, ns).Spec.Backup.Retention
	if r.Keep == nil || *r.Keep != 7 || r.MaxAge != nil {
		t.Errorf("retention %+v, want keep 7 and no age limit", r)
	}
}
