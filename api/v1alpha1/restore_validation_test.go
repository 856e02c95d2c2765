package v1alpha1_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

const restoreS3 = `{s3: {endpoint: "https://s3.example", bucket: backups, credentialsSecret: {name: creds}}}`

// spec.restore names one backup: a RaftBackup, or a storage with the key
// of the object in it.
func TestRestoreSpecOnCreate(t *testing.T) {
	s := server(t)
	for _, tc := range []struct {
		name, spec string
		want       string // "" accepts
	}{
		{"a RaftBackup", "restore: {backup: nightly}", ""},
		{"an S3 object", "restore: {storage: " + restoreS3 + ", key: ns/old/a.snap}", ""},
		{"a file on a volume", "restore: {storage: {volume: {claimName: backups}}, key: ns/old/a.snap}", ""},
		{"nothing", "restore: {}", "set exactly one of backup and storage"},
		{"a RaftBackup and a storage", "restore: {backup: nightly, storage: " + restoreS3 + ", key: k}", "set exactly one of backup and storage"},
		{"a storage without a key", "restore: {storage: " + restoreS3 + "}", "key goes with storage"},
		{"a key with a RaftBackup", "restore: {backup: nightly, key: k}", "key goes with storage"},
		{"two storages", "restore: {storage: {volume: {claimName: b}, s3: {endpoint: \"https://s3.example\", bucket: backups, credentialsSecret: {name: c}}}, key: k}",
			"set exactly one of s3 and volume"},
		{"a prefix out of the volume", "restore: {storage: {volume: {claimName: b, prefix: ../x}}, key: k}", "prefix may not contain '..'"},
		{"an endpoint with a path", "restore: {storage: {s3: {endpoint: \"https://s3.example/b\", bucket: backups, credentialsSecret: {name: c}}}, key: k}",
			"spec.restore.storage.s3.endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := s.Namespace(t)
			err := s.Client.Create(t.Context(), raftCluster(t, ns, tc.spec))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("create refused: %v", err)
			case tc.want == "":
				if rc := s.get(t, ns); rc.Spec.Restore == nil {
					t.Error("spec.restore was not stored")
				}
			case err == nil:
				t.Fatalf("create accepted, want refused with %q; stored spec: %s", tc.want, mustJSON(t, s.get(t, ns).Spec))
			case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %v\nwant Invalid with %q", err, tc.want)
			}
		})
	}
}

// spec.restore says what a new cluster starts from: it is fixed at
// creation, while the rest of the spec changes as usual.
func TestRestoreSpecIsImmutable(t *testing.T) {
	s := server(t)
	const fixed = "spec.restore cannot be set, changed or removed on an existing cluster"
	for _, tc := range []struct {
		name, create, patch string
		want                string // "" accepts
	}{
		{"set later", "{}", `{"spec":{"restore":{"backup":"nightly"}}}`, fixed},
		{"another backup", "restore: {backup: nightly}", `{"spec":{"restore":{"backup":"weekly"}}}`, fixed},
		{"another key", "restore: {storage: " + restoreS3 + ", key: a}", `{"spec":{"restore":{"key":"b"}}}`, fixed},
		{"removed", "restore: {backup: nightly}", `{"spec":{"restore":null}}`, fixed},
		{"other fields change", "restore: {backup: nightly}", `{"spec":{"replicas":5}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := s.Namespace(t)
			if err := s.Client.Create(t.Context(), raftCluster(t, ns, tc.create)); err != nil {
				t.Fatalf("create refused: %v", err)
			}
			rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"}}
			err := s.Client.Patch(t.Context(), rc, client.RawPatch(types.MergePatchType, []byte(tc.patch)))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("update refused: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("update accepted, want refused with %q; spec now %s", tc.want, mustJSON(t, s.get(t, ns).Spec))
			case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %v\nwant Invalid with %q", err, tc.want)
			}
		})
	}
}
