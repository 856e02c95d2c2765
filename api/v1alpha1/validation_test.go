package v1alpha1_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/test/kubeenv"
)

// raftCluster builds a RaftCluster named demo from the YAML of its spec, as a
// user would write it (so a test can send what the Go types cannot express:
// a bad enum, a string where a number goes, a negative quantity).
func raftCluster(t *testing.T, ns, spec string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": raftv1.GroupVersion.String(),
		"kind":       "RaftCluster",
		"metadata":   map[string]any{"name": "demo", "namespace": ns},
	}}
	if spec != "" {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(spec), &m); err != nil {
			t.Fatalf("bad spec YAML in test: %v\n%s", err, spec)
		}
		u.Object["spec"] = m
	}
	return u
}

// get reads the cluster demo of namespace ns back.
func (s apiServer) get(t *testing.T, ns string) *raftv1.RaftCluster {
	t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := s.Client.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "demo"}, rc); err != nil {
		t.Fatalf("get RaftCluster %s/demo: %v", ns, err)
	}
	return rc
}

func int32p(v int32) *int32 { return &v }

// defaultSpec is the spec of a RaftCluster created with an empty spec.
func defaultSpec() raftv1.RaftClusterSpec {
	return raftv1.RaftClusterSpec{
		Replicas: int32p(3),
		Storage:  raftv1.StorageSpec{Size: resource.MustParse("1Gi")},
		Raft: raftv1.RaftSettings{
			TickInterval:    metav1.Duration{Duration: 100 * time.Millisecond},
			ElectionTicks:   10,
			HeartbeatTicks:  1,
			SnapshotEntries: 10000,
		},
		PersistentVolumeClaimRetentionPolicy: raftv1.PersistentVolumeClaimRetentionPolicy{
			WhenScaled:  raftv1.RetentionDelete,
			WhenDeleted: raftv1.RetentionRetain,
		},
		Bootstrap:     raftv1.BootstrapAdopt,
		TLS:           raftv1.TLSSpec{Enabled: new(true), CertificateLifetime: metav1.Duration{Duration: 90 * 24 * time.Hour}},
		NetworkPolicy: raftv1.NetworkPolicySpec{Enabled: new(true)},
	}
}

