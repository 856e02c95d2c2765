package controllers

import (
	"maps"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

var testSettings = Settings{NodeImage: "raftnode:default", ClusterDomain: "cluster.local"}

// cluster builds a RaftCluster named demo in namespace ns with the given
// replicas, changed by the options.
func cluster(replicas int32, opts ...func(*raftv1.RaftCluster)) *raftv1.RaftCluster {
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo", Generation: 1},
		Spec:       raftv1.RaftClusterSpec{Replicas: &replicas},
	}
	for _, o := range opts {
		o(rc)
	}
	return rc
}

func envOf(c *corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func TestPodTemplateEnv(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rc        *raftv1.RaftCluster
		wantImage string
		// wantValues are env values that must be set; wantAbsent must not be.
		wantValues map[string]string
		wantAbsent []string
	}{{
		name:      "defaults",
		rc:        cluster(3),
		wantImage: "raftnode:default",
		wantValues: map[string]string{
			"RAFTNODE_NAME":             "$(POD_NAME)",
			"RAFTNODE_DATA_DIR":         "/var/lib/raftnode",
			"RAFTNODE_LISTEN_PEER":      "$(POD_IP):2380",
			"RAFTNODE_LISTEN_CLIENT":    "$(POD_IP):2379",
			"RAFTNODE_LISTEN_HTTP":      "$(POD_IP):8080",
			"RAFTNODE_ADVERTISE_PEER":   "$(POD_NAME).demo-peer.$(POD_NAMESPACE).svc.cluster.local:2380",
			"RAFTNODE_ADVERTISE_CLIENT": "$(POD_NAME).demo-peer.$(POD_NAMESPACE).svc.cluster.local:2379",
		},
		wantAbsent: []string{"RAFTNODE_TICK_INTERVAL", "RAFTNODE_ELECTION_TICKS", "RAFTNODE_HEARTBEAT_TICKS", "RAFTNODE_SNAPSHOT_ENTRIES", "RAFTNODE_SNAPSHOT_BYTES"},
	}, {
		name: "image and raft settings from the spec",
		rc: cluster(3, func(rc *raftv1.RaftCluster) {
			rc.Spec.Image = "raftnode:v2"
			rc.Spec.Raft = raftv1.RaftSettings{TickInterval: metav1.Duration{Duration: 50 * time.Millisecond}, ElectionTicks: 20, HeartbeatTicks: 2, SnapshotEntries: 5000,
				SnapshotBytes: new(resource.MustParse("16Mi"))}
		}),
		wantImage: "raftnode:v2",
		wantValues: map[string]string{
			"RAFTNODE_TICK_INTERVAL":    "50ms",
			"RAFTNODE_ELECTION_TICKS":   "20",
			"RAFTNODE_HEARTBEAT_TICKS":  "2",
			"RAFTNODE_SNAPSHOT_ENTRIES": "5000",
			"RAFTNODE_SNAPSHOT_BYTES":   "16777216",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(tc.rc, testSettings)
			if n := len(tmpl.Spec.Containers); n != 1 {
				t.Fatalf("%d containers, want 1", n)
			}
			c := &tmpl.Spec.Containers[0]
			if c.Image != tc.wantImage {
				t.Errorf("image %q, want %q", c.Image, tc.wantImage)
			}
			env := envOf(c)
			for name, want := range tc.wantValues {
				if got := env[name].Value; got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range tc.wantAbsent {
				if e, ok := env[name]; ok {
					t.Errorf("%s set to %q, want unset", name, e.Value)
				}
			}
			for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_IP": "status.podIP"} {
				if got := env[name].ValueFrom; got == nil || got.FieldRef == nil || got.FieldRef.FieldPath != path {
					t.Errorf("%s from %+v, want field %s", name, got, path)
				}
			}
			boot := env["RAFTNODE_BOOTSTRAP_MEMBER"].ValueFrom
			if boot == nil || boot.ConfigMapKeyRef == nil {
				t.Fatalf("RAFTNODE_BOOTSTRAP_MEMBER from %+v, want the bootstrap ConfigMap", boot)
			}
			if r := boot.ConfigMapKeyRef; r.Name != "demo-bootstrap" || r.Key != bootstrapKey || r.Optional == nil || !*r.Optional {
				t.Errorf("RAFTNODE_BOOTSTRAP_MEMBER from %+v, want optional key %s of demo-bootstrap", r, bootstrapKey)
			}
		})
	}
}

