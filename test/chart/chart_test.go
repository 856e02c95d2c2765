// Package chart checks the operator's Helm chart (charts/raftkube) and its
// kustomize twin (config/default). It renders them with the pinned helm and
// kubectl in bin/ (make k8s-tools) — a missing tool fails the test with the
// command that builds it, never skips it — and checks what comes out: every
// object decodes strictly, the manager's rules are exactly the ones
// controller-gen generates into config/rbac/role.yaml (cluster-wide, or per
// watched namespace), nothing grants a wildcard, leader election gets its Role
// only when on, `helm uninstall`'s pre-delete hook stops the manager with
// least privilege, a bad value combination fails to render, the chart's CRD
// is the generated one, `helm lint --strict` passes, and a real API server
// (envtest) accepts every object.
package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

const (
	// release and namespace of the renders; the release name contains the
	// chart's, so the objects are named "raftkube" and "raftkube-…".
	release   = "raftkube"
	namespace = "raftkube-system"

	managerRole    = "raftkube-manager"
	leaderElection = "raftkube-leader-election"
	serviceAccount = "raftkube"
	uninstallHook  = "raftkube-uninstall"

	// replicasWithoutElection is the start of the message that refuses
	// replicaCount > 1 without leader election.
	replicasWithoutElection = "replicaCount is 2 but leaderElection.enabled is false"

	metricsAuth   = "raftkube-metrics-auth"
	metricsReader = "raftkube-metrics-reader"
	// metricsCertDir is where the manager reads metrics.certSecret.
	metricsCertDir = "/tmp/k8s-metrics-server/metrics-certs"
)

// repoRoot is the repository's root, found from this file.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var chartDir = filepath.Join(repoRoot, "charts", "raftkube")

// tool returns bin/NAME, failing the test when `make k8s-tools` has not
// built it.
func tool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(repoRoot, "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing from %s: run `make k8s-tools` (or `make test`, which builds it): %v", name, filepath.Dir(path), err)
	}
	return path
}

// run runs bin/NAME with args and returns its stdout; on failure the error
// carries stderr. Helm's caches and config go to a temporary directory.
func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// render runs `helm template` with the --set flags given.
func render(t *testing.T, sets ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return run(t, "helm", args...)
}

// object is one rendered object: its kind, namespace and name, and the typed
// value (nil for kinds client-go does not know, such as ServiceMonitor).
type object struct {
	kind, namespace, name string
	typed                 k8sruntime.Object
	raw                   []byte
}

// strict decodes client-go's kinds and rejects unknown and duplicate fields.
var strict = serializer.NewCodecFactory(clientgoscheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// parse splits a multi-document manifest and decodes each object.
func parse(t *testing.T, manifest []byte) []object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("split the manifest: %v", err)
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("parse %s: %v", doc, err)
		}
		if len(u.Object) == 0 {
			continue // a document of comments only
		}
		o := object{kind: u.GetKind(), namespace: u.GetNamespace(), name: u.GetName(), raw: doc}
		if u.GetObjectKind().GroupVersionKind().Group != "monitoring.coreos.com" {
			typed, _, err := strict.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("decode %s %s strictly: %v", o.kind, o.name, err)
			}
			o.typed = typed
		}
		objs = append(objs, o)
	}
}

// find returns the objects of the kind, in any namespace.
func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// get returns the one object of kind and name in namespace ("" for
// cluster-scoped kinds), or fails.
func get[T k8sruntime.Object](t *testing.T, objs []object, kind, ns, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.kind == kind && o.namespace == ns && o.name == name {
			return o.typed.(T)
		}
	}
	t.Fatalf("no %s %s/%s among %s", kind, ns, name, names(objs))
	panic("unreachable")
}

func names(objs []object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.kind+" "+o.namespace+"/"+o.name)
	}
	return strings.Join(s, ", ")
}

