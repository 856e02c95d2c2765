package controllers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// statusTimeout bounds the members' Status round of one pass: a member that
// does not answer in time counts as not answering.
const statusTimeout = 5 * time.Second

// pass is what one reconcile pass fetched, observed and decided.
type pass struct {
	cluster *raftv1.RaftCluster
	paused  bool
	// sts is nil when the StatefulSet does not exist.
	sts *appsv1.StatefulSet
	// foundingNobody: the bootstrap ConfigMap exists and names no pod, so
	// no pod may found a cluster.
	foundingNobody bool
	pods           []corev1.Pod
	claims         []corev1.PersistentVolumeClaim
	// published are the pod IPs the peer Service's EndpointSlices list by
	// pod name: those pods' DNS names resolve. nil when they list no pod at
	// all (nothing publishes them here, or not yet).
	published map[string]string
	// now is when the pass observed.
	now time.Time
	// members talks to the running pods; nil when none runs.
	members MemberClient
	// statuses are the members' own answers, by pod name.
	statuses map[string]*serverpb.StatusResponse
	// leader is the leader's answer; nil when no leader answered.
	leader *serverpb.StatusResponse
	// observed is set once observe completed: before, the pass knows
	// nothing of the members and status keeps what the last pass saw.
	observed bool
	obs      plan.Observation
	action   plan.Action
	// storage is the StorageResizing condition ensureStorage computed; nil
	// when no resize was ever asked for.
	storage *metav1.Condition
	// tls is what ensureTLS made of the cluster's certificates (nil with
	// TLS disabled); tlsEnsured says ensureTLS ran, so status may be set
	// from it.
	tls        *raftv1.TLSStatus
	tlsEnsured bool
	// ca is the cluster's CA as ensureTLS read or made it; nil with TLS
	// disabled or certificates from cert-manager.
	ca *authority
	// restore is what ensureObjects made of spec.restore.
	restore restoreState
}

func (p *pass) close() {
	if p.members != nil {
		_ = p.members.Close()
	}
}

// observe fetches the StatefulSet, pods and claims, asks every running pod
// for its Status, and builds the planner's Observation.
func (r *RaftClusterReconciler) observe(ctx context.Context, p *pass) error {
	rc := p.cluster
	sts := &appsv1.StatefulSet{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: statefulSetName(rc)}, sts); {
	case err == nil:
		p.sts = sts
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get StatefulSet: %w", err)
	}
	cm := &corev1.ConfigMap{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: bootstrapName(rc)}, cm); {
	case err == nil:
		p.foundingNobody = joinMode(cm)
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get the bootstrap ConfigMap: %w", err)
	}
	sel := []client.ListOption{client.InNamespace(rc.Namespace), client.MatchingLabels(selectorLabels(rc))}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, sel...); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	p.pods = pods.Items
	var claims corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &claims, sel...); err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	p.claims = claims.Items
	var slices discoveryv1.EndpointSliceList
	if err := r.List(ctx, &slices, client.InNamespace(rc.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: peerServiceName(rc)}); err != nil {
		return fmt.Errorf("list the peer Service's EndpointSlices: %w", err)
	}
	p.published = publishedAddresses(slices.Items)
	p.now = time.Now()
	if err := r.askMembers(ctx, p); err != nil {
		return err
	}
	p.obs = observation(p)
	p.observed = true
	return nil
}