func TestPodTemplateContainer(t *testing.T) {
	tmpl := podTemplate(cluster(3), testSettings)
	c := tmpl.Spec.Containers[0]
	wantPorts := []corev1.ContainerPort{
		{Name: "peer", ContainerPort: 2380, Protocol: corev1.ProtocolTCP},
		{Name: "client", ContainerPort: 2379, Protocol: corev1.ProtocolTCP},
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
	}
	if !reflect.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", c.Ports, wantPorts)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe %+v, want an HTTP GET", p.name, p.probe)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port != intstr.FromString("http") {
			t.Errorf("%s probe GET %s on %v, want %s on the http port", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	if want := []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/raftnode"}, {Name: "tls", MountPath: "/etc/raftnode/tls", ReadOnly: true}}; !reflect.DeepEqual(c.VolumeMounts, want) {
		t.Errorf("volume mounts %+v, want %+v", c.VolumeMounts, want)
	}
	if g := tmpl.Spec.TerminationGracePeriodSeconds; g == nil || *g != defaultGracePeriod {
		t.Errorf("grace period %v, want the default %d", g, defaultGracePeriod)
	}
	if !isSubset(selectorLabels(cluster(3)), tmpl.Labels) {
		t.Errorf("template labels %v lack the selector labels", tmpl.Labels)
	}
}

func isSubset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

// TestPodTemplateSecurity: with no security context in the spec, the pods
// meet the "restricted" Pod Security Standard and can write their volume as
// the image's non-root user; one given in the spec replaces the pod-level
// default, never the container's.
func TestPodTemplateSecurity(t *testing.T) {
	s := podTemplate(cluster(3), testSettings).Spec
	p := s.SecurityContext
	if p == nil || p.RunAsNonRoot == nil || !*p.RunAsNonRoot || p.RunAsUser == nil || *p.RunAsUser != 65532 ||
		p.RunAsGroup == nil || *p.RunAsGroup != 65532 || p.FSGroup == nil || *p.FSGroup != 65532 ||
		p.SeccompProfile == nil || p.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("default pod security context %+v, want non-root 65532, fsGroup 65532, seccomp RuntimeDefault", p)
	}
	if a := s.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automountServiceAccountToken %v, want false: raftnode never calls the Kubernetes API", a)
	}
	c := s.Containers[0].SecurityContext
	if c == nil || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem || c.AllowPrivilegeEscalation == nil ||
		*c.AllowPrivilegeEscalation || c.Capabilities == nil || !reflect.DeepEqual(c.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v, want a read-only root, no escalation, ALL dropped", c)
	}
	own := &corev1.PodSecurityContext{SupplementalGroups: []int64{7}}
	s = podTemplate(cluster(3, func(rc *raftv1.RaftCluster) { rc.Spec.Pod.SecurityContext = own }), testSettings).Spec
	if s.SecurityContext != own || s.Containers[0].SecurityContext == nil {
		t.Errorf("with the spec's security context: pod %+v, container %+v", s.SecurityContext, s.Containers[0].SecurityContext)
	}
}

