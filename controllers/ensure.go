package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// ensureObjects creates or updates the Services, the bootstrap ConfigMap
// and, when it exists, the StatefulSet's template. The StatefulSet itself is
// created by the planner's first SetReplicas, and only the planner changes
// its replicas.
func (r *RaftClusterReconciler) ensureObjects(ctx context.Context, p *pass) error {
	rc := p.cluster
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: rc.Namespace, Name: name} }

	// Certificates first: the members' pods mount them.
	if err := r.ensureTLS(ctx, p); err != nil {
		return err
	}
	p.tlsEnsured = true

	peer := &corev1.Service{ObjectMeta: meta(peerServiceName(rc))}
	if err := r.apply(ctx, p, peer, func() { mutatePeerService(rc, peer) }); err != nil {
		return err
	}
	svc := &corev1.Service{ObjectMeta: meta(clientServiceName(rc))}
	if err := r.apply(ctx, p, svc, func() { mutateClientService(rc, svc) }); err != nil {
		return err
	}
	if err := r.ensureNetworkPolicy(ctx, p); err != nil {
		return err
	}
	retained, err := r.retainedClaims(ctx, rc)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: meta(bootstrapName(rc))}
	if err := r.apply(ctx, p, cm, func() {
		// Claims that exist before the ConfigMap does were kept from an
		// earlier cluster of this name: no pod may found a cluster over
		// them (the planner adopts what they hold).
		adopt := cm.CreationTimestamp.IsZero() && retained && rc.Spec.Bootstrap != raftv1.BootstrapFresh
		mutateBootstrap(rc, cm, rc.Status.ClusterID != "" || joinMode(cm) || adopt)
	}); err != nil {
		return err
	}
	if err := r.resolveRestore(ctx, p, cm); err != nil {
		return err
	}
	sts := &appsv1.StatefulSet{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: statefulSetName(rc)}, sts); err != nil {
		return client.IgnoreNotFound(err)
	}
	if p.restore.notReady != "" {
		return nil // the template keeps the backup it was given; see resolveRestore
	}
	return r.apply(ctx, p, sts, func() { mutateStatefulSet(rc, sts, r.Settings, 0, p.restore.source) })
}

// retainedClaims reports whether claims of the cluster's pods exist while
// its cluster id is not recorded; only then does it matter.
func (r *RaftClusterReconciler) retainedClaims(ctx context.Context, rc *raftv1.RaftCluster) (bool, error) {
	if rc.Status.ClusterID != "" {
		return false, nil
	}
	var claims corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &claims, client.InNamespace(rc.Namespace), client.MatchingLabels(selectorLabels(rc)), client.Limit(1)); err != nil {
		return false, fmt.Errorf("list claims: %w", err)
	}
	return len(claims.Items) > 0, nil
}

// joinMode reports whether the existing bootstrap ConfigMap already names
// nobody. Once switched, it never names pod 0 again, even if the status
// lost the cluster id (a restored object, a status wiped by hand): pod 0
// coming back empty would found a second cluster. The planner records the
// id again once a leader answers.
func joinMode(cm *corev1.ConfigMap) bool {
	member, ok := cm.Data[bootstrapKey]
	return !cm.CreationTimestamp.IsZero() && ok && member == ""
}

// ensureBudget keeps the PodDisruptionBudget at a majority of the voters as
// observed. Without a leader the voters are unknown: an existing budget is
// left as it is, a new one starts at a majority of spec.replicas.
func (r *RaftClusterReconciler) ensureBudget(ctx context.Context, p *pass) error {
	rc := p.cluster
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: budgetName(rc)}}
	n, known := plan.MinAvailable(p.obs)
	return r.apply(ctx, p, pdb, func() {
		if !known {
			if pdb.Spec.MinAvailable != nil {
				return
			}
			n = plan.Majority(desiredReplicas(rc))
		}
		mutateBudget(rc, pdb, int32(n))
	})
}

// apply creates obj or updates it when mutate changed it, owned by the
// cluster so that deleting the cluster deletes it.
func (r *RaftClusterReconciler) apply(ctx context.Context, p *pass, obj client.Object, mutate func()) error {
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		mutate()
		return controllerutil.SetControllerReference(p.cluster, obj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("apply %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}
