package envtest

import (
	"context"
	"os"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers"
	"github.com/raftkube/raftkube/test/kubeenv"
)

// One kube-apiserver (and etcd), with the generated CRDs installed, serves
// the reconciler tests of this binary: started by the first that needs it,
// stopped by TestMain.
var kube kubeenv.Shared

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

// operatorNamespace is the namespace the reconciler under test says the
// manager runs in.
const operatorNamespace = "raftkube-system"

// npCluster is a RaftCluster demo in a namespace of its own, reconciled one
// pass at a time by the real reconciler against the real API server. No pod
// ever runs (envtest has no kubelet), so no member is ever asked anything.
type npCluster struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	r   *controllers.RaftClusterReconciler
	key client.ObjectKey
	// updates counts the reconciler's updates of NetworkPolicies. The API
	// server keeps the resourceVersion across an update that changes
	// nothing, so only counting shows a pass that writes needlessly.
	updates int
}

func newNPCluster(t *testing.T, spec raftv1.NetworkPolicySpec) *npCluster {
	t.Helper()
	api := kube.Get(t)
	ns := api.Namespace(t)
	h := &npCluster{t: t, ctx: t.Context(), c: api.Client, key: client.ObjectKey{Namespace: ns, Name: "demo"}}
	direct, err := client.NewWithWatch(api.Config, client.Options{Scheme: api.Scheme})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	counted := interceptor.NewClient(direct, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if _, ok := obj.(*networkingv1.NetworkPolicy); ok {
				h.updates++
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	h.r = &controllers.RaftClusterReconciler{
		Client:   counted,
		Scheme:   api.Scheme,
		Recorder: &events.FakeRecorder{}, // discards
		// Asked only about running pods, and none runs here.
		Members:  controllers.NewMemberClient,
		Settings: controllers.Settings{NodeImage: "raftnode:test", ClusterDomain: "cluster.local", OperatorNamespace: operatorNamespace},
	}
	rc := &raftv1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: raftv1.RaftClusterSpec{
			// Plaintext keeps the test about the policy alone: it needs no
			// certificates.
			TLS:           raftv1.TLSSpec{Enabled: new(false)},
			NetworkPolicy: spec,
		},
	}
	if err := h.c.Create(h.ctx, rc); err != nil {
		t.Fatalf("create RaftCluster: %v", err)
	}
	return h
}

// reconcile runs one pass, which must succeed.
func (h *npCluster) reconcile() {
	h.t.Helper()
	if _, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key}); err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
}

func (h *npCluster) cluster() *raftv1.RaftCluster {
	h.t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := h.c.Get(h.ctx, h.key, rc); err != nil {
		h.t.Fatalf("get RaftCluster: %v", err)
	}
	return rc
}

// setEnabled sets spec.networkPolicy.enabled, as `kubectl patch` would.
func (h *npCluster) setEnabled(on bool) {
	h.t.Helper()
	rc := h.cluster()
	rc.Spec.NetworkPolicy.Enabled = &on
	if err := h.c.Update(h.ctx, rc); err != nil {
		h.t.Fatalf("set spec.networkPolicy.enabled=%v: %v", on, err)
	}
}

// policy returns the NetworkPolicy demo, or nil when there is none.
func (h *npCluster) policy() *networkingv1.NetworkPolicy {
	h.t.Helper()
	np := &networkingv1.NetworkPolicy{}
	switch err := h.c.Get(h.ctx, h.key, np); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		h.t.Fatalf("get NetworkPolicy: %v", err)
	}
	return np
}

// checkPolicy fails unless the policy exists with the spec the API
// contract describes and is controlled by the cluster.
func (h *npCluster) checkPolicy(allowed ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	h.t.Helper()
	np := h.policy()
	if np == nil {
		h.t.Fatal("no NetworkPolicy demo")
	}
	rc := h.cluster()
	if ref := metav1.GetControllerOf(np); ref == nil || ref.UID != rc.UID || ref.Kind != "RaftCluster" {
		h.t.Errorf("controller reference %+v, want the RaftCluster", ref)
	}
	if !reflect.DeepEqual(np.Spec, wantPolicySpec(allowed)) {
		h.t.Errorf("spec\n%+v\nwant\n%+v", np.Spec, wantPolicySpec(allowed))
	}
	return np
}