func TestPodTemplateTLS(t *testing.T) {
	s := podTemplate(cluster(3), testSettings).Spec
	if len(s.Volumes) != 1 || s.Volumes[0].Secret == nil || s.Volumes[0].Secret.SecretName != "demo-member-tls" {
		t.Fatalf("volumes %+v, want the member certificate Secret demo-member-tls", s.Volumes)
	}
	if m := s.Volumes[0].Secret.DefaultMode; m == nil || *m != 0o440 {
		t.Errorf("certificate files mode %v, want 0440 (the fsGroup reads them, nobody else)", m)
	}
	env := envOf(&s.Containers[0])
	want := map[string]string{
		"RAFTNODE_PEER_CERT_FILE":            "/etc/raftnode/tls/tls.crt",
		"RAFTNODE_PEER_KEY_FILE":             "/etc/raftnode/tls/tls.key",
		"RAFTNODE_PEER_TRUSTED_CA_FILE":      "/etc/raftnode/tls/ca.crt",
		"RAFTNODE_PEER_ALLOWED_ORGANIZATION": "raftkube:member",
		"RAFTNODE_CLIENT_CERT_FILE":          "/etc/raftnode/tls/tls.crt",
		"RAFTNODE_CLIENT_KEY_FILE":           "/etc/raftnode/tls/tls.key",
		"RAFTNODE_CLIENT_TRUSTED_CA_FILE":    "/etc/raftnode/tls/ca.crt",
		"RAFTNODE_CLIENT_ADMIN_ORGANIZATION": "raftkube:admin",
		"RAFTCTL_CACERT":                     "/etc/raftnode/tls/ca.crt",
		"RAFTCTL_CERT":                       "/etc/raftnode/tls/tls.crt",
		"RAFTCTL_KEY":                        "/etc/raftnode/tls/tls.key",
		"RAFTCTL_TLS_SERVER_NAME":            "demo.ns.svc",
	}
	for k, v := range want {
		if env[k].Value != v {
			t.Errorf("%s = %q, want %q", k, env[k].Value, v)
		}
	}

	plain := podTemplate(cluster(3, func(rc *raftv1.RaftCluster) { rc.Spec.TLS.Enabled = new(false) }), testSettings).Spec
	if len(plain.Volumes) != 0 || len(plain.Containers[0].VolumeMounts) != 1 {
		t.Errorf("plaintext cluster: volumes %+v, mounts %+v, want the data volume only", plain.Volumes, plain.Containers[0].VolumeMounts)
	}
	for k := range want {
		if _, ok := envOf(&plain.Containers[0])[k]; ok {
			t.Errorf("plaintext cluster sets %s", k)
		}
	}
}

func TestPodTemplateAntiAffinity(t *testing.T) {
	withMode := func(m raftv1.AntiAffinityMode) func(*raftv1.RaftCluster) {
		return func(rc *raftv1.RaftCluster) { rc.Spec.Pod.AntiAffinity = m }
	}
	a := podTemplate(cluster(3), testSettings).Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Fatalf("default affinity %+v, want one preferred anti-affinity term", a)
	}
	term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != corev1.LabelHostname || !reflect.DeepEqual(term.LabelSelector.MatchLabels, selectorLabels(cluster(3))) {
		t.Errorf("anti-affinity term %+v, want the cluster's pods per hostname", term)
	}
	a = podTemplate(cluster(3, withMode(raftv1.AntiAffinityRequired)), testSettings).Spec.Affinity
	if a == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("Required: affinity %+v, want one required term", a)
	}
	if a := podTemplate(cluster(3, withMode(raftv1.AntiAffinityNone)), testSettings).Spec.Affinity; a != nil {
		t.Errorf("None: affinity %+v, want none", a)
	}
	node := &corev1.NodeAffinity{}
	a = podTemplate(cluster(3, func(rc *raftv1.RaftCluster) { rc.Spec.Pod.Affinity = &corev1.Affinity{NodeAffinity: node} }), testSettings).Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.PodAntiAffinity == nil {
		t.Errorf("node affinity given: %+v, want it kept and the anti-affinity added", a)
	}
}

func TestPodTemplateOverrides(t *testing.T) {
	grace := int64(90)
	o := raftv1.PodOverrides{
		Labels:                        map[string]string{"team": "storage"},
		Annotations:                   map[string]string{"note": "x"},
		NodeSelector:                  map[string]string{"disk": "ssd"},
		Affinity:                      &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}},
		Tolerations:                   []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}},
		TopologySpreadConstraints:     []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}},
		SecurityContext:               &corev1.PodSecurityContext{FSGroup: &grace},
		PriorityClassName:             "high",
		TerminationGracePeriodSeconds: &grace,
	}
	rc := cluster(3, func(rc *raftv1.RaftCluster) {
		rc.Spec.Pod = o
		rc.Spec.ImagePullPolicy = corev1.PullNever
		rc.Spec.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	})
	tmpl := podTemplate(rc, testSettings)
	s := tmpl.Spec
	if tmpl.Labels["team"] != "storage" || !isSubset(selectorLabels(rc), tmpl.Labels) {
		t.Errorf("labels %v, want team=storage and the selector labels", tmpl.Labels)
	}
	if !reflect.DeepEqual(tmpl.Annotations, o.Annotations) {
		t.Errorf("annotations %v, want %v", tmpl.Annotations, o.Annotations)
	}
	if !reflect.DeepEqual(s.NodeSelector, o.NodeSelector) || s.Affinity != o.Affinity || !reflect.DeepEqual(s.Tolerations, o.Tolerations) ||
		!reflect.DeepEqual(s.TopologySpreadConstraints, o.TopologySpreadConstraints) || s.SecurityContext != o.SecurityContext ||
		s.PriorityClassName != "high" || *s.TerminationGracePeriodSeconds != 90 {
		t.Errorf("pod spec %+v does not carry the overrides %+v", s, o)
	}
	c := s.Containers[0]
	if c.ImagePullPolicy != corev1.PullNever || !reflect.DeepEqual(c.Resources, rc.Spec.Resources) {
		t.Errorf("container pull policy %q, resources %+v; want Never and %+v", c.ImagePullPolicy, c.Resources, rc.Spec.Resources)
	}
	if _, ok := rc.Spec.Pod.Labels[raftv1.LabelCluster]; ok {
		t.Errorf("the spec's labels were changed: %v", rc.Spec.Pod.Labels)
	}
}

