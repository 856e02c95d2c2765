package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestImageTableLookup(t *testing.T) {
	tbl := ImageTable{}
	if err := tbl.Load(strings.NewReader(`
# comment
raftkube/raftnode:dev = /bin/raftnode
raftkube/manager=/bin/manager
localhost:5000/app=/bin/app
`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image  string
		want   string
		wantOK bool
	}{
		{"raftkube/raftnode:dev", "/bin/raftnode", true},
		{"raftkube/raftnode:other", "", false},
		{"raftkube/manager:v1", "/bin/manager", true},
		{"raftkube/manager@sha256:abc", "/bin/manager", true},
		{"raftkube/manager", "/bin/manager", true},
		{"localhost:5000/app:1", "/bin/app", true},
		{"busybox", "", false},
	}
	for _, tt := range tests {
		got, ok := tbl.Lookup(tt.image)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.image, got, ok, tt.want, tt.wantOK)
		}
	}
	for _, bad := range []string{"noequals", "=/bin/x", "img="} {
		if err := tbl.Add(bad); err == nil {
			t.Errorf("Add(%q): want error", bad)
		}
	}
}

func TestLoopbackIPAM(t *testing.T) {
	if _, err := NewLoopbackIPAM("10.0.0.0/24"); err == nil {
		t.Fatal("non-loopback range accepted")
	}
	a, err := NewLoopbackIPAM("127.20.0.0/30")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, owner := range []string{"a", "b", "c"} {
		ip, err := a.Allocate(owner)
		if err != nil {
			t.Fatalf("Allocate(%s): %v", owner, err)
		}
		got[owner] = ip.String()
	}
	want := map[string]string{"a": "127.20.0.1", "b": "127.20.0.2", "c": "127.20.0.3"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("owner %s got %s, want %s", k, got[k], v)
		}
	}
	if ip, _ := a.Allocate("b"); ip.String() != "127.20.0.2" {
		t.Errorf("re-allocate for same owner gave %s", ip)
	}
	if _, err := a.Allocate("d"); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("exhausted range: got %v, want ErrNoAddress", err)
	}
	a.Release("b")
	if n := a.InUse(); n != 2 {
		t.Errorf("InUse = %d after release, want 2", n)
	}
	if ip, err := a.Allocate("d"); err != nil || ip.String() != "127.20.0.2" {
		t.Errorf("after release got %v, %v; want 127.20.0.2", ip, err)
	}
}

func TestLoopbackIPAMRoundRobin(t *testing.T) {
	a, err := NewLoopbackIPAM("127.21.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := a.Allocate("a")
	a.Release("a")
	second, _ := a.Allocate("b")
	if first == second {
		t.Errorf("released address %s handed out again at once", first)
	}
}

// fakeObjects is an in-memory ObjectSource.
type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (f fakeObjects) ConfigMap(_, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.configMaps[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeObjects) Secret(_, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func fieldRef(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func TestContainerEnv(t *testing.T) {
	optional := true
	objs := fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"B": "from-cm", "A": "cm-a"}}},
		secrets:    map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"pw": []byte("s3cret")}}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "prod", UID: "u1", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			fieldRef("POD_NAME", "metadata.name"),
			fieldRef("POD_NAMESPACE", "metadata.namespace"),
			fieldRef("POD_IP", "status.podIP"),
			fieldRef("POD_UID", "metadata.uid"),
			fieldRef("APP", "metadata.labels['app']"),
			fieldRef("NODE", "spec.nodeName"),
			fieldRef("SA", "spec.serviceAccountName"),
			{Name: "ADDR", Value: "$(POD_NAME).web.$(POD_NAMESPACE):$(PORT)$$"},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: &optional}}},
			{Name: "CM_A", Value: "overridden"},
		},
	}
	got, err := containerEnv(pod, c, podFacts{PodIP: "127.10.0.7", HostIP: "127.0.0.1"}, objs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CM_A=overridden", "CM_B=from-cm",
		"POD_NAME=web-0", "POD_NAMESPACE=prod", "POD_IP=127.10.0.7", "POD_UID=u1", "APP=web",
		"NODE=n1", "SA=sa", "ADDR=web-0.web.prod:$(PORT)$", "PW=s3cret", "OPT=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("env:\n got %q\nwant %q", got, want)
	}
}

