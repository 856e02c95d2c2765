package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

func TestMutateNetworkPolicy(t *testing.T) {
	members := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
		"app.kubernetes.io/name":       "raftnode",
		"app.kubernetes.io/instance":   "demo",
		"app.kubernetes.io/managed-by": "raftkube-operator",
		"raftkube.io/cluster":          "demo",
	}}}
	labelled := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"raftkube.io/client": "demo"},
	}}
	operatorNS := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": "raftkube-system"},
	}}
	otherTeam := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
	}
	cidr := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}
	for _, tc := range []struct {
		name string
		rc   *raftv1.RaftCluster
		s    Settings
		// wantClients are the sources of the client port, in order.
		wantClients []networkingv1.NetworkPolicyPeer
	}{{
		name:        "no operator namespace",
		rc:          cluster(3),
		s:           testSettings,
		wantClients: []networkingv1.NetworkPolicyPeer{members, labelled},
	}, {
		name:        "operator namespace",
		rc:          cluster(3),
		s:           Settings{OperatorNamespace: "raftkube-system"},
		wantClients: []networkingv1.NetworkPolicyPeer{members, operatorNS, labelled},
	}, {
		name: "allowed clients appended",
		rc: cluster(3, func(rc *raftv1.RaftCluster) {
			rc.Spec.NetworkPolicy.AllowedClients = []networkingv1.NetworkPolicyPeer{otherTeam, cidr}
		}),
		s:           Settings{OperatorNamespace: "raftkube-system"},
		wantClients: []networkingv1.NetworkPolicyPeer{members, operatorNS, labelled, otherTeam, cidr},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			np := &networkingv1.NetworkPolicy{}
			mutateNetworkPolicy(tc.rc, np, tc.s)
			if !isSubset(selectorLabels(tc.rc), np.Labels) {
				t.Errorf("labels %v lack the selector labels", np.Labels)
			}
			if want := (metav1.LabelSelector{MatchLabels: selectorLabels(tc.rc)}); !reflect.DeepEqual(np.Spec.PodSelector, want) {
				t.Errorf("podSelector %v, want the cluster's pods %v", np.Spec.PodSelector, want)
			}
			if want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}; !reflect.DeepEqual(np.Spec.PolicyTypes, want) {
				t.Errorf("policyTypes %v, want %v: egress stays open", np.Spec.PolicyTypes, want)
			}
			want := []networkingv1.NetworkPolicyIngressRule{
				{Ports: tcpPort(2380), From: []networkingv1.NetworkPolicyPeer{members}},
				{Ports: tcpPort(2379), From: tc.wantClients},
				{Ports: tcpPort(8080)},
			}
			if !reflect.DeepEqual(np.Spec.Ingress, want) {
				t.Errorf("ingress\n%+v\nwant\n%+v", np.Spec.Ingress, want)
			}
		})
	}
}

// The policy's copy of allowedClients is its own: a later change to the
// one would not show in the other.
func TestMutateNetworkPolicyCopiesAllowedClients(t *testing.T) {
	rc := cluster(3, func(rc *raftv1.RaftCluster) {
		rc.Spec.NetworkPolicy.AllowedClients = []networkingv1.NetworkPolicyPeer{
			{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}},
		}
	})
	np := &networkingv1.NetworkPolicy{}
	mutateNetworkPolicy(rc, np, testSettings)
	rc.Spec.NetworkPolicy.AllowedClients[0].PodSelector.MatchLabels["app"] = "changed"
	from := np.Spec.Ingress[1].From
	if got := from[len(from)-1].PodSelector.MatchLabels["app"]; got != "api" {
		t.Errorf("policy's allowed client app=%q after the spec changed, want its own copy app=api", got)
	}
}

// A second pass over the policy the first one made changes nothing, so
// the reconciler does not update it on every pass.
func TestMutateNetworkPolicyIdempotent(t *testing.T) {
	rc := cluster(3)
	s := Settings{OperatorNamespace: "raftkube-system"}
	np := &networkingv1.NetworkPolicy{}
	mutateNetworkPolicy(rc, np, s)
	again := np.DeepCopy()
	mutateNetworkPolicy(rc, again, s)
	if !reflect.DeepEqual(np, again) {
		t.Errorf("second pass changed the policy:\n%+v\nto\n%+v", np, again)
	}
}

func tcpPort(n int32) []networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	p := intstr.FromInt32(n)
	return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}}
}
