package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// leaseName is the chart's default leader-election Lease.
const leaseName = "raftkube-operator.raftkube.io"

// TestUninstallReleasesLease: `helm uninstall --wait` stops the manager
// while its leader-election RBAC still exists, so the manager releases its
// Lease on the way out, no hook object is left behind, and the manager of
// a re-install takes the Lease at once instead of waiting for a stale one
// to expire. The time from the re-install to leadership is logged (a
// measurement, not asserted). Then the uninstall of a release whose manager
// Deployment is already gone still succeeds.
func TestUninstallReleasesLease(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	chart := filepath.Join(repoRoot, "charts", "raftkube")
	install := []string{"install", "raftkube", chart, "--namespace", operatorNS, "--create-namespace"}

	e.tool(ctx, t, "helm", append(install, "--wait", "--timeout", "3m")...)
	first := e.waitLeader(ctx, t, "")
	t.Logf("first manager %s holds the Lease", first)

	start := time.Now()
	out := e.tool(ctx, t, "helm", "uninstall", "raftkube", "--namespace", operatorNS, "--wait", "--timeout", "3m")
	t.Logf("helm uninstall --wait: %v\n%s", time.Since(start).Round(100*time.Millisecond), out)

	l, err := e.client.CoordinationV1().Leases(operatorNS).Get(ctx, leaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatalf("get the Lease after helm uninstall: %v", err)
	case l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "":
		t.Errorf("after helm uninstall the Lease is still held by %q: the manager did not release it before its RBAC went", *l.Spec.HolderIdentity)
	}
	e.checkNoReleaseLeft(ctx, t)

	// The re-install's manager leads as soon as it starts: no stale lease
	// to wait out.
	start = time.Now()
	e.tool(ctx, t, "helm", install...)
	second := e.waitLeader(ctx, t, first)
	t.Logf("re-install -> manager %s holds the Lease: %.1fs", second, time.Since(start).Seconds())

	// With the manager already gone the hook has nothing to stop: the
	// uninstall goes through, and again leaves nothing behind.
	e.tool(ctx, t, "kubectl", "delete", "deployment", "raftkube", "--namespace", operatorNS, "--cascade=foreground", "--wait")
	waitFor(ctx, t, "no manager pod", func(ctx context.Context) (bool, error) {
		pods, err := e.client.CoreV1().Pods(operatorNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=raftkube,app.kubernetes.io/component=manager"})
		return err == nil && len(pods.Items) == 0, err
	})
	start = time.Now()
	out = e.tool(ctx, t, "helm", "uninstall", "raftkube", "--namespace", operatorNS, "--wait", "--timeout", "3m")
	t.Logf("helm uninstall --wait, manager Deployment already deleted: %v\n%s", time.Since(start).Round(100*time.Millisecond), out)
	e.checkNoReleaseLeft(ctx, t)
}

// waitLeader waits until a manager pod other than not holds the
// leader-election Lease and returns its name.
func (e *env) waitLeader(ctx context.Context, t *testing.T, not string) string {
	t.Helper()
	var holder string
	waitFor(ctx, t, "a manager holding the Lease", func(ctx context.Context) (bool, error) {
		l, err := e.client.CoordinationV1().Leases(operatorNS).Get(ctx, leaseName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil // not created yet
		}
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, err
		}
		holder, _, _ = strings.Cut(*l.Spec.HolderIdentity, "_")
		return holder != "" && holder != not, nil
	})
	return holder
}

// checkNoReleaseLeft: after `helm uninstall --wait`, no pod, Job,
// ServiceAccount, Role or RoleBinding of the release (hooks included) is
// left in the operator's namespace.
func (e *env) checkNoReleaseLeft(ctx context.Context, t *testing.T) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=raftkube"}
	var left []string
	pods, err := e.client.CoreV1().Pods(operatorNS).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		left = append(left, "Pod "+p.Name)
	}
	jobs, err := e.client.BatchV1().Jobs(operatorNS).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Items {
		left = append(left, "Job "+j.Name)
	}
	sas, err := e.client.CoreV1().ServiceAccounts(operatorNS).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sas.Items {
		left = append(left, "ServiceAccount "+s.Name)
	}
	roles, err := e.client.RbacV1().Roles(operatorNS).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles.Items {
		left = append(left, "Role "+r.Name)
	}
	bindings, err := e.client.RbacV1().RoleBindings(operatorNS).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		left = append(left, "RoleBinding "+b.Name)
	}
	if len(left) > 0 {
		t.Errorf("left in %s after helm uninstall --wait: %s", operatorNS, strings.Join(left, ", "))
	}
}