// askMembers asks every running pod for its Status, in parallel.
func (r *RaftClusterReconciler) askMembers(ctx context.Context, p *pass) error {
	p.statuses = map[string]*serverpb.StatusResponse{}
	var endpoints []string
	podOf := map[string]string{}
	for _, pod := range p.pods {
		if !askable(&pod) {
			continue
		}
		ep := podEndpoint(pod.Status.PodIP)
		endpoints = append(endpoints, ep)
		podOf[ep] = pod.Name
	}
	if len(endpoints) == 0 {
		return nil
	}
	tlsConfig, err := r.memberTLS(ctx, p.cluster)
	if apierrors.IsNotFound(err) {
		// No admin certificate yet (a paused cluster never got one): the
		// members cannot be asked and count as unreachable.
		log.FromContext(ctx).Info("no admin certificate to call the members with yet", "err", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	mc, err := r.Members(ctx, endpoints, tlsConfig)
	if err != nil {
		return fmt.Errorf("member client: %w", err)
	}
	p.members = mc
	sctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	answers, err := mc.ClusterStatus(sctx)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("ask members for status: %w", err)
	}
	for _, a := range answers {
		if a.Err != nil {
			log.FromContext(ctx).V(1).Info("member did not answer", "pod", podOf[a.Endpoint], "error", a.Err.Error())
			continue
		}
		p.statuses[podOf[a.Endpoint]] = a.Status
		// A deposed leader that has not heard of its successor yet still
		// says it leads: the one of the highest term is the leader.
		if a.Status.GetRole() == serverpb.Role_ROLE_LEADER && !a.Status.GetRemoved() &&
			(p.leader == nil || a.Status.GetHeader().GetTerm() > p.leader.GetHeader().GetTerm()) {
			p.leader = a.Status
		}
	}
	return nil
}

// observation turns what the pass fetched into the planner's input.
func observation(p *pass) plan.Observation {
	rc := p.cluster
	obs := plan.Observation{
		Name:       rc.Name,
		Desired:    desiredReplicas(rc),
		Retention:  plan.RetentionDelete,
		ClusterID:  parseID(rc.Status.ClusterID),
		FreshStart: rc.Spec.Bootstrap == raftv1.BootstrapFresh,
	}
	obs.Adopting = !obs.Bootstrapped() && p.foundingNobody
	obs.ForceNewCluster = forceRequested(rc)
	if rc.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == raftv1.RetentionRetain {
		obs.Retention = plan.RetentionRetain
	}
	if p.sts != nil {
		obs.StatefulSet = &plan.StatefulSet{Replicas: int(ptrOr(p.sts.Spec.Replicas, 1)),
			CurrentRevision: p.sts.Status.CurrentRevision, UpdateRevision: p.sts.Status.UpdateRevision}
	}
	for _, pod := range p.pods {
		ordinal := plan.ParseOrdinal(rc.Name, pod.Name)
		if ordinal < 0 {
			continue
		}
		op := plan.Pod{
			Ordinal:     ordinal,
			Name:        pod.Name,
			Terminating: pod.DeletionTimestamp != nil,
			Pending:     pod.Status.Phase == corev1.PodPending,
			Running:     podRunning(&pod),
			CannotRun:   cannotRun(&pod, p.claims, p.now),
			Ready:       podReady(&pod),
			Revision:    pod.Labels[appsv1.StatefulSetRevisionLabel],
			AwaitingDNS: awaitingDNS(&pod, p.published, p.now),
		}
		if st := p.statuses[pod.Name]; st != nil {
			op.Member = &plan.MemberStatus{
				ID:             st.GetSelf().GetId(),
				ClusterID:      st.GetHeader().GetClusterId(),
				Removed:        st.GetRemoved(),
				PeerAddress:    st.GetSelf().GetPeerAddress(),
				ClientAddress:  st.GetSelf().GetClientAddress(),
				Voters:         st.GetConfiguration().GetVoters(),
				OutgoingVoters: st.GetConfiguration().GetOutgoingVoters(),
				LastLogTerm:    st.GetLastLogTerm(),
				LastLogIndex:   st.GetLastLogIndex(),
			}
		}
		obs.Pods = append(obs.Pods, op)
	}
	for _, c := range p.claims {
		ordinal := plan.ParseOrdinal(rc.Name, strings.TrimPrefix(c.Name, dataVolume+"-"))
		if ordinal < 0 || !strings.HasPrefix(c.Name, dataVolume+"-") {
			continue
		}
		obs.Claims = append(obs.Claims, plan.Claim{Ordinal: ordinal, Name: c.Name, Terminating: c.DeletionTimestamp != nil})
	}
	if p.leader != nil {
		obs.Raft = raftStatus(p.leader)
	}
	return obs
}

// raftStatus is the leader's Status as the planner reads it.
func raftStatus(st *serverpb.StatusResponse) *plan.RaftStatus {
	cfg := st.GetConfiguration()
	rs := &plan.RaftStatus{
		ClusterID:      st.GetHeader().GetClusterId(),
		LeaderID:       st.GetHeader().GetLeaderId(),
		Voters:         cfg.GetVoters(),
		OutgoingVoters: cfg.GetOutgoingVoters(),
		Learners:       cfg.GetLearners(),
		LearnersNext:   cfg.GetLearnersNext(),
		Removed:        cfg.GetRemoved(),
		Members:        map[uint64]plan.Member{},
		Progress:       map[uint64]plan.Progress{},
		CommitIndex:    st.GetCommitIndex(),
		LeadTransferee: st.GetLeadTransferee(),
	}
	for _, m := range cfg.GetMembers() {
		rs.Members[m.GetId()] = plan.Member{ID: m.GetId(), Name: m.GetName(), PeerAddress: m.GetPeerAddress(), ClientAddress: m.GetClientAddress()}
	}
	for _, pr := range st.GetProgress() {
		rs.Progress[pr.GetId()] = plan.Progress{MatchIndex: pr.GetMatchIndex(), RecentActive: pr.GetRecentActive()}
	}
	return rs
}

func desiredReplicas(rc *raftv1.RaftCluster) int {
	return int(ptrOr(rc.Spec.Replicas, 3))
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// formatID and parseID convert member and cluster ids to and from the
// lower-case hex the API shows (raftctl's form).
func formatID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 16)
}