// generatedRules are the rules controller-gen writes to config/rbac/role.yaml.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("parse config/rbac/role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// appVersion is the chart's appVersion, the default tag of both images
// (`make images` tags them with it too).
func appVersion() string {
	b, err := os.ReadFile(filepath.Join(repoRoot, "charts/raftkube/Chart.yaml"))
	if err != nil {
		panic(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil || chart.AppVersion == "" {
		panic(fmt.Sprintf("charts/raftkube/Chart.yaml: no appVersion (%v)", err))
	}
	return chart.AppVersion
}

// valueSets are the value combinations every rendering check runs over.
var valueSets = []struct {
	name string
	sets []string
	// wantArgs are flags the manager must get; wantNoArgs prefixes it must not.
	wantArgs, wantNoArgs []string
	wantFailpoints       string
}{
	{
		name: "defaults",
		wantArgs: []string{"--node-image=ghcr.io/raftkube/raftnode:" + appVersion(), "--cluster-domain=cluster.local", "--operator-namespace=" + namespace, "--leader-elect=true",
			"--leader-election-id=raftkube-operator.raftkube.io", "--leader-election-namespace=" + namespace,
			"--metrics-bind-address=$(POD_IP):8443", "--metrics-secure=true", "--health-probe-bind-address=$(POD_IP):8081",
			"--max-concurrent-reconciles=4", "--log-level=info", "--log-format=json", "--graceful-shutdown-timeout=30s"},
		wantNoArgs: []string{"--watch-namespaces", "--metrics-cert-dir"},
	},
	{
		name:       "metrics over plain HTTP",
		sets:       []string{"metrics.secure=false", "metrics.serviceMonitor.enabled=true"},
		wantArgs:   []string{"--metrics-bind-address=$(POD_IP):8443", "--metrics-secure=false"},
		wantNoArgs: []string{"--metrics-cert-dir"},
	},
	{
		name:     "metrics certificate from a Secret",
		sets:     []string{"metrics.certSecret=raftkube-metrics-cert", "metrics.serviceMonitor.enabled=true", "metrics.port=9443"},
		wantArgs: []string{"--metrics-bind-address=$(POD_IP):9443", "--metrics-secure=true", "--metrics-cert-dir=" + metricsCertDir},
	},
	{
		name:     "watchNamespaces",
		sets:     []string{"watchNamespaces={team-a,team-b}"},
		wantArgs: []string{"--watch-namespaces=team-a,team-b"},
	},
	{
		name:       "leader election off",
		sets:       []string{"leaderElection.enabled=false"},
		wantArgs:   []string{"--leader-elect=false"},
		wantNoArgs: []string{"--leader-election-id", "--leader-election-namespace"},
	},
	{
		name:       "metrics off, all addresses",
		sets:       []string{"metrics.enabled=false", "listenOnPodIP=false"},
		wantArgs:   []string{"--metrics-bind-address=0", "--health-probe-bind-address=:8081"},
		wantNoArgs: []string{"--metrics-secure", "--metrics-cert-dir"},
	},
	{
		name: "two replicas, service monitor, failpoint list",
		sets: []string{"replicaCount=2", "metrics.serviceMonitor.enabled=true", "failpoints={after-AddLearner,after-Promote}",
			"nodeImage=example.com/raftnode:v1", "logLevel=debug", "logFormat=text", "maxConcurrentReconciles=8"},
		wantArgs:       []string{"--leader-elect=true", "--node-image=example.com/raftnode:v1", "--log-level=debug", "--log-format=text", "--max-concurrent-reconciles=8"},
		wantFailpoints: "after-AddLearner,after-Promote",
	},
	{
		name: "uninstall hook off",
		sets: []string{"uninstallHook.enabled=false"},
	},
	{
		// What test/e2e does: `helm upgrade --set failpoints=NAME`.
		name:           "failpoint string",
		sets:           []string{"failpoints=after-AddLearner"},
		wantFailpoints: "after-AddLearner",
	},
}

// TestChartRenders renders every value set and checks that each object
// decodes strictly, nothing grants a wildcard, namespaced objects carry the
// release namespace (or a watched one), and the manager gets the flags and
// environment the values ask for.
func TestChartRenders(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := render(t, vs.sets...)
			if err != nil {
				t.Fatal(err)
			}
			objs := parse(t, out)
			checkNoWildcards(t, objs)
			for _, o := range objs {
				switch o.kind {
				case "ClusterRole", "ClusterRoleBinding":
					if o.namespace != "" {
						t.Errorf("%s %s has namespace %q", o.kind, o.name, o.namespace)
					}
				case "Role", "RoleBinding":
					if o.namespace == "" {
						t.Errorf("%s %s has no namespace", o.kind, o.name)
					}
				default:
					if o.namespace != namespace {
						t.Errorf("%s %s in namespace %q, want %q", o.kind, o.name, o.namespace, namespace)
					}
				}
			}

			dep := get[*appsv1.Deployment](t, objs, "Deployment", namespace, release)
			pod := dep.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want the manager alone", len(pod.Containers))
			}
			c := pod.Containers[0]
			if want := "ghcr.io/raftkube/manager:" + appVersion(); c.Image != want {
				t.Errorf("image %q, want %s (the appVersion, the name `make images` gives)", c.Image, want)
			}
			for _, want := range vs.wantArgs {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %q lack %q", c.Args, want)
				}
			}
			for _, prefix := range vs.wantNoArgs {
				for _, a := range c.Args {
					if strings.HasPrefix(a, prefix) {
						t.Errorf("args %q have %q", c.Args, a)
					}
				}
			}
			if got := envValue(c.Env, "RAFTKUBE_FAILPOINTS"); got != vs.wantFailpoints {
				t.Errorf("RAFTKUBE_FAILPOINTS %q, want %q", got, vs.wantFailpoints)
			}
			if pod.ServiceAccountName != serviceAccount {
				t.Errorf("service account %q, want %q", pod.ServiceAccountName, serviceAccount)
			}
			checkProbes(t, c)
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
				!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("container security context %+v, want read-only root, no privilege escalation, ALL dropped", sc)
			}
			if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod security context %+v, want non-root with the RuntimeDefault seccomp profile", psc)
			}
		})
	}
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// checkProbes: liveness /healthz and readiness /readyz on the port named
// health, which the manager binds.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe %+v, want GET %s on port health", p.what, p.probe, p.path)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" && p.ContainerPort == 8081 }) {
		t.Errorf("ports %+v lack health 8081", c.Ports)
	}
}

