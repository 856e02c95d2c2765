package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var managerKey = types.NamespacedName{Namespace: "raftkube-system", Name: "raftkube"}

func managerDeployment(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: managerKey.Namespace, Name: managerKey.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "manager"}},
		},
	}
}

func pod(name, component string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: managerKey.Namespace, Name: name,
		Labels: map[string]string{"app.kubernetes.io/component": component}}}
}

// logBuffer returns a JSON logger and the levels of what it logged.
func logBuffer(t *testing.T) (*slog.Logger, func() []string) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	return log, func() []string {
		var levels []string
		for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			var rec struct{ Level string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			levels = append(levels, rec.Level)
		}
		return levels
	}
}

func replicas(ctx context.Context, t *testing.T, c client.Client) int32 {
	t.Helper()
	var dep appsv1.Deployment
	if err := c.Get(ctx, managerKey, &dep); err != nil {
		t.Fatal(err)
	}
	return *dep.Spec.Replicas
}

// TestStopDeploymentWaitsForPods: the Deployment goes to zero replicas and
// stopDeployment returns only once its pods are gone; a pod the Deployment
// does not select (the hook's own) is not waited for.
func TestStopDeploymentWaitsForPods(t *testing.T) {
	ctx := context.Background()
	lists := 0
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).
		WithObjects(managerDeployment(2), pod("raftkube-a", "manager"), pod("raftkube-b", "manager"), pod("raftkube-uninstall-x", "uninstall")).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists++
			// What the ReplicaSet controller and the kubelet do once the
			// replicas are zero: the pods exit, one list later.
			if lists == 2 {
				var dep appsv1.Deployment
				if err := c.Get(ctx, managerKey, &dep); err != nil {
					return err
				}
				if *dep.Spec.Replicas != 0 {
					t.Errorf("pods listed again with %d replicas: stopDeployment must scale to zero first", *dep.Spec.Replicas)
				}
				for _, name := range []string{"raftkube-a", "raftkube-b"} {
					if err := c.Delete(ctx, pod(name, "manager")); err != nil {
						return err
					}
				}
			}
			return c.List(ctx, list, opts...)
		}}).Build()
	log, levels := logBuffer(t)
	if err := stopWithin(ctx, c, managerKey, time.Minute, time.Millisecond, log); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if lists != 2 {
		t.Errorf("%d pod lists, want 2: one seeing the pods, one seeing them gone", lists)
	}
	if got := replicas(ctx, t, c); got != 0 {
		t.Errorf("replicas %d after stop, want 0", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: managerKey.Namespace, Name: "raftkube-uninstall-x"}, &corev1.Pod{}); err != nil {
		t.Errorf("the pod the Deployment does not select: %v", err)
	}
	for _, l := range levels() {
		if l != "INFO" {
			t.Errorf("logged at %s, want INFO only", l)
		}
	}
}

// TestStopDeploymentGivesUp: pods that do not exit (here one stuck
// terminating) end the wait with errPodsRemain naming them; stopWithin
// turns it into a warning, so the uninstall goes on.
func TestStopDeploymentGivesUp(t *testing.T) {
	ctx := context.Background()
	stuck := pod("raftkube-stuck", "manager")
	stuck.Finalizers = []string{"example.com/hold"}
	stuck.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(managerDeployment(1), stuck, pod("raftkube-live", "manager")).Build()

	deadline, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := stopDeployment(deadline, c, managerKey, time.Millisecond, slog.New(slog.DiscardHandler))
	if !errors.Is(err, errPodsRemain) || !strings.Contains(err.Error(), "raftkube-live, raftkube-stuck") {
		t.Errorf("stop with pods that never exit: %v, want errPodsRemain naming both", err)
	}

	log, levels := logBuffer(t)
	if err := stopWithin(ctx, c, managerKey, 50*time.Millisecond, time.Millisecond, log); err != nil {
		t.Errorf("stopWithin with pods that never exit: %v, want nil (a warning)", err)
	}
	if l := levels(); len(l) == 0 || l[len(l)-1] != "WARN" {
		t.Errorf("log levels %q, want a final WARN", l)
	}
	if got := replicas(ctx, t, c); got != 0 {
		t.Errorf("replicas %d, want 0", got)
	}
}

// TestStopDeploymentNothingToStop: no Deployment (the manager is already
// gone), or one at zero with no pods, ends at once without error.
func TestStopDeploymentNothingToStop(t *testing.T) {
	ctx := context.Background()
	for name, objs := range map[string][]client.Object{
		"no Deployment":       nil,
		"zero replicas, idle": {managerDeployment(0)},
	} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
			// A wait would hit this deadline and fail.
			deadline, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := stopDeployment(deadline, c, managerKey, time.Hour, slog.New(slog.DiscardHandler)); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
}

// TestStopDeploymentAPIError: an error other than pods outliving the wait
// fails the hook, so `helm uninstall` reports it.
func TestStopDeploymentAPIError(t *testing.T) {
	ctx := context.Background()
	forbidden := errors.New("forbidden")
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(managerDeployment(1)).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
			return forbidden
		}}).Build()
	if err := stopWithin(ctx, c, managerKey, time.Minute, time.Millisecond, slog.New(slog.DiscardHandler)); !errors.Is(err, forbidden) {
		t.Errorf("stop with the scale refused: %v, want the refusal", err)
	}
}

func TestParseFlagsStopDeployment(t *testing.T) {
	c, err := parseFlags([]string{"--stop-deployment", "raftkube-system/raftkube", "--stop-timeout", "90s"})
	if err != nil || c.stopDeployment != managerKey || c.stopTimeout != 90*time.Second {
		t.Errorf("--stop-deployment: %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{"--stop-deployment", "raftkube"},
		{"--stop-deployment", "/raftkube"},
		{"--stop-deployment", "ns/"},
		{"--stop-deployment", "a/b/c"},
		{"--stop-deployment", "ns/raftkube", "--stop-timeout", "0s"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", bad)
		}
	}
}