func parseID(s string) uint64 {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0
	}
	return id
}

// askable reports whether a pod is asked for its Status: it runs, has an
// address and is not going away.
func askable(pod *corev1.Pod) bool {
	return pod.Status.PodIP != "" && pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil
}

func podRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == containerName {
			return cs.State.Running != nil
		}
	}
	return false
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// publishedAddresses maps pod name to the address the EndpointSlices list
// for it; nil when they list no pod at all.
func publishedAddresses(slices []discoveryv1.EndpointSlice) map[string]string {
	var out map[string]string
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[ep.TargetRef.Name] = ep.Addresses[0]
		}
	}
	return out
}

// dnsPublishGrace bounds the wait for a pod's DNS name: past it the name is
// not coming (addresses Kubernetes will not publish, a broken EndpointSlice
// controller) and adding the member late is better than never.
const dnsPublishGrace = time.Minute

// awaitingDNS: the pod runs with an IP that the peer Service does not list
// for it yet, so its DNS name does not resolve to it. Nothing can be told
// when the Service lists no pod at all (a cluster without the EndpointSlice
// controller, or pod IPs it may not publish, such as loopback ones), and a
// pod that started more than dnsPublishGrace ago is not held back.
func awaitingDNS(pod *corev1.Pod, published map[string]string, now time.Time) bool {
	if published == nil || pod.Status.PodIP == "" {
		return false
	}
	if start := pod.Status.StartTime; start != nil && now.Sub(start.Time) > dnsPublishGrace {
		return false
	}
	return published[pod.Name] != pod.Status.PodIP
}

// stuckWaiting are the waiting reasons of a container that will not start
// without a change: the image, its pull, its configuration, or a crash loop.
var stuckWaiting = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true,
}

// claimBindGrace is how long a member's new claim may stay unbound before
// its pod's Unschedulable counts: the scheduler holds every new member's
// pod until its volume is provisioned.
const claimBindGrace = time.Minute

// cannotRun says why the pod's raftnode container cannot start, or "" when
// nothing says it cannot (it runs, or it is still starting: including a pod
// the scheduler holds while its new claim is provisioned).
func cannotRun(pod *corev1.Pod, claims []corev1.PersistentVolumeClaim, now time.Time) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			if claimBinding(pod, claims, now) {
				return ""
			}
			return "Unschedulable: " + c.Message
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; cs.Name == containerName && w != nil && stuckWaiting[w.Reason] {
			if w.Message == "" {
				return w.Reason
			}
			return w.Reason + ": " + w.Message
		}
	}
	return ""
}

// claimBinding reports whether the pod's data claim is not made yet, or
// unbound for less than claimBindGrace.
func claimBinding(pod *corev1.Pod, claims []corev1.PersistentVolumeClaim, now time.Time) bool {
	name := dataVolume + "-" + pod.Name
	for _, c := range claims {
		if c.Name == name {
			return c.Status.Phase != corev1.ClaimBound && now.Sub(c.CreationTimestamp.Time) < claimBindGrace
		}
	}
	return true
}

// forceRequested: the disaster-recovery annotation names this cluster's id.
// Naming the id guards against an annotation meant for an earlier cluster
// of the same name.
func forceRequested(rc *raftv1.RaftCluster) bool {
	v, ok := rc.Annotations[raftv1.AnnotationForceNewCluster]
	return ok && rc.Status.ClusterID != "" && v == rc.Status.ClusterID
}