// checkNoWildcards fails on a "*" in any rule of any Role or ClusterRole.
func checkNoWildcards(t *testing.T, objs []object) {
	t.Helper()
	for _, o := range objs {
		var rules []rbacv1.PolicyRule
		switch r := o.typed.(type) {
		case *rbacv1.ClusterRole:
			rules = r.Rules
		case *rbacv1.Role:
			rules = r.Rules
		default:
			continue
		}
		for _, rule := range rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
				for _, s := range list {
					if strings.Contains(s, "*") {
						t.Errorf("%s %s/%s grants the wildcard %q: %+v", o.kind, o.namespace, o.name, s, rule)
					}
				}
			}
		}
	}
}

// TestManagerRulesEqualGeneratedRole: by default the manager's ClusterRole
// has exactly config/rbac/role.yaml's rules and is bound to the manager's
// ServiceAccount, and no Role repeats them.
func TestManagerRulesEqualGeneratedRole(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	role := get[*rbacv1.ClusterRole](t, objs, "ClusterRole", "", managerRole)
	if want := generatedRules(t); !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("the chart's ClusterRole rules differ from config/rbac/role.yaml (run `make gen`):\n got %+v\nwant %+v", role.Rules, want)
	}
	binding := get[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", managerRole)
	checkBinding(t, binding.RoleRef, binding.Subjects, "ClusterRole", managerRole)
	var roles []string
	for _, o := range find(objs, "Role") {
		roles = append(roles, o.name)
	}
	slices.Sort(roles)
	if want := []string{leaderElection, uninstallHook}; !slices.Equal(roles, want) {
		t.Errorf("Roles %q, want only %q", roles, want)
	}
}

// checkBinding: the binding grants roleKind roleName to the manager's
// ServiceAccount and to nothing else.
func checkBinding(t *testing.T, ref rbacv1.RoleRef, subjects []rbacv1.Subject, roleKind, roleName string) {
	t.Helper()
	if ref.Kind != roleKind || ref.Name != roleName || ref.APIGroup != rbacv1.GroupName {
		t.Errorf("roleRef %+v, want %s %s", ref, roleKind, roleName)
	}
	want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: serviceAccount, Namespace: namespace}}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("subjects %+v, want %+v", subjects, want)
	}
}

// TestWatchNamespacesUseRoles: with watchNamespaces the manager gets the
// generated rules as a Role and RoleBinding in each watched namespace, and
// nothing cluster-wide.
func TestWatchNamespacesUseRoles(t *testing.T) {
	watched := []string{"team-a", "team-b"}
	out, err := render(t, "watchNamespaces={"+strings.Join(watched, ",")+"}")
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	// Only the metrics checks are cluster-wide (TokenReviews and
	// SubjectAccessReviews are cluster-scoped); they read no object.
	for _, o := range append(find(objs, "ClusterRole"), find(objs, "ClusterRoleBinding")...) {
		if o.name != metricsAuth && o.name != metricsReader {
			t.Errorf("cluster-wide %s %s with watchNamespaces set", o.kind, o.name)
		}
	}
	want := generatedRules(t)
	for _, ns := range watched {
		role := get[*rbacv1.Role](t, objs, "Role", ns, managerRole)
		if !reflect.DeepEqual(role.Rules, want) {
			t.Errorf("Role %s/%s rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", ns, role.Name, role.Rules, want)
		}
		binding := get[*rbacv1.RoleBinding](t, objs, "RoleBinding", ns, managerRole)
		checkBinding(t, binding.RoleRef, binding.Subjects, "Role", managerRole)
	}
	var managerRoles []string
	for _, o := range find(objs, "Role") {
		if o.name == managerRole {
			managerRoles = append(managerRoles, o.namespace)
		}
	}
	if !slices.Equal(managerRoles, watched) {
		t.Errorf("manager Roles in %q, want exactly %q", managerRoles, watched)
	}
}

// TestLeaderElectionRole: the Lease and event rules exist, in the release
// namespace and bound to the manager, only when leader election is on.
func TestLeaderElectionRole(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	role := get[*rbacv1.Role](t, objs, "Role", namespace, leaderElection)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("leader election rules %+v, want %+v", role.Rules, want)
	}
	binding := get[*rbacv1.RoleBinding](t, objs, "RoleBinding", namespace, leaderElection)
	checkBinding(t, binding.RoleRef, binding.Subjects, "Role", leaderElection)

	out, err = render(t, "leaderElection.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range parse(t, out) {
		if o.name == leaderElection {
			t.Errorf("%s %s rendered with leader election off", o.kind, o.name)
		}
	}
}