func TestContainerEnvErrors(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	tests := []struct {
		name string
		env  corev1.EnvVar
	}{
		{"missing configmap", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}}},
		{"missing secret key", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "nokey"}}}},
		{"unsupported field", fieldRef("X", "metadata.generation")},
	}
	objs := fakeObjects{secrets: map[string]*corev1.Secret{"sec": {}}}
	for _, tt := range tests {
		c := &corev1.Container{Env: []corev1.EnvVar{tt.env}}
		if _, err := containerEnv(pod, c, podFacts{}, objs); err == nil {
			t.Errorf("%s: want error", tt.name)
		}
	}
}

func TestCommandLine(t *testing.T) {
	vars := map[string]string{"IP": "127.10.0.2"}
	tests := []struct {
		name          string
		binary        string
		command, args []string
		wantPath      string
		wantArgs      []string
	}{
		{"args only", "/bin/raftnode", nil, []string{"--addr=$(IP):7000"}, "/bin/raftnode", []string{"--addr=127.10.0.2:7000"}},
		{"command replaces entrypoint", "/bin/raftnode", []string{"raftnode", "serve"}, []string{"-v"}, "/bin/raftnode", []string{"serve", "-v"}},
		{"host command", HostCommand, []string{"sh", "-c"}, []string{"echo $(IP)"}, "", []string{"-c", "echo 127.10.0.2"}},
	}
	for _, tt := range tests {
		path, args, err := commandLine(tt.binary, tt.command, tt.args, vars)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.wantPath != "" && path != tt.wantPath {
			t.Errorf("%s: path %q, want %q", tt.name, path, tt.wantPath)
		}
		if tt.binary == HostCommand && !strings.HasSuffix(path, "/sh") {
			t.Errorf("%s: path %q, want a host sh", tt.name, path)
		}
		if !slices.Equal(args, tt.wantArgs) {
			t.Errorf("%s: args %q, want %q", tt.name, args, tt.wantArgs)
		}
	}
}

func TestTailLines(t *testing.T) {
	data := []byte("a\nb\nc\n")
	for n, want := range map[int]string{0: "a\nb\nc\n", 1: "c\n", 2: "b\nc\n", 5: "a\nb\nc\n"} {
		if got := string(tailLines(data, n)); got != want {
			t.Errorf("tail %d = %q, want %q", n, got, want)
		}
	}
}

func TestMountScript(t *testing.T) {
	dir := t.TempDir()
	got := mountScript("web-0", []Mount{
		{Source: dir, Target: "/data/it's"},
		{Source: dir + "/missing-file", Target: "/etc/hosts", ReadOnly: true},
	})
	want := "set -e\n" +
		"printf '%s' 'web-0' > /proc/sys/kernel/hostname\n" +
		"mount --bind -- '" + dir + "' '/data/it'\\''s'\n" +
		"mount --bind -- '" + dir + "/missing-file' '/etc/hosts'\n" +
		"mount -o remount,bind,ro -- '/etc/hosts'\n" +
		`exec "$@"`
	if got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
}

// A probe path may carry a query string, which must reach the server as a
// query, not escaped into the path.
func TestHTTPProbeWithQuery(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path + "?" + r.URL.RawQuery
		if r.URL.Path != "/readyz" || r.URL.Query().Get("serializable") != "true" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	host, portText, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/readyz?serializable=true", Port: intstr.FromInt32(int32(port))}}}
	ok, msg := runProbe(context.Background(), probe, probeTarget{PodIP: host})
	if !ok || got != "/readyz?serializable=true" {
		t.Fatalf("probe = %v (%s); the server saw %q", ok, msg, got)
	}
}