// wantPolicySpec is the policy of a cluster demo, written out from the
// contract in spec.networkPolicy's doc comment.
func wantPolicySpec(allowed []networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicySpec {
	members := &metav1.LabelSelector{MatchLabels: map[string]string{
		"app.kubernetes.io/name":       "raftnode",
		"app.kubernetes.io/instance":   "demo",
		"app.kubernetes.io/managed-by": "raftkube-operator",
		"raftkube.io/cluster":          "demo",
	}}
	port := func(n int32) []networkingv1.NetworkPolicyPort {
		tcp, p := corev1.ProtocolTCP, intstr.FromInt32(n)
		return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}}
	}
	clients := append([]networkingv1.NetworkPolicyPeer{
		{PodSelector: members},
		{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": operatorNamespace}}},
		{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"raftkube.io/client": "demo"}}},
	}, allowed...)
	return networkingv1.NetworkPolicySpec{
		PodSelector: *members,
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{Ports: port(2380), From: []networkingv1.NetworkPolicyPeer{{PodSelector: members}}},
			{Ports: port(2379), From: clients},
			{Ports: port(8080)},
		},
	}
}

// The policy is created with the cluster's first pass, left alone by a
// pass that finds it as it should be, put back after a manual edit,
// deleted when disabled and made again when enabled again.
func TestNetworkPolicyLifecycle(t *testing.T) {
	otherTeam := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
	}
	h := newNPCluster(t, raftv1.NetworkPolicySpec{AllowedClients: []networkingv1.NetworkPolicyPeer{otherTeam}})
	if !h.cluster().Spec.NetworkPolicy.IsEnabled() {
		t.Fatal("spec.networkPolicy disabled on a cluster that did not say, want enabled by default")
	}
	h.reconcile()
	created := h.checkPolicy(otherTeam)

	h.reconcile()
	h.checkPolicy(otherTeam)
	if h.updates != 0 {
		t.Errorf("a pass over an unchanged policy updated it %d times", h.updates)
	}

	// Someone opens the peer port to everyone.
	edited := created.DeepCopy()
	edited.Spec.Ingress[0].From = nil
	if err := h.c.Update(h.ctx, edited); err != nil {
		t.Fatalf("edit the policy: %v", err)
	}
	h.reconcile()
	if np := h.checkPolicy(otherTeam); np.UID != created.UID || h.updates != 1 {
		t.Errorf("edited policy: uid %s to %s, %d updates; want it updated in place once", created.UID, np.UID, h.updates)
	}

	h.setEnabled(false)
	h.reconcile()
	if np := h.policy(); np != nil {
		t.Fatalf("policy %s still there with spec.networkPolicy.enabled=false", np.UID)
	}
	h.reconcile() // nothing left to delete: no error

	h.setEnabled(true)
	h.reconcile()
	if np := h.checkPolicy(otherTeam); np.UID == created.UID {
		t.Errorf("policy uid %s after re-enabling is the deleted one's", np.UID)
	}
}

// With the operator's policy disabled, a policy of the same name that the
// cluster does not control is the user's: it stays.
func TestNetworkPolicyDisabledKeepsUsersPolicy(t *testing.T) {
	h := newNPCluster(t, raftv1.NetworkPolicySpec{Enabled: new(false)})
	own := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.key.Namespace, Name: h.key.Name},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
	if err := h.c.Create(h.ctx, own); err != nil {
		t.Fatalf("create the user's policy: %v", err)
	}
	h.reconcile()
	np := h.policy()
	if np == nil || np.UID != own.UID {
		t.Fatalf("the user's policy %s is gone after a pass with the operator's disabled", own.UID)
	}
	if !reflect.DeepEqual(np.Spec, own.Spec) || metav1.GetControllerOf(np) != nil {
		t.Errorf("the user's policy was changed: spec %+v, controller %+v", np.Spec, metav1.GetControllerOf(np))
	}
}
