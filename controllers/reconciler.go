// Package controllers holds the RaftCluster reconciler: it keeps a cluster's
// owned objects (certificate Secrets, Services, StatefulSet,
// PodDisruptionBudget, bootstrap ConfigMap, NetworkPolicy) in shape,
// observes the members through their admin API, and takes the one next step
// the membership planner (package plan) chooses.
package controllers

import (
	"context"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// How soon a cluster is looked at again without a watch event: while a
// change is under way its progress (a learner catching up, an election) is
// not visible to watches; when steady, status (leader, match indexes) is
// refreshed now and then.
const (
	requeueChanging = 2 * time.Second
	requeueSteady   = 30 * time.Second
	requeueConflict = 200 * time.Millisecond
)

// RaftClusterReconciler reconciles RaftClusters.
type RaftClusterReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// Recorder records an event for each step taken.
	Recorder recorder.EventRecorder
	// Members opens a client of a cluster's members; NewMemberClient in
	// production.
	Members ClientFactory
	// Metrics counts steps; nil counts nothing.
	Metrics *Metrics
	// Settings are the operator-wide defaults.
	Settings Settings
	// Failpoint, when set, is called with "before-KIND" and "after-KIND"
	// around every step (KIND as plan.Kind prints it), so tests can crash the
	// manager between steps. Nil in production.
	Failpoint func(name string)
}

// +kubebuilder:rbac:groups=raftkube.io,resources=raftclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=raftkube.io,resources=raftclusters/status,verbs=update
// +kubebuilder:rbac:groups=raftkube.io,resources=raftclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=pods;persistentvolumeclaims,verbs=list;watch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile fetches the cluster, keeps its objects in shape, observes the
// members and takes one step; status is written on the way out, whatever
// happened.
func (r *RaftClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	rc := &raftv1.RaftCluster{}
	if err := r.Get(ctx, req.NamespacedName, rc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes what it owns
	}
	p := &pass{cluster: rc, paused: rc.Annotations[raftv1.AnnotationPaused] == "true"}
	defer p.close()
	defer func() { err = errors.Join(err, r.writeStatus(ctx, p, err)) }()
	// An object changed since the cache saw it: not a failure, look again
	// soon (runs before the status is written, so it reports no error).
	defer func() {
		if apierrors.IsConflict(err) {
			res, err = ctrl.Result{RequeueAfter: requeueConflict}, nil
		}
	}()

	if !p.paused {
		if err := r.ensureObjects(ctx, p); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.observe(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	if p.paused {
		return ctrl.Result{}, nil
	}
	if err := r.advanceCARotation(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	if held, err := r.ensureStorage(ctx, p); err != nil {
		return ctrl.Result{}, err
	} else if held {
		return ctrl.Result{RequeueAfter: requeueChanging}, nil
	}
	if err := r.ensureBudget(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.refuseForceRequest(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	p.action = plan.Next(p.obs)
	holdForRestore(p)
	log.FromContext(ctx).V(1).Info("planned", "action", p.action.String())
	if err := r.act(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	r.restoreEvents(p)
	// A CA rotation step waits for members to load files, which no watch
	// reports: look again soon.
	if p.action.Kind == plan.Steady && (p.tls == nil || p.tls.CARotation == "") {
		return ctrl.Result{RequeueAfter: requeueSteady}, nil
	}
	return ctrl.Result{RequeueAfter: requeueChanging}, nil
}

// SetupWithManager registers the reconciler: it watches RaftClusters, the
// objects they own, and their pods and claims (owned by the StatefulSet, so
// found through the cluster label).
func (r *RaftClusterReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	byCluster := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name, ok := o.GetLabels()[raftv1.LabelCluster]
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
	})
	managed := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[raftv1.LabelManagedBy] == managerName
	}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&raftv1.RaftCluster{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		// A certificate Secret deleted or edited by hand is issued again at
		// once, not at the next periodic pass.
		Owns(&corev1.Secret{}).
		Watches(&corev1.Pod{}, byCluster, managed).
		Watches(&corev1.PersistentVolumeClaim{}, byCluster, managed).
		// The peer Service's EndpointSlices carry its labels: a new pod's
		// address being published lets its member be added.
		Watches(&discoveryv1.EndpointSlice{}, byCluster, managed).
		Watches(&storagev1.StorageClass{}, handler.EnqueueRequestsFromMapFunc(r.clustersAwaitingClass)).
		// A cluster restored from a RaftBackup starts once the backup
		// succeeds.
		Watches(&raftv1.RaftBackup{}, handler.EnqueueRequestsFromMapFunc(r.clustersRestoringFrom)).
		WithOptions(opts).
		Named("raftcluster").
		Complete(r)
}

func (r *RaftClusterReconciler) failpoint(name string) {
	if r.Failpoint != nil {
		r.Failpoint(name)
	}
}
