package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// namespaceNameLabel is the label the API server sets on every namespace to
// its name: the only way a NetworkPolicy can select one namespace by name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;delete

func networkPolicyName(rc *raftv1.RaftCluster) string { return rc.Name }

// ensureNetworkPolicy keeps the cluster's NetworkPolicy as the spec wants
// it, and deletes it once spec.networkPolicy.enabled is false. The owner
// reference removes it with the cluster.
func (r *RaftClusterReconciler) ensureNetworkPolicy(ctx context.Context, p *pass) error {
	rc := p.cluster
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: networkPolicyName(rc)}}
	if rc.Spec.NetworkPolicy.IsEnabled() {
		return r.apply(ctx, p, np, func() { mutateNetworkPolicy(rc, np, r.Settings) })
	}
	if err := r.Get(ctx, client.ObjectKeyFromObject(np), np); err != nil {
		return client.IgnoreNotFound(err)
	}
	// A policy of that name the cluster does not control is the user's.
	if !metav1.IsControlledBy(np, rc) {
		return nil
	}
	err := r.Delete(ctx, np, client.Preconditions{UID: &np.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete NetworkPolicy %s: %w", np.Name, err)
	}
	log.FromContext(ctx).Info("deleted the NetworkPolicy: spec.networkPolicy.enabled is false", "networkPolicy", np.Name)
	return nil
}

// mutateNetworkPolicy makes np the policy that admits to the members' ports
// only who needs them: the peer port the members themselves; the client
// port the members (a follower forwards writes to the leader), the
// operator's namespace (the admin API), the pods labelled as the cluster's
// clients and spec.networkPolicy.allowedClients; the http port anyone,
// since the kubelet's probes and metrics scrapers come from addresses no
// selector names. Egress stays open.
func mutateNetworkPolicy(rc *raftv1.RaftCluster, np *networkingv1.NetworkPolicy, s Settings) {
	np.Labels = mergeLabels(np.Labels, selectorLabels(rc))
	clients := []networkingv1.NetworkPolicyPeer{podPeer(selectorLabels(rc))}
	if s.OperatorNamespace != "" {
		clients = append(clients, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{namespaceNameLabel: s.OperatorNamespace},
		}})
	}
	clients = append(clients, podPeer(map[string]string{raftv1.LabelClient: rc.Name}))
	for _, peer := range rc.Spec.NetworkPolicy.AllowedClients {
		clients = append(clients, *peer.DeepCopy())
	}
	np.Spec = networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(rc)},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{Ports: policyPorts(peerPort), From: []networkingv1.NetworkPolicyPeer{podPeer(selectorLabels(rc))}},
			{Ports: policyPorts(clientPort), From: clients},
			{Ports: policyPorts(httpPort)}, // no From: every source
		},
	}
}

// podPeer selects the pods of the policy's namespace that carry labels.
func podPeer(labels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: labels}}
}

// policyPorts is one TCP port by number. The protocol is spelled out
// because the API server defaults it: left nil, every pass would see a
// difference and update the policy.
func policyPorts(port int32) []networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	p := intstr.FromInt32(port)
	return []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}}
}