func TestMutateStatefulSet(t *testing.T) {
	class := "fast"
	for _, tc := range []struct {
		name              string
		rc                *raftv1.RaftCluster
		wantSize          string
		wantClass         *string
		wantWhenDeleted   appsv1.PersistentVolumeClaimRetentionPolicyType
		wantReplicasAfter int32
	}{{
		name:            "defaults",
		rc:              cluster(3),
		wantSize:        "1Gi",
		wantWhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}, {
		name: "storage and retention from the spec",
		rc: cluster(3, func(rc *raftv1.RaftCluster) {
			rc.Spec.Storage = raftv1.StorageSpec{Size: resource.MustParse("5Gi"), StorageClassName: &class}
			rc.Spec.PersistentVolumeClaimRetentionPolicy = raftv1.PersistentVolumeClaimRetentionPolicy{WhenScaled: raftv1.RetentionRetain, WhenDeleted: raftv1.RetentionDelete}
		}),
		wantSize:        "5Gi",
		wantClass:       &class,
		wantWhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sts := &appsv1.StatefulSet{}
			mutateStatefulSet(tc.rc, sts, testSettings, 1, nil)
			s := sts.Spec
			if s.Replicas == nil || *s.Replicas != 1 {
				t.Errorf("replicas %v on creation, want 1", s.Replicas)
			}
			if s.ServiceName != "demo-peer" || s.PodManagementPolicy != appsv1.ParallelPodManagement ||
				s.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
				t.Errorf("service %q, pod management %q, update strategy %q; want demo-peer, Parallel, OnDelete",
					s.ServiceName, s.PodManagementPolicy, s.UpdateStrategy.Type)
			}
			if s.Selector == nil || !reflect.DeepEqual(s.Selector.MatchLabels, selectorLabels(tc.rc)) {
				t.Errorf("selector %+v, want %v", s.Selector, selectorLabels(tc.rc))
			}
			// WhenScaled is always Retain: the operator deletes a claim only
			// once its member has left the configuration.
			want := &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenDeleted: tc.wantWhenDeleted}
			if !reflect.DeepEqual(s.PersistentVolumeClaimRetentionPolicy, want) {
				t.Errorf("claim retention %+v, want %+v", s.PersistentVolumeClaimRetentionPolicy, want)
			}
			if n := len(s.VolumeClaimTemplates); n != 1 {
				t.Fatalf("%d claim templates, want 1", n)
			}
			ct := s.VolumeClaimTemplates[0]
			if got := ct.Spec.Resources.Requests[corev1.ResourceStorage]; ct.Name != "data" || got.String() != tc.wantSize {
				t.Errorf("claim template %s of %s, want data of %s", ct.Name, got.String(), tc.wantSize)
			}
			if !reflect.DeepEqual(ct.Spec.StorageClassName, tc.wantClass) {
				t.Errorf("storage class %v, want %v", ct.Spec.StorageClassName, tc.wantClass)
			}
			if sts.Annotations[annotationTemplateHash] != templateHash(&s.Template) {
				t.Errorf("template hash annotation %q does not match the template", sts.Annotations[annotationTemplateHash])
			}

			// Once created, replicas and the immutable fields stay.
			sts.CreationTimestamp = metav1.Now()
			sts.Spec.Replicas = ptrTo(int32(3))
			sts.Spec.ServiceName = "kept"
			mutateStatefulSet(tc.rc, sts, testSettings, 0, nil)
			if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != "kept" {
				t.Errorf("an update changed replicas to %d and the service to %q", *sts.Spec.Replicas, sts.Spec.ServiceName)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestTemplateHash(t *testing.T) {
	base := templateHash(ptrTo(podTemplate(cluster(3), testSettings)))
	if again := templateHash(ptrTo(podTemplate(cluster(3), testSettings))); again != base {
		t.Errorf("hash of the same spec changed: %s then %s", base, again)
	}
	withLabels := func(rc *raftv1.RaftCluster) { rc.Spec.Pod.Labels = map[string]string{"a": "1", "b": "2", "c": "3"} }
	if a, b := templateHash(ptrTo(podTemplate(cluster(3, withLabels), testSettings))), templateHash(ptrTo(podTemplate(cluster(3, withLabels), testSettings))); a != b {
		t.Errorf("hash depends on map order: %s, %s", a, b)
	}
	for _, tc := range []struct {
		name   string
		change func(*raftv1.RaftCluster)
		want   bool // whether the hash changes
	}{
		{"replicas", func(rc *raftv1.RaftCluster) { rc.Spec.Replicas = ptrTo(int32(5)) }, false},
		{"image", func(rc *raftv1.RaftCluster) { rc.Spec.Image = "raftnode:v2" }, true},
		{"election ticks", func(rc *raftv1.RaftCluster) { rc.Spec.Raft.ElectionTicks = 30 }, true},
		{"pod labels", withLabels, true},
		{"retention", func(rc *raftv1.RaftCluster) {
			rc.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = raftv1.RetentionRetain
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := templateHash(ptrTo(podTemplate(cluster(3, tc.change), testSettings))) != base
			if got != tc.want {
				t.Errorf("hash changed: %v, want %v", got, tc.want)
			}
		})
	}

	// An update rewrites the template only when its hash changed.
	rc := cluster(3)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()}}
	mutateStatefulSet(rc, sts, testSettings, 0, nil)
	sts.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst // as the API server defaults it
	mutateStatefulSet(rc, sts, testSettings, 0, nil)
	if sts.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("an unchanged spec rewrote the template")
	}
	rc.Spec.Image = "raftnode:v2"
	mutateStatefulSet(rc, sts, testSettings, 0, nil)
	if got := sts.Spec.Template.Spec.Containers[0].Image; got != "raftnode:v2" {
		t.Errorf("image %q after the spec changed, want raftnode:v2", got)
	}
}