func TestCreateAcceptsGoodSpecsAndFillsDefaults(t *testing.T) {
	s := server(t)
	tests := []struct {
		name string
		spec string
		// want changes defaultSpec() into the spec expected back.
		want func(*raftv1.RaftClusterSpec)
	}{
		{name: "no spec at all gets every default", spec: "", want: func(*raftv1.RaftClusterSpec) {}},
		{name: "empty spec gets every default", spec: "{}", want: func(*raftv1.RaftClusterSpec) {}},
		{name: "one member", spec: "replicas: 1", want: func(w *raftv1.RaftClusterSpec) { w.Replicas = int32p(1) }},
		{name: "nine members", spec: "replicas: 9", want: func(w *raftv1.RaftClusterSpec) { w.Replicas = int32p(9) }},
		{name: "a fresh start", spec: "bootstrap: Fresh", want: func(w *raftv1.RaftClusterSpec) { w.Bootstrap = raftv1.BootstrapFresh }},
		{
			name: "storage given partly keeps the other defaults",
			spec: "storage: {storageClassName: fast}",
			want: func(w *raftv1.RaftClusterSpec) { w.Storage.StorageClassName = new("fast") },
		},
		{
			name: "size as a plain number of bytes",
			spec: "storage: {size: 2147483648}",
			want: func(w *raftv1.RaftClusterSpec) { w.Storage.Size = resource.MustParse("2Gi") },
		},
		{
			name: "raft settings given partly keep the other defaults",
			spec: "raft: {tickInterval: 1m30s, snapshotEntries: 1, snapshotBytes: 1Mi}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.Raft.TickInterval.Duration = 90 * time.Second
				w.Raft.SnapshotEntries = 1
				w.Raft.SnapshotBytes = new(resource.MustParse("1Mi"))
			},
		},
		{
			name: "shortest tick and an election of exactly 3 heartbeats",
			spec: "raft: {tickInterval: 1ms, electionTicks: 6, heartbeatTicks: 2}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.Raft.TickInterval.Duration = time.Millisecond
				w.Raft.ElectionTicks = 6
				w.Raft.HeartbeatTicks = 2
			},
		},
		{
			name: "retention given partly",
			spec: "persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.PersistentVolumeClaimRetentionPolicy.WhenDeleted = raftv1.RetentionDelete
			},
		},
		{
			name: "plaintext, no network policy",
			spec: "tls: {enabled: false}\nnetworkPolicy: {enabled: false}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.TLS.Enabled = new(false)
				w.NetworkPolicy.Enabled = new(false)
			},
		},
		{
			name: "a cert-manager issuer",
			spec: "tls: {issuerRef: {name: ca}}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.TLS.IssuerRef = &raftv1.IssuerReference{Name: "ca", Kind: "Issuer", Group: "cert-manager.io"}
			},
		},
		{
			name: "pod overrides get the soft anti-affinity",
			spec: "pod: {labels: {team: a}}",
			want: func(w *raftv1.RaftClusterSpec) {
				w.Pod.Labels = map[string]string{"team": "a"}
				w.Pod.AntiAffinity = raftv1.AntiAffinityPreferred
			},
		},
		{
			name: "image and pull policy",
			spec: "image: example.com/raftnode:v1\nimagePullPolicy: IfNotPresent",
			want: func(w *raftv1.RaftClusterSpec) {
				w.Image = "example.com/raftnode:v1"
				w.ImagePullPolicy = "IfNotPresent"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := s.Namespace(t)
			if err := s.Client.Create(t.Context(), raftCluster(t, ns, tt.spec)); err != nil {
				t.Fatalf("create refused: %v", err)
			}
			want := defaultSpec()
			tt.want(&want)
			if got := s.get(t, ns).Spec; !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("spec read back:\n%s\nwant:\n%s", mustJSON(t, got), mustJSON(t, want))
			}
		})
	}
}

// TestTypedClientGetsDefaults: a RaftCluster built from the Go types with
// most fields zero (as the operator's tests and tools will build them) sends
// no zero values that would defeat the defaults: the omitzero tags at work.
func TestTypedClientGetsDefaults(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec:       raftv1.RaftClusterSpec{Raft: raftv1.RaftSettings{ElectionTicks: 20}},
	}
	if err := s.Client.Create(t.Context(), rc); err != nil {
		t.Fatalf("create refused: %v", err)
	}
	want := defaultSpec()
	want.Raft.ElectionTicks = 20
	if got := s.get(t, ns).Spec; !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("spec read back:\n%s\nwant:\n%s", mustJSON(t, got), mustJSON(t, want))
	}
}

// fullSpec sets every field of the spec to a value other than its default.
const fullSpec = `
replicas: 5
image: example.com/raftnode:v2
imagePullPolicy: Always
resources:
  requests: {cpu: 500m, memory: 256Mi}
  limits: {memory: 512Mi}
storage:
  size: 10Gi
  storageClassName: fast-ssd
pod:
  labels: {team: storage}
  annotations: {example.com/owner: storage-team}
  nodeSelector: {disktype: ssd}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels: {raftkube.io/cluster: demo}
  tolerations:
  - {key: dedicated, operator: Equal, value: raft, effect: NoSchedule}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {raftkube.io/cluster: demo}
  securityContext: {runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000}
  priorityClassName: raft-critical
  terminationGracePeriodSeconds: 20
  antiAffinity: Required
raft:
  tickInterval: 50ms
  electionTicks: 20
  heartbeatTicks: 2
  snapshotEntries: 500
  snapshotBytes: 32Mi
persistentVolumeClaimRetentionPolicy:
  whenScaled: Retain
  whenDeleted: Delete
bootstrap: Fresh
tls:
  enabled: false
  certificateLifetime: 720h0m0s
networkPolicy:
  enabled: false
  allowedClients:
  - namespaceSelector:
      matchLabels: {team: apps}
`