// TestRejectedValues: combinations and values the chart must refuse to
// render, each with a message that says why.
func TestRejectedValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sets    []string
		wantErr string
	}{
		{"replicas without leader election", []string{"replicaCount=2", "leaderElection.enabled=false"}, replicasWithoutElection},
		{"unknown log level", []string{"logLevel=verbose"}, "logLevel"},
		{"unknown value", []string{"replicas=3"}, "additional properties 'replicas' not allowed"},
		{"wrong type", []string{"watchNamespaces=team-a"}, "watchNamespaces"},
		{"service monitor without metrics", []string{"metrics.enabled=false", "metrics.serviceMonitor.enabled=true"}, "metrics.serviceMonitor.enabled needs metrics.enabled"},
		{"existing service account without a name", []string{"serviceAccount.create=false"}, "serviceAccount.name is required"},
		{"uninstall hook giving up before the kubelet", []string{"uninstallHook.timeoutSeconds=40"}, "uninstallHook.timeoutSeconds (40) must exceed terminationGracePeriodSeconds (40)"},
		{"metrics certificate over plain HTTP", []string{"metrics.secure=false", "metrics.certSecret=c"}, "metrics.certSecret needs metrics.secure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.sets...)
			if err == nil {
				t.Fatalf("rendered with %q; want an error mentioning %q", tc.sets, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestHelmTestHook: `helm test` runs a pod, of the manager's image, that GETs
// the manager's /readyz through the Service's health port (manager --probe);
// the pod is not one the Service selects.
func TestHelmTestHook(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	pod := get[*corev1.Pod](t, objs, "Pod", namespace, release+"-test-connection")
	if pod.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("hook annotation %q, want test", pod.Annotations["helm.sh/hook"])
	}
	// The manager's own image, whose entrypoint is the manager: no other
	// image (a shell with wget) need be on the node.
	if want := "ghcr.io/raftkube/manager:" + appVersion(); len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != want {
		t.Fatalf("containers %+v, want one of %s", pod.Spec.Containers, want)
	}
	url := fmt.Sprintf("http://%s.%s.svc:8081/readyz", release, namespace)
	c := pod.Spec.Containers[0]
	if len(c.Command) != 0 || !slices.Equal(c.Args, []string{"--probe=" + url}) {
		t.Errorf("command %q args %q, want the entrypoint with --probe=%s", c.Command, c.Args, url)
	}
	svc := get[*corev1.Service](t, objs, "Service", namespace, release)
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == "health" && p.Port == 8081 && p.TargetPort.String() == "health"
	}) {
		t.Errorf("Service ports %+v lack health 8081 -> health", svc.Spec.Ports)
	}
	if matches(svc.Spec.Selector, pod.Labels) {
		t.Errorf("the Service's selector %v picks the test pod %v", svc.Spec.Selector, pod.Labels)
	}
	dep := get[*appsv1.Deployment](t, objs, "Deployment", namespace, release)
	if !matches(svc.Spec.Selector, dep.Spec.Template.Labels) {
		t.Errorf("the Service's selector %v misses the manager's pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
}

// TestUninstallHook: `helm uninstall` first runs a pre-delete Job, of the
// manager's image, that stops the manager Deployment (manager
// --stop-deployment) while the manager's RBAC still exists, so the manager
// can release its Lease. Its ServiceAccount, Role and RoleBinding are hooks
// created before it; all four are deleted however the hook ends. The Job is
// bounded, its wait outlasts the manager's termination grace period, its
// Role grants only what the command does, and no selector of the manager's
// picks its pod.
func TestUninstallHook(t *testing.T) {
	out, err := render(t)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	dep := get[*appsv1.Deployment](t, objs, "Deployment", namespace, release)
	job := get[*batchv1.Job](t, objs, "Job", namespace, uninstallHook)
	sa := get[*corev1.ServiceAccount](t, objs, "ServiceAccount", namespace, uninstallHook)
	role := get[*rbacv1.Role](t, objs, "Role", namespace, uninstallHook)
	binding := get[*rbacv1.RoleBinding](t, objs, "RoleBinding", namespace, uninstallHook)

	for _, o := range []struct {
		kind   string
		meta   metav1.ObjectMeta
		weight string
	}{{"ServiceAccount", sa.ObjectMeta, "-1"}, {"Role", role.ObjectMeta, "-1"}, {"RoleBinding", binding.ObjectMeta, "-1"}, {"Job", job.ObjectMeta, "0"}} {
		a := o.meta.Annotations
		if a["helm.sh/hook"] != "pre-delete" || a["helm.sh/hook-weight"] != o.weight {
			t.Errorf("%s %s: hook %q weight %q, want pre-delete with weight %s (the RBAC before the Job)", o.kind, o.meta.Name, a["helm.sh/hook"], a["helm.sh/hook-weight"], o.weight)
		}
		policies := strings.Split(a["helm.sh/hook-delete-policy"], ",")
		for _, want := range []string{"before-hook-creation", "hook-succeeded", "hook-failed"} {
			if !slices.Contains(policies, want) {
				t.Errorf("%s %s: delete policy %q lacks %s: it would outlive the uninstall", o.kind, o.meta.Name, policies, want)
			}
		}
	}
	if got := job.Annotations["helm.sh/hook-output-log-policy"]; got != "hook-succeeded,hook-failed" {
		t.Errorf("Job log policy %q, want hook-succeeded,hook-failed: helm prints what the hook did", got)
	}

	pod := job.Spec.Template.Spec
	if pod.ServiceAccountName != uninstallHook {
		t.Errorf("the Job runs as %q, want its own %s", pod.ServiceAccountName, uninstallHook)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want one", len(pod.Containers))
	}
	c := pod.Containers[0]
	if want := "ghcr.io/raftkube/manager:" + appVersion(); c.Image != want || len(c.Command) != 0 {
		t.Errorf("image %q command %q, want the entrypoint of %s", c.Image, c.Command, want)
	}
	if want := "--stop-deployment=" + namespace + "/" + dep.Name; !slices.Contains(c.Args, want) {
		t.Errorf("args %q lack %q", c.Args, want)
	}
	grace := *dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	var timeout int64
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--stop-timeout="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("--stop-timeout %q: %v", v, err)
			}
			timeout = int64(d.Seconds())
		}
	}
	if timeout <= grace {
		t.Errorf("--stop-timeout %ds, want more than the manager's termination grace period %ds", timeout, grace)
	}
	if job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds <= timeout {
		t.Errorf("activeDeadlineSeconds %v, want a bound above the command's wait of %ds", job.Spec.ActiveDeadlineSeconds, timeout)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("backoffLimit %v restartPolicy %s, want 0 and Never", job.Spec.BackoffLimit, pod.RestartPolicy)
	}
	if !reflect.DeepEqual(pod.SecurityContext, dep.Spec.Template.Spec.SecurityContext) || !reflect.DeepEqual(c.SecurityContext, dep.Spec.Template.Spec.Containers[0].SecurityContext) {
		t.Errorf("security contexts %+v %+v, want the manager's", pod.SecurityContext, c.SecurityContext)
	}
	svc := get[*corev1.Service](t, objs, "Service", namespace, release)
	if sel := dep.Spec.Selector.MatchLabels; matches(sel, job.Spec.Template.Labels) || matches(svc.Spec.Selector, job.Spec.Template.Labels) {
		t.Errorf("the manager's selectors %v / %v pick the hook's pod %v", sel, svc.Spec.Selector, job.Spec.Template.Labels)
	}

	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{dep.Name}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, ResourceNames: []string{dep.Name}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Errorf("hook rules %+v, want %+v", role.Rules, wantRules)
	}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: uninstallHook, Namespace: namespace}}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != uninstallHook || !reflect.DeepEqual(binding.Subjects, wantSubjects) {
		t.Errorf("hook binding %+v %+v, want Role %s to %+v", binding.RoleRef, binding.Subjects, uninstallHook, wantSubjects)
	}

	// Another image, a longer wait; or no hook at all.
	out, err = render(t, "uninstallHook.image=example.com/manager:v2", "uninstallHook.timeoutSeconds=300")
	if err != nil {
		t.Fatal(err)
	}
	job = get[*batchv1.Job](t, parse(t, out), "Job", namespace, uninstallHook)
	if c := job.Spec.Template.Spec.Containers[0]; c.Image != "example.com/manager:v2" || !slices.Contains(c.Args, "--stop-timeout=300s") {
		t.Errorf("image %q args %q, want example.com/manager:v2 with --stop-timeout=300s", c.Image, c.Args)
	}
	out, err = render(t, "uninstallHook.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range parse(t, out) {
		if o.name == uninstallHook {
			t.Errorf("%s %s rendered with uninstallHook.enabled=false", o.kind, o.name)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestChartCRDsMatchGenerated: crds/ holds exactly the CRDs controller-gen
// writes to config/crd/bases, byte for byte, and files/manager-role.yaml is
// config/rbac/role.yaml (`make gen` copies both).
func TestChartCRDsMatchGenerated(t *testing.T) {
	gen := filepath.Join(repoRoot, "config", "crd", "bases")
	chart := filepath.Join(chartDir, "crds")
	want, err := os.ReadDir(gen)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(chart)
	if err != nil {
		t.Fatal(err)
	}
	fileNames := func(entries []os.DirEntry) []string {
		var s []string
		for _, e := range entries {
			s = append(s, e.Name())
		}
		return s
	}
	if !slices.Equal(fileNames(got), fileNames(want)) {
		t.Fatalf("charts/raftkube/crds holds %q, config/crd/bases %q: run `make gen`", fileNames(got), fileNames(want))
	}
	pairs := [][2]string{{filepath.Join(repoRoot, "config", "rbac", "role.yaml"), filepath.Join(chartDir, "files", "manager-role.yaml")}}
	for _, e := range want {
		pairs = append(pairs, [2]string{filepath.Join(gen, e.Name()), filepath.Join(chart, e.Name())})
	}
	for _, p := range pairs {
		a, errA := os.ReadFile(p[0])
		b, errB := os.ReadFile(p[1])
		if err := errors.Join(errA, errB); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run `make gen`", p[1], p[0])
		}
	}
	// And the CRD is one: the kind the chart's NOTES and tests name.
	data, err := os.ReadFile(filepath.Join(chart, "raftkube.io_raftclusters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatalf("parse the chart's CRD: %v", err)
	}
	if crd.Name != "raftclusters.raftkube.io" {
		t.Errorf("CRD %q, want raftclusters.raftkube.io", crd.Name)
	}
}

// TestHelmLintStrict: `helm lint --strict` passes with each value set.
func TestHelmLintStrict(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir}
			for _, s := range vs.sets {
				args = append(args, "--set", s)
			}
			if _, err := run(t, "helm", args...); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAPIServerAcceptsObjects creates what config/default (kustomize) and
// the chart (with and without watchNamespaces) render on envtest's real API
// server, which validates every field the strict decoding only parses.
// Nothing runs the pods: envtest has no controllers or kubelet.
func TestAPIServerAcceptsObjects(t *testing.T) {
	env := &envtest.Environment{BinaryAssetsDirectory: filepath.Join(repoRoot, "bin")}
	tool(t, "kube-apiserver")
	tool(t, "etcd")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	scheme := k8sruntime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), apiextensionsv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// config/default first: it brings the Namespace raftkube-system and the CRD.
	kustomized, err := run(t, "kubectl", "kustomize", filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	kobjs := parse(t, kustomized)
	create(ctx, t, c, kobjs)
	dep := get[*appsv1.Deployment](t, kobjs, "Deployment", namespace, "raftkube-controller-manager")
	if sa := dep.Spec.Template.Spec.ServiceAccountName; sa != "raftkube-controller-manager" {
		t.Errorf("config/default's manager runs as %q, want raftkube-controller-manager", sa)
	}
	role := get[*rbacv1.ClusterRole](t, kobjs, "ClusterRole", "", "raftkube-manager-role")
	if !reflect.DeepEqual(role.Rules, generatedRules(t)) {
		t.Errorf("config/default's ClusterRole differs from config/rbac/role.yaml")
	}

	for _, tc := range []struct {
		release, namespace string
		sets               []string
		extraNamespaces    []string
	}{
		{release: "raftkube", namespace: "chart-all"},
		{release: "scoped", namespace: "chart-scoped", sets: []string{"watchNamespaces={team-a,team-b}"}, extraNamespaces: []string{"team-a", "team-b"}},
	} {
		args := []string{"template", tc.release, chartDir, "--namespace", tc.namespace}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		out, err := run(t, "helm", args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range append([]string{tc.namespace}, tc.extraNamespaces...) {
			create(ctx, t, c, []object{{kind: "Namespace", name: ns, typed: &corev1.Namespace{}, raw: []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n")}})
		}
		create(ctx, t, c, parse(t, out))
	}
}

// create creates each object on the API server, waiting for a CRD to be
// established before anything that might use it.
func create(ctx context.Context, t *testing.T, c client.Client, objs []object) {
	t.Helper()
	for _, o := range objs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(o.raw, &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, u); err != nil {
			t.Errorf("create %s %s/%s: %v", o.kind, o.namespace, o.name, err)
			continue
		}
		if o.kind == "CustomResourceDefinition" {
			waitEstablished(ctx, t, c, o.name)
		}
	}
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not established: %v", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// allowedRules is every grant the chart may render, by role (its name less
// the release's prefix), as "GROUP/RESOURCE" (or "url:PATH") -> verbs, each
// with the code that needs it. TestRBACGrantsOnlyExpectedVerbs fails on any
// grant missing here: a new verb is added here on purpose, with its reason.
var allowedRules = map[string]map[string][]string{
	"manager": {
		// CreateOrUpdate (get, create, update) of the owned objects; list
		// and watch for the manager's cache.
		"/configmaps":                 {"get", "list", "watch", "create", "update"},
		"/services":                   {"get", "list", "watch", "create", "update"},
		"policy/poddisruptionbudgets": {"get", "list", "watch", "create", "update"},
		// The same, and deleted to change a claim template (storage.go).
		"apps/statefulsets": {"get", "list", "watch", "create", "update", "delete"},
		// The members' TLS: the cluster's CA and certificates (tls.go).
		"/secrets": {"get", "list", "watch", "create", "update"},
		// With spec.tls.issuerRef, cert-manager Certificates instead, read
		// straight from the API server (tls_certmanager.go).
		"cert-manager.io/certificates": {"get", "create", "update"},
		// A NetworkPolicy per cluster, deleted when turned off.
		"networking.k8s.io/networkpolicies": {"get", "list", "watch", "create", "update", "delete"},
		// Read through the cache; a leaver's pod and claim are deleted, a
		// claim is patched to grow. A backup's pod is created, read from
		// the API server when the cache has not seen it yet, and deleted
		// once it ended (backup.go).
		"/pods":                           {"get", "list", "watch", "create", "delete"},
		"/persistentvolumeclaims":         {"list", "watch", "patch", "delete"},
		"discovery.k8s.io/endpointslices": {"list", "watch"},
		"storage.k8s.io/storageclasses":   {"get", "list", "watch"},
		// Events of steps and waits (events.k8s.io recorder).
		"events.k8s.io/events": {"create", "patch"},
		// Read; patched to drop the force-new-cluster and rotate-ca
		// annotations.
		"raftkube.io/raftclusters": {"get", "list", "watch", "patch"},
		// RaftBackups: created by the schedule, deleted by retention
		// (backupschedule.go, backup.go); their status written with Update.
		"raftkube.io/raftbackups":        {"get", "list", "watch", "create", "delete"},
		"raftkube.io/raftbackups/status": {"update"},
		// The pod of a backup is owned by its RaftBackup.
		"raftkube.io/raftbackups/finalizers": {"update"},
		// The status is written with Update.
		"raftkube.io/raftclusters/status": {"update"},
		// Owner references with blockOwnerDeletion need it where the
		// OwnerReferencesPermissionEnforcement admission plugin runs.
		"raftkube.io/raftclusters/finalizers": {"update"},
	},
	"leader-election": {
		// client-go's Lease lock: get, create, update (a release too).
		"coordination.k8s.io/leases": {"get", "create", "update"},
		// Its recorder writes core events.
		"/events": {"create", "patch"},
	},
	"uninstall": {
		"apps/deployments":       {"get"},
		"apps/deployments/scale": {"get", "update"},
		"/pods":                  {"list"},
	},
	"metrics-auth": {
		"authentication.k8s.io/tokenreviews":        {"create"},
		"authorization.k8s.io/subjectaccessreviews": {"create"},
	},
	"metrics-reader": {
		"url:/metrics": {"get"},
	},
}

// TestRBACGrantsOnlyExpectedVerbs renders the chart with every value set and
// fails on any Role or ClusterRole not in allowedRules, and on any verb one
// grants that allowedRules does not list for it.
func TestRBACGrantsOnlyExpectedVerbs(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := render(t, vs.sets...)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range parse(t, out) {
				var rules []rbacv1.PolicyRule
				switch r := o.typed.(type) {
				case *rbacv1.ClusterRole:
					rules = r.Rules
				case *rbacv1.Role:
					rules = r.Rules
				default:
					continue
				}
				role := strings.TrimPrefix(o.name, release+"-")
				allowed, ok := allowedRules[role]
				if !ok {
					t.Errorf("%s %s/%s is not in allowedRules", o.kind, o.namespace, o.name)
					continue
				}
				for _, rule := range rules {
					var keys []string
					for _, g := range rule.APIGroups {
						for _, r := range rule.Resources {
							keys = append(keys, g+"/"+r)
						}
					}
					for _, u := range rule.NonResourceURLs {
						keys = append(keys, "url:"+u)
					}
					for _, key := range keys {
						for _, verb := range rule.Verbs {
							if !slices.Contains(allowed[key], verb) {
								t.Errorf("%s %s grants %s on %s, which allowedRules does not list", o.kind, o.name, verb, key)
							}
						}
					}
				}
			}
		})
	}
}

// TestMetricsRBAC: with secure metrics (the default) the manager may create
// TokenReviews and SubjectAccessReviews, cluster-wide even when it watches
// only some namespaces, and a metrics-reader ClusterRole grants GET /metrics
// to whoever it is bound to; both equal config/rbac's (kustomize) files.
// Plain HTTP or no metrics renders neither.
func TestMetricsRBAC(t *testing.T) {
	for _, sets := range [][]string{nil, {"watchNamespaces={team-a}"}} {
		out, err := render(t, sets...)
		if err != nil {
			t.Fatal(err)
		}
		objs := parse(t, out)
		auth := get[*rbacv1.ClusterRole](t, objs, "ClusterRole", "", metricsAuth)
		if want := configClusterRole(t, "metrics_auth_role.yaml").Rules; !reflect.DeepEqual(auth.Rules, want) {
			t.Errorf("%q: %s rules %+v, want config/rbac's %+v", sets, metricsAuth, auth.Rules, want)
		}
		binding := get[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", metricsAuth)
		checkBinding(t, binding.RoleRef, binding.Subjects, "ClusterRole", metricsAuth)
		reader := get[*rbacv1.ClusterRole](t, objs, "ClusterRole", "", metricsReader)
		if want := configClusterRole(t, "metrics_reader_role.yaml").Rules; !reflect.DeepEqual(reader.Rules, want) {
			t.Errorf("%q: %s rules %+v, want config/rbac's %+v", sets, metricsReader, reader.Rules, want)
		}
		for _, o := range find(objs, "ClusterRoleBinding") {
			if b := o.typed.(*rbacv1.ClusterRoleBinding); b.RoleRef.Name == metricsReader {
				t.Errorf("the chart binds %s (to %+v); it is the user's to bind", metricsReader, b.Subjects)
			}
		}
	}
	for _, sets := range [][]string{{"metrics.secure=false"}, {"metrics.enabled=false"}} {
		out, err := render(t, sets...)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range parse(t, out) {
			if o.name == metricsAuth || o.name == metricsReader {
				t.Errorf("%q: %s %s rendered", sets, o.kind, o.name)
			}
		}
	}
}

// configClusterRole reads one of config/rbac's ClusterRoles.
func configClusterRole(t *testing.T, file string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("parse config/rbac/%s: %v", file, err)
	}
	return &role
}

// TestSecureMetricsEndpoint: the metrics port is HTTPS by default (the
// Service port's appProtocol, the ServiceMonitor's scheme with Prometheus's
// own token, and TLS verification skipped only for the self-signed
// certificate); metrics.certSecret is mounted where --metrics-cert-dir
// points and the ServiceMonitor verifies against its ca.crt; metrics.secure
// false is plain HTTP without a token.
func TestSecureMetricsEndpoint(t *testing.T) {
	const token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	for _, tc := range []struct {
		name          string
		sets          []string
		protocol      string
		wantEndpoint  map[string]any
		wantMountedAs string
	}{{
		name:     "self-signed",
		protocol: "https",
		wantEndpoint: map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
			"scheme": "https", "bearerTokenFile": token, "tlsConfig": map[string]any{"insecureSkipVerify": true}},
	}, {
		name:     "certificate from a Secret",
		sets:     []string{"metrics.certSecret=raftkube-metrics-cert"},
		protocol: "https",
		wantEndpoint: map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
			"scheme": "https", "bearerTokenFile": token, "tlsConfig": map[string]any{
				"serverName": release + "." + namespace + ".svc", "insecureSkipVerify": false,
				"ca": map[string]any{"secret": map[string]any{"name": "raftkube-metrics-cert", "key": "ca.crt"}}}},
		wantMountedAs: "raftkube-metrics-cert",
	}, {
		name:     "plain HTTP",
		sets:     []string{"metrics.secure=false"},
		protocol: "http",
		wantEndpoint: map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
			"scheme": "http"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, append(tc.sets, "metrics.serviceMonitor.enabled=true")...)
			if err != nil {
				t.Fatal(err)
			}
			objs := parse(t, out)
			svc := get[*corev1.Service](t, objs, "Service", namespace, release)
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
				return p.Name == "metrics" && p.Port == 8443 && p.AppProtocol != nil && *p.AppProtocol == tc.protocol
			}) {
				t.Errorf("Service ports %+v lack metrics 8443 with appProtocol %s", svc.Spec.Ports, tc.protocol)
			}
			var monitors []object
			for _, o := range objs {
				if o.kind == "ServiceMonitor" {
					monitors = append(monitors, o)
				}
			}
			if len(monitors) != 1 {
				t.Fatalf("%d ServiceMonitors, want 1", len(monitors))
			}
			var sm struct {
				Spec struct {
					Endpoints []map[string]any `json:"endpoints"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(monitors[0].raw, &sm); err != nil {
				t.Fatal(err)
			}
			if len(sm.Spec.Endpoints) != 1 || !reflect.DeepEqual(sm.Spec.Endpoints[0], tc.wantEndpoint) {
				t.Errorf("ServiceMonitor endpoints %+v, want [%+v]", sm.Spec.Endpoints, tc.wantEndpoint)
			}

			pod := get[*appsv1.Deployment](t, objs, "Deployment", namespace, release).Spec.Template.Spec
			var mounted string
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					mounted = v.Secret.SecretName
					if m := pod.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != v.Name || m[0].MountPath != metricsCertDir || !m[0].ReadOnly {
						t.Errorf("mounts %+v, want volume %s read-only at %s", m, v.Name, metricsCertDir)
					}
				}
			}
			if mounted != tc.wantMountedAs {
				t.Errorf("Secret volume %q, want %q", mounted, tc.wantMountedAs)
			}
		})
	}
}