func TestServicesBootstrapBudget(t *testing.T) {
	rc := cluster(3)
	peer := &corev1.Service{}
	mutatePeerService(rc, peer)
	if peer.Spec.ClusterIP != corev1.ClusterIPNone || !peer.Spec.PublishNotReadyAddresses {
		t.Errorf("peer Service clusterIP %q, publishNotReadyAddresses %v; want None, true", peer.Spec.ClusterIP, peer.Spec.PublishNotReadyAddresses)
	}
	if !reflect.DeepEqual(peer.Spec.Selector, selectorLabels(rc)) || len(peer.Spec.Ports) != 2 {
		t.Errorf("peer Service selector %v, ports %+v", peer.Spec.Selector, peer.Spec.Ports)
	}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.7"}}
	svc.Labels = map[string]string{"keep": "me"}
	mutateClientService(rc, svc)
	if svc.Spec.ClusterIP != "10.0.0.7" || svc.Spec.PublishNotReadyAddresses || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != clientPort {
		t.Errorf("client Service %+v, want the allocated IP kept, ready members only, the client port", svc.Spec)
	}
	if svc.Labels["keep"] != "me" {
		t.Errorf("labels %v: another's label was dropped", svc.Labels)
	}

	cm := &corev1.ConfigMap{}
	mutateBootstrap(rc, cm, false)
	if got := cm.Data[bootstrapKey]; got != "demo-0" {
		t.Errorf("bootstrap member %q before bootstrap, want demo-0", got)
	}
	mutateBootstrap(rc, cm, true)
	if got, ok := cm.Data[bootstrapKey]; !ok || got != "" {
		t.Errorf("bootstrap member %q (set %v) after bootstrap, want empty", got, ok)
	}

	pdb := &policyv1.PodDisruptionBudget{}
	pdb.Spec.MaxUnavailable = ptrTo(intstr.FromInt32(1))
	mutateBudget(rc, pdb, 2)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("budget minAvailable %v, maxUnavailable %v; want 2, unset", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || !maps.Equal(pdb.Spec.Selector.MatchLabels, selectorLabels(rc)) {
		t.Errorf("budget selector %+v", pdb.Spec.Selector)
	}
}