// TestFullSpecRoundTrips: a spec that sets every field comes back as sent, so
// no field is pruned by a schema that forgot it, and the typed client reads
// every field.
func TestFullSpecRoundTrips(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	sent := raftCluster(t, ns, fullSpec)
	if err := s.Client.Create(t.Context(), sent); err != nil {
		t.Fatalf("create refused: %v", err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(raftv1.GroupVersion.WithKind("RaftCluster"))
	if err := s.Client.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "demo"}, u); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got, want := mustJSON(t, u.Object["spec"]), mustJSON(t, sent.Object["spec"]); got != want {
		t.Errorf("spec read back:\n%s\nwant as sent:\n%s", got, want)
	}

	typed := s.get(t, ns).Spec
	if typed.Pod.Affinity == nil || typed.Pod.Affinity.PodAntiAffinity == nil || typed.Pod.SecurityContext == nil ||
		*typed.Pod.TerminationGracePeriodSeconds != 20 || typed.Raft.TickInterval.Duration != 50*time.Millisecond ||
		typed.Storage.Size.Cmp(resource.MustParse("10Gi")) != 0 || typed.Resources.Requests.Cpu().MilliValue() != 500 {
		t.Errorf("typed spec lost fields: %s", mustJSON(t, typed))
	}
}

// TestSampleIsValid: config/samples' RaftCluster is accepted and is the
// 3-member cluster demo it says it is.
func TestSampleIsValid(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	b, err := os.ReadFile(filepath.Join(kubeenv.RepoRoot(), "config", "samples", "raftkube_v1alpha1_raftcluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatalf("parse the sample: %v", err)
	}
	u.SetNamespace(ns)
	if err := s.Client.Create(t.Context(), u); err != nil {
		t.Fatalf("the sample is refused: %v", err)
	}
	if got := s.get(t, ns); *got.Spec.Replicas != 3 {
		t.Errorf("sample has %d replicas, want 3", *got.Spec.Replicas)
	}
}

// TestBackupSamplesAreValid: the backup samples (a cluster with scheduled
// backups and its Secret, a RaftBackup, a restored cluster) are accepted.
func TestBackupSamplesAreValid(t *testing.T) {
	s := server(t)
	ns := s.Namespace(t)
	for _, name := range []string{"raftkube_v1alpha1_raftcluster_backup.yaml", "raftkube_v1alpha1_raftbackup.yaml", "raftkube_v1alpha1_raftcluster_restore.yaml"} {
		b, err := os.ReadFile(filepath.Join(kubeenv.RepoRoot(), "config", "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		docs := strings.Split(string(b), "\n---\n")
		for _, doc := range docs {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("parse %s: %v", name, err)
			}
			u.SetNamespace(ns)
			if err := s.Client.Create(t.Context(), u); err != nil {
				t.Errorf("%s: %s %s is refused: %v", name, u.GetKind(), u.GetName(), err)
			}
		}
	}
}

func TestCreateRejectsBadSpecs(t *testing.T) {
	s := server(t)
	tests := []struct {
		name string
		spec string
		// want are substrings of the error the API server returns.
		want []string
	}{
		{name: "no members", spec: "replicas: 0", want: []string{"spec.replicas", "greater than or equal to 1"}},
		{name: "ten members", spec: "replicas: 10", want: []string{"spec.replicas", "less than or equal to 9"}},
		{name: "negative members", spec: "replicas: -3", want: []string{"spec.replicas", "greater than or equal to 1"}},
		{name: "unknown bootstrap policy", spec: "bootstrap: Wipe", want: []string{"spec.bootstrap", `supported values: "Adopt", "Fresh"`}},
		{name: "unknown anti-affinity", spec: "pod: {antiAffinity: Always}", want: []string{"spec.pod.antiAffinity", `supported values: "Preferred", "Required", "None"`}},
		{name: "issuer without TLS", spec: "tls: {enabled: false, issuerRef: {name: ca}}", want: []string{"tls.issuerRef needs TLS enabled"}},
		{name: "issuer of an unknown kind", spec: "tls: {issuerRef: {name: ca, kind: Vault}}", want: []string{"spec.tls.issuerRef.kind", `supported values: "Issuer", "ClusterIssuer"`}},
		{name: "snapshots every kilobyte", spec: "raft: {snapshotBytes: 1Ki}", want: []string{"snapshotBytes must be at least 1Mi"}},
		{name: "certificates of a minute", spec: "tls: {certificateLifetime: 1m}", want: []string{"certificateLifetime must be at least 1h"}},
		{
			name: "election timeout of one heartbeat",
			spec: "raft: {electionTicks: 1, heartbeatTicks: 1}",
			want: []string{"spec.raft", "electionTicks must be at least 3 times heartbeatTicks", "several heartbeats"},
		},
		{
			name: "election timeout below 3 heartbeats with a default heartbeat",
			spec: "raft: {electionTicks: 2}",
			want: []string{"electionTicks must be at least 3 times heartbeatTicks"},
		},
		{
			name: "default election timeout with too long a heartbeat",
			spec: "raft: {heartbeatTicks: 4}",
			want: []string{"electionTicks must be at least 3 times heartbeatTicks"},
		},
		{name: "zero heartbeat", spec: "raft: {heartbeatTicks: 0}", want: []string{"spec.raft.heartbeatTicks", "greater than or equal to 1"}},
		{name: "zero election ticks", spec: "raft: {electionTicks: 0}", want: []string{"spec.raft.electionTicks", "greater than or equal to 1"}},
		{name: "zero snapshot entries", spec: "raft: {snapshotEntries: 0}", want: []string{"spec.raft.snapshotEntries", "greater than or equal to 1"}},
		{name: "negative snapshot entries", spec: "raft: {snapshotEntries: -5}", want: []string{"spec.raft.snapshotEntries", "greater than or equal to 1"}},
		{name: "zero tick", spec: "raft: {tickInterval: 0s}", want: []string{"spec.raft.tickInterval", "tickInterval must be at least 1ms"}},
		{name: "sub-millisecond tick", spec: "raft: {tickInterval: 500us}", want: []string{"tickInterval must be at least 1ms"}},
		{name: "tick without a unit", spec: "raft: {tickInterval: \"100\"}", want: []string{"spec.raft.tickInterval", "should match"}},
		{name: "tick that is not a duration", spec: "raft: {tickInterval: fast}", want: []string{"spec.raft.tickInterval", "should match"}},
		{name: "zero size", spec: "storage: {size: \"0\"}", want: []string{"spec.storage.size", "size must be greater than zero"}},
		{name: "negative size", spec: "storage: {size: -1Gi}", want: []string{"size must be greater than zero"}},
		{name: "size that is not a quantity", spec: "storage: {size: lots}", want: []string{"spec.storage.size", "should match"}},
		{name: "unknown pull policy", spec: "imagePullPolicy: Sometimes", want: []string{"spec.imagePullPolicy", "Unsupported value", `"IfNotPresent"`}},
		{
			name: "unknown scale-down retention",
			spec: "persistentVolumeClaimRetentionPolicy: {whenScaled: Keep}",
			want: []string{"spec.persistentVolumeClaimRetentionPolicy.whenScaled", "Unsupported value", `"Retain"`},
		},
		{
			name: "unknown deletion retention",
			spec: "persistentVolumeClaimRetentionPolicy: {whenDeleted: delete}",
			want: []string{"spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "Unsupported value"},
		},
		{
			name: "pod label the operator selects by",
			spec: "pod: {labels: {team: a, raftkube.io/cluster: other}}",
			want: []string{"spec.pod.labels", "the operator selects its pods by them"},
		},
		{
			name: "instance label",
			spec: "pod: {labels: {app.kubernetes.io/instance: x}}",
			want: []string{"the operator selects its pods by them"},
		},
		{
			name: "negative grace period",
			spec: "pod: {terminationGracePeriodSeconds: -1}",
			want: []string{"spec.pod.terminationGracePeriodSeconds", "greater than or equal to 0"},
		},
		{name: "replicas as a string", spec: `replicas: "3"`, want: []string{"spec.replicas", "must be of type integer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := s.Namespace(t)
			err := s.Client.Create(t.Context(), raftCluster(t, ns, tt.spec))
			if err == nil {
				t.Fatalf("create accepted, want refused with %q; stored spec: %s", tt.want, mustJSON(t, s.get(t, ns).Spec))
			}
			t.Logf("refused: %v", err)
			if !apierrors.IsInvalid(err) {
				t.Errorf("error is not Invalid (422): %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestNames: names the operator cannot build objects from are refused when
// the cluster is created, not discovered when it never starts.
func TestNames(t *testing.T) {
	s := server(t)
	for _, tc := range []struct {
		name string
		want string // "" accepts
	}{
		{"demo", ""},
		{"a" + strings.Repeat("b", 51), ""}, // 52, the longest
		{"a" + strings.Repeat("b", 52), "at most 52 characters"},
		{"a" + strings.Repeat("b", 58), "at most 52 characters"},
		{"my.cluster", "DNS-1035 label"},
		{"9lives", "DNS-1035 label"},
		{"ends-", "DNS-1035 label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := raftCluster(t, s.Namespace(t), "")
			u.SetName(tc.name)
			err := s.Client.Create(t.Context(), u)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("create %q: %v", tc.name, err)
			case tc.want != "" && err == nil:
				t.Fatalf("create %q accepted, want refused with %q", tc.name, tc.want)
			case tc.want != "" && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("create %q: %v, want Invalid with %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestUpdateRules(t *testing.T) {
	s := server(t)
	tests := []struct {
		name   string
		create string
		// patch is a JSON merge patch of the object (null removes a field).
		patch string
		// want is a substring of the error; empty means the update is accepted.
		want string
		// check, if set, looks at the object after an accepted update.
		check func(*testing.T, *raftv1.RaftCluster)
	}{
		{
			name:   "storage class changed",
			create: "storage: {storageClassName: fast}",
			patch:  `{"spec":{"storage":{"storageClassName":"slow"}}}`,
			want:   "storageClassName cannot be set, changed or removed after the cluster is created",
		},
		{
			name:   "storage class set when it was unset",
			create: "{}",
			patch:  `{"spec":{"storage":{"storageClassName":"fast"}}}`,
			want:   "storageClassName cannot be set, changed or removed",
		},
		{
			name:   "storage class removed",
			create: "storage: {storageClassName: fast}",
			patch:  `{"spec":{"storage":{"storageClassName":null}}}`,
			want:   "storageClassName cannot be set, changed or removed",
		},
		{
			name:   "TLS turned off on an existing cluster",
			create: "{}",
			patch:  `{"spec":{"tls":{"enabled":false}}}`,
			want:   "tls.enabled cannot change on an existing cluster",
		},
		{
			name:   "TLS turned on for a plaintext cluster",
			create: "tls: {enabled: false}",
			patch:  `{"spec":{"tls":{"enabled":true}}}`,
			want:   "tls.enabled cannot change on an existing cluster",
		},
		{
			name:   "issuer set on an existing cluster",
			create: "{}",
			patch:  `{"spec":{"tls":{"issuerRef":{"name":"ca"}}}}`,
			want:   "tls.issuerRef cannot be set, changed or removed on an existing cluster",
		},
		{
			name:   "issuer changed",
			create: "tls: {issuerRef: {name: ca}}",
			patch:  `{"spec":{"tls":{"issuerRef":{"name":"other"}}}}`,
			want:   "tls.issuerRef cannot be set, changed or removed on an existing cluster",
		},
		{
			name:   "issuer removed",
			create: "tls: {issuerRef: {name: ca}}",
			patch:  `{"spec":{"tls":{"issuerRef":null}}}`,
			want:   "tls.issuerRef cannot be set, changed or removed on an existing cluster",
		},
		{
			name:   "certificate lifetime changed",
			create: "{}",
			patch:  `{"spec":{"tls":{"certificateLifetime":"720h"}}}`,
		},
		{
			name:   "storage class kept while the size grows",
			create: "storage: {storageClassName: fast, size: 1Gi}",
			patch:  `{"spec":{"storage":{"storageClassName":"fast","size":"2Gi"}}}`,
			check: func(t *testing.T, rc *raftv1.RaftCluster) {
				if rc.Spec.Storage.Size.Cmp(resource.MustParse("2Gi")) != 0 || *rc.Spec.Storage.StorageClassName != "fast" {
					t.Errorf("storage = %s", mustJSON(t, rc.Spec.Storage))
				}
			},
		},
		{
			// A size increase the storage class cannot apply must be
			// possible to take back; the operator never shrinks a claim.
			name:   "size decreased",
			create: "storage: {size: 2Gi}",
			patch:  `{"spec":{"storage":{"size":"1Gi"}}}`,
			check: func(t *testing.T, rc *raftv1.RaftCluster) {
				if rc.Spec.Storage.Size.Cmp(resource.MustParse("1Gi")) != 0 {
					t.Errorf("size %s, want 1Gi", rc.Spec.Storage.Size.String())
				}
			},
		},
		{
			name:   "size rewritten in other units, same bytes",
			create: "storage: {size: 1Gi}",
			patch:  `{"spec":{"storage":{"size":"1024Mi"}}}`,
		},
		{
			name:   "size increased",
			create: "storage: {size: 1Gi}",
			patch:  `{"spec":{"storage":{"size":"5Gi"}}}`,
		},
		{
			name:   "replicas changed",
			create: "replicas: 3",
			patch:  `{"spec":{"replicas":5}}`,
			check: func(t *testing.T, rc *raftv1.RaftCluster) {
				if *rc.Spec.Replicas != 5 || rc.Generation != 2 {
					t.Errorf("replicas %d generation %d, want 5 and 2", *rc.Spec.Replicas, rc.Generation)
				}
			},
		},
		{
			name:   "replicas removed returns to the default",
			create: "replicas: 5",
			patch:  `{"spec":{"replicas":null}}`,
			check: func(t *testing.T, rc *raftv1.RaftCluster) {
				if *rc.Spec.Replicas != 3 {
					t.Errorf("replicas %d, want the default 3", *rc.Spec.Replicas)
				}
			},
		},
		{
			name:   "replicas above the maximum",
			create: "replicas: 3",
			patch:  `{"spec":{"replicas":10}}`,
			want:   "less than or equal to 9",
		},
		{
			name:   "raft tuning changed",
			create: "{}",
			patch:  `{"spec":{"raft":{"tickInterval":"200ms","electionTicks":15,"heartbeatTicks":5}}}`,
		},
		{
			name:   "raft tuning changed to an election below 3 heartbeats",
			create: "{}",
			patch:  `{"spec":{"raft":{"heartbeatTicks":5}}}`,
			want:   "electionTicks must be at least 3 times heartbeatTicks",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := s.Namespace(t)
			if err := s.Client.Create(t.Context(), raftCluster(t, ns, tt.create)); err != nil {
				t.Fatalf("create refused: %v", err)
			}
			before := s.get(t, ns)
			rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"}}
			err := s.Client.Patch(t.Context(), rc, client.RawPatch(types.MergePatchType, []byte(tt.patch)))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("update refused: %v", err)
				}
				if tt.check != nil {
					tt.check(t, s.get(t, ns))
				}
				return
			}
			if err == nil {
				t.Fatalf("update accepted, want refused with %q; spec now %s", tt.want, mustJSON(t, s.get(t, ns).Spec))
			}
			t.Logf("refused: %v", err)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant Invalid with %q", err, tt.want)
			}
			if after := s.get(t, ns); !equality.Semantic.DeepEqual(after.Spec, before.Spec) {
				t.Errorf("a refused update changed the spec: %s", mustJSON(t, after.Spec))
			}
		})
	}
}

func TestStatusSubresourceIsSeparateFromSpec(t *testing.T) {
	s := server(t)
	ctx := t.Context()
	ns := s.Namespace(t)
	if err := s.Client.Create(ctx, raftCluster(t, ns, "replicas: 3")); err != nil {
		t.Fatal(err)
	}

	// A status update carries a changed spec too: only the status lands.
	rc := s.get(t, ns)
	rc.Spec.Replicas = int32p(7)
	rc.Status = raftv1.RaftClusterStatus{
		ObservedGeneration: 1,
		Replicas:           3,
		ReadyReplicas:      3,
		Selector:           "raftkube.io/cluster=demo",
		ClusterID:          strconv.FormatUint(0x1d2c3b4a59687f0e, 16),
		Leader:             "demo-0",
		Phase:              raftv1.PhaseAvailable,
		Members: []raftv1.MemberStatus{
			{Name: "demo-0", ID: strconv.FormatUint(math.MaxUint64, 16), Role: raftv1.RoleLeader, Ready: true, MatchIndex: 42},
			{Name: "demo-1", ID: "1", Role: raftv1.RoleFollower, Ready: true, MatchIndex: 42},
			{Name: "demo-2", ID: "a0", ReplacesID: "b1", Role: raftv1.RoleLearner, MatchIndex: 7},
		},
	}
	rc.Status.SetCondition(metav1.Condition{Type: raftv1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: raftv1.ReasonReconciled, Message: "3 of 3 voters ready"}, 1)
	if err := s.Client.Status().Update(ctx, rc); err != nil {
		t.Fatalf("status update refused: %v", err)
	}
	got := s.get(t, ns)
	if *got.Spec.Replicas != 3 || got.Generation != 1 {
		t.Errorf("status update changed the spec: replicas %d generation %d, want 3 and 1", *got.Spec.Replicas, got.Generation)
	}
	if got.Status.Leader != "demo-0" || len(got.Status.Members) != 3 || got.Status.Members[0].ID != "ffffffffffffffff" ||
		got.Status.Condition(raftv1.ConditionAvailable) == nil {
		t.Errorf("status not stored: %s", mustJSON(t, got.Status))
	}

	// A spec update carries a changed status too: only the spec lands.
	got.Spec.Replicas = int32p(5)
	got.Status.Leader = "demo-9"
	if err := s.Client.Update(ctx, got); err != nil {
		t.Fatalf("spec update refused: %v", err)
	}
	got = s.get(t, ns)
	if *got.Spec.Replicas != 5 || got.Generation != 2 || got.Status.Leader != "demo-0" {
		t.Errorf("after a spec update: replicas %d generation %d leader %q, want 5, 2, demo-0",
			*got.Spec.Replicas, got.Generation, got.Status.Leader)
	}

	// The status has a schema too.
	bad := []struct {
		name   string
		mutate func(*raftv1.RaftClusterStatus)
		want   string
	}{
		{"unknown phase", func(st *raftv1.RaftClusterStatus) { st.Phase = "Broken" }, "status.phase"},
		{"unknown role", func(st *raftv1.RaftClusterStatus) { st.Members[1].Role = "Boss" }, "status.members[1].role"},
		{"upper-case member id", func(st *raftv1.RaftClusterStatus) { st.Members[1].ID = "ABC" }, "status.members[1].id"},
		{"member id longer than a uint64", func(st *raftv1.RaftClusterStatus) { st.Members[1].ID = "10000000000000000" }, "status.members[1].id"},
		{"decimal-looking cluster id with a sign", func(st *raftv1.RaftClusterStatus) { st.ClusterID = "-12" }, "status.clusterID"},
		{"two entries for one pod", func(st *raftv1.RaftClusterStatus) { st.Members[2].Name = "demo-1" }, "status.members[2]"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			rc := s.get(t, ns)
			tt.mutate(&rc.Status)
			err := s.Client.Status().Update(t.Context(), rc)
			if err == nil {
				t.Fatalf("status update accepted, want refused at %s", tt.want)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant Invalid at %s", err, tt.want)
			}
		})
	}

	// Every phase the operator sets is in the schema's enum.
	for _, phase := range []raftv1.ClusterPhase{raftv1.PhasePending, raftv1.PhaseBootstrapping, raftv1.PhaseAvailable,
		raftv1.PhaseScaling, raftv1.PhaseUpgrading, raftv1.PhaseDegraded} {
		rc := s.get(t, ns)
		rc.Status.Phase = phase
		if err := s.Client.Status().Update(ctx, rc); err != nil {
			t.Errorf("phase %s refused: %v", phase, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}
