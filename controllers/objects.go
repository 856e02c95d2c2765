package controllers

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// Ports and paths of a member's container: raftnode's defaults, named so
// Services and probes refer to them by name.
const (
	containerName  = "raftnode"
	peerPortName   = "peer"
	clientPortName = "client"
	httpPortName   = "http"
	peerPort       = 2380
	clientPort     = 2379
	httpPort       = 8080
	dataVolume     = "data"
	dataDir        = "/var/lib/raftnode"

	// bootstrapKey is the key of the bootstrap ConfigMap naming the pod that
	// forms the cluster; empty once the cluster exists.
	bootstrapKey = "bootstrap-member"

	// managerName is the app.kubernetes.io/managed-by value.
	managerName = "raftkube-operator"
	// appName is the app.kubernetes.io/name value of the members.
	appName = "raftnode"

	// defaultGracePeriod lets a leader hand leadership over before it stops
	// (raftnode bounds the hand-off by two election timeouts).
	defaultGracePeriod = int64(30)
)

// Settings are the operator-wide choices the objects depend on.
type Settings struct {
	// NodeImage is the member image of clusters that name none.
	NodeImage string
	// ClusterDomain is the cluster's DNS domain, for the members' advertised
	// names (POD.PEER-SERVICE.NAMESPACE.svc.DOMAIN).
	ClusterDomain string
	// OperatorNamespace is the namespace the manager runs in, whose pods
	// the NetworkPolicy lets reach the members' client port. Empty: no
	// namespace is let in for the operator's sake.
	OperatorNamespace string
}

// Names of a cluster's owned objects.
func peerServiceName(rc *raftv1.RaftCluster) string   { return rc.Name + "-peer" }
func clientServiceName(rc *raftv1.RaftCluster) string { return rc.Name }
func statefulSetName(rc *raftv1.RaftCluster) string   { return rc.Name }
func budgetName(rc *raftv1.RaftCluster) string        { return rc.Name }
func bootstrapName(rc *raftv1.RaftCluster) string     { return rc.Name + "-bootstrap" }

// podName is the name of the StatefulSet's pod with ordinal i.
func podName(rc *raftv1.RaftCluster, i int32) string {
	return statefulSetName(rc) + "-" + strconv.Itoa(int(i))
}

// selectorLabels select a cluster's pods; every owned object carries them.
func selectorLabels(rc *raftv1.RaftCluster) map[string]string {
	return map[string]string{
		raftv1.LabelName:      appName,
		raftv1.LabelInstance:  rc.Name,
		raftv1.LabelManagedBy: managerName,
		raftv1.LabelCluster:   rc.Name,
	}
}

// selectorString is selectorLabels as a label selector string, for the scale
// subresource.
func selectorString(rc *raftv1.RaftCluster) string {
	return metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: selectorLabels(rc)})
}

// memberAddress is the DNS name:port a member advertises: its stable
// StatefulSet name under the headless peer Service. $(POD_NAME) and
// $(POD_NAMESPACE) are expanded by the kubelet from the pod's env.
func memberAddress(rc *raftv1.RaftCluster, domain string, port int) string {
	return fmt.Sprintf("$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s:%d", peerServiceName(rc), domain, port)
}

// podEndpoint is the address of a pod's client API as the operator dials it:
// its IP, so the operator needs no cluster DNS.
func podEndpoint(podIP string) string {
	return fmt.Sprintf("%s:%d", podIP, clientPort)
}

// mutatePeerService makes svc the headless Service that gives each member its
// DNS name. It publishes members before they are ready: a new member must be
// reachable to catch up, and is ready only once it has.
func mutatePeerService(rc *raftv1.RaftCluster, svc *corev1.Service) {
	svc.Labels = mergeLabels(svc.Labels, selectorLabels(rc))
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	svc.Spec.PublishNotReadyAddresses = true
	svc.Spec.Selector = selectorLabels(rc)
	svc.Spec.Ports = []corev1.ServicePort{
		{Name: peerPortName, Port: peerPort, TargetPort: intstr.FromString(peerPortName), Protocol: corev1.ProtocolTCP},
		{Name: clientPortName, Port: clientPort, TargetPort: intstr.FromString(clientPortName), Protocol: corev1.ProtocolTCP},
	}
}

// mutateClientService makes svc the Service clients use: the ready members'
// client API.
func mutateClientService(rc *raftv1.RaftCluster, svc *corev1.Service) {
	svc.Labels = mergeLabels(svc.Labels, selectorLabels(rc))
	svc.Spec.Selector = selectorLabels(rc)
	svc.Spec.Ports = []corev1.ServicePort{
		{Name: clientPortName, Port: clientPort, TargetPort: intstr.FromString(clientPortName), Protocol: corev1.ProtocolTCP},
	}
}

// mutateBootstrap sets the bootstrap ConfigMap: the pod named in it forms a
// new cluster when it starts on an empty volume; once the cluster exists it
// names nobody, so a pod 0 that comes back empty joins as a new member
// instead of founding a second cluster.
func mutateBootstrap(rc *raftv1.RaftCluster, cm *corev1.ConfigMap, bootstrapped bool) {
	cm.Labels = mergeLabels(cm.Labels, selectorLabels(rc))
	member := podName(rc, 0)
	if bootstrapped {
		member = ""
	}
	cm.Data = map[string]string{bootstrapKey: member}
}

// mutateBudget keeps a majority of the current voters available, so a node
// drain never takes the cluster below quorum. The number follows the voters
// as they change: a fixed number would let drains break quorum after a
// scale-up.
func mutateBudget(rc *raftv1.RaftCluster, pdb *policyv1.PodDisruptionBudget, minAvailable int32) {
	pdb.Labels = mergeLabels(pdb.Labels, selectorLabels(rc))
	ma := intstr.FromInt32(minAvailable)
	pdb.Spec.MinAvailable = &ma
	pdb.Spec.MaxUnavailable = nil
	pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: selectorLabels(rc)}
}

// mutateStatefulSet makes sts run the cluster's members. replicas is used
// only when sts is created; afterwards the planner alone changes it. Fields
// the API server refuses to change (selector, service name, claim templates,
// pod management) are set only on creation. restore, until the cluster is
// bootstrapped from it, is the backup the first member founds it from (see
// withRestore); nil otherwise.
func mutateStatefulSet(rc *raftv1.RaftCluster, sts *appsv1.StatefulSet, s Settings, replicas int32, restore *restoreSource) {
	sts.Labels = mergeLabels(sts.Labels, selectorLabels(rc))
	if sts.CreationTimestamp.IsZero() {
		sts.Spec.Replicas = &replicas
		sts.Spec.ServiceName = peerServiceName(rc)
		sts.Spec.Selector = &metav1.LabelSelector{MatchLabels: selectorLabels(rc)}
		// Members start together: a new member must answer before it is
		// added, and is ready only after.
		sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claimTemplate(rc)}
	}
	// The operator restarts members itself, in an order Raft can take.
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	// Claims of removed members are deleted by the operator once they have
	// left the configuration (spec.persistentVolumeClaimRetentionPolicy);
	// the StatefulSet controller would delete them on scale-down before that.
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if rc.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == raftv1.RetentionDelete {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenDeleted: whenDeleted,
	}
	// The template is compared by a hash of what the operator wrote: the
	// API server fills defaults into the stored one, so comparing the
	// objects would find a difference on every pass.
	tmpl := podTemplate(rc, s)
	if restore != nil {
		withRestore(&tmpl, restore)
	}
	hash := templateHash(&tmpl)
	if sts.Annotations[annotationTemplateHash] != hash {
		if sts.Annotations == nil {
			sts.Annotations = map[string]string{}
		}
		sts.Annotations[annotationTemplateHash] = hash
		sts.Spec.Template = tmpl
	}
}

// annotationTemplateHash on the StatefulSet is the hash of the pod template
// the operator last wrote.
const annotationTemplateHash = "raftkube.io/template-hash"

func templateHash(t *corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("marshal pod template: %v", err)) // plain API structs always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func claimTemplate(rc *raftv1.RaftCluster) corev1.PersistentVolumeClaim {
	size := rc.Spec.Storage.Size
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: selectorLabels(rc)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: rc.Spec.Storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

// nodeImage is the raftnode image of rc's pods: its own, else the
// operator's default.
func nodeImage(rc *raftv1.RaftCluster, s Settings) string {
	return cmp.Or(rc.Spec.Image, s.NodeImage)
}

// secretVolume is a read-only volume of Secret secret (of items, if any),
// readable by the pod's fsGroup, not by the world.
func secretVolume(name, secret string, items ...corev1.KeyToPath) corev1.Volume {
	mode := int32(0o440)
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: secret, Items: items, DefaultMode: &mode},
	}}
}

func podTemplate(rc *raftv1.RaftCluster, s Settings) corev1.PodTemplateSpec {
	o := rc.Spec.Pod
	grace := defaultGracePeriod
	if o.TerminationGracePeriodSeconds != nil {
		grace = *o.TerminationGracePeriodSeconds
	}
	volumes, mounts := []corev1.Volume(nil), []corev1.VolumeMount{{Name: dataVolume, MountPath: dataDir}}
	if rc.Spec.TLS.IsEnabled() {
		// Readable by the pod's fsGroup, not by the world; the kubelet
		// updates the files in place when the Secret changes, and raftnode
		// reloads them.
		volumes = append(volumes, secretVolume(tlsVolume, memberSecretName(rc)))
		mounts = append(mounts, corev1.VolumeMount{Name: tlsVolume, MountPath: tlsDir, ReadOnly: true})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      mergeLabels(maps.Clone(o.Labels), selectorLabels(rc)),
			Annotations: maps.Clone(o.Annotations),
		},
		Spec: corev1.PodSpec{
			NodeSelector:              o.NodeSelector,
			Affinity:                  affinity(rc),
			Tolerations:               o.Tolerations,
			TopologySpreadConstraints: o.TopologySpreadConstraints,
			SecurityContext:           podSecurityContext(o.SecurityContext),
			// raftnode never talks to the Kubernetes API: a token in the
			// pod would only be a credential to steal.
			AutomountServiceAccountToken:  new(false),
			PriorityClassName:             o.PriorityClassName,
			TerminationGracePeriodSeconds: &grace,
			Volumes:                       volumes,
			Containers: []corev1.Container{{
				Name:            containerName,
				Image:           nodeImage(rc, s),
				ImagePullPolicy: rc.Spec.ImagePullPolicy,
				Env:             memberEnv(rc, s),
				Ports: []corev1.ContainerPort{
					{Name: peerPortName, ContainerPort: peerPort, Protocol: corev1.ProtocolTCP},
					{Name: clientPortName, ContainerPort: clientPort, Protocol: corev1.ProtocolTCP},
					{Name: httpPortName, ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
				},
				Resources:       rc.Spec.Resources,
				VolumeMounts:    mounts,
				SecurityContext: containerSecurityContext(),
				// Ready: in the configuration, leader known, caught up (a
				// ReadIndex round completes). Services and the budget count
				// only such members.
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:     httpProbe("/readyz"),
					PeriodSeconds:    2,
					TimeoutSeconds:   2,
					FailureThreshold: 3,
				},
				// Alive: the event loop answers. A member that cannot reach
				// a leader is still alive; restarting it would not help.
				LivenessProbe: &corev1.Probe{
					ProbeHandler:     httpProbe("/healthz"),
					PeriodSeconds:    10,
					TimeoutSeconds:   5,
					FailureThreshold: 6,
				},
			}},
		},
	}
}

// affinity is spec.pod.affinity, with the members kept off each other's
// nodes (preferred by default, required on request) unless it sets pod
// anti-affinity itself: one node's loss then costs at most one member.
func affinity(rc *raftv1.RaftCluster) *corev1.Affinity {
	o := rc.Spec.Pod
	if o.AntiAffinity == raftv1.AntiAffinityNone || (o.Affinity != nil && o.Affinity.PodAntiAffinity != nil) {
		return o.Affinity
	}
	a := &corev1.Affinity{}
	if o.Affinity != nil {
		a = o.Affinity.DeepCopy()
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: selectorLabels(rc)},
		TopologyKey:   corev1.LabelHostname,
	}
	if o.AntiAffinity == raftv1.AntiAffinityRequired {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}
	} else {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 100, PodAffinityTerm: term},
		}}
	}
	return a
}

// nonRootID is the user and group the raftnode image runs as.
const nonRootID = int64(65532)

// podSecurityContext is the spec's pod security context, or, when it sets
// none, one that meets the "restricted" Pod Security Standard: the image's
// non-root user, and fsGroup so that the data volume is writable by it on
// volume types that support ownership (OnRootMismatch: a large volume is not
// walked on every start).
func podSecurityContext(spec *corev1.PodSecurityContext) *corev1.PodSecurityContext {
	if spec != nil {
		return spec
	}
	nonRoot := true
	id := nonRootID
	onRootMismatch := corev1.FSGroupChangeOnRootMismatch
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        &nonRoot,
		RunAsUser:           &id,
		RunAsGroup:          &id,
		FSGroup:             &id,
		FSGroupChangePolicy: &onRootMismatch,
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext: raftnode writes only to its data volume and
// needs no privilege, so the root filesystem is read-only and every
// capability dropped, whatever the pod's security context says.
func containerSecurityContext() *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func httpProbe(path string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(httpPortName)}}
}

// memberEnv configures raftnode through its RAFTNODE_* variables. Members
// listen on their pod IP (not 0.0.0.0: nothing else in the pod needs the
// ports) and advertise their stable DNS names, which survive a restart on a
// new IP.
func memberEnv(rc *raftv1.RaftCluster, s Settings) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	r := rc.Spec.Raft
	optional := true
	env := []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_IP", "status.podIP"),
		{Name: "RAFTNODE_NAME", Value: "$(POD_NAME)"},
		{Name: "RAFTNODE_DATA_DIR", Value: dataDir},
		{Name: "RAFTNODE_LISTEN_PEER", Value: fmt.Sprintf("$(POD_IP):%d", peerPort)},
		{Name: "RAFTNODE_ADVERTISE_PEER", Value: memberAddress(rc, s.ClusterDomain, peerPort)},
		{Name: "RAFTNODE_LISTEN_CLIENT", Value: fmt.Sprintf("$(POD_IP):%d", clientPort)},
		{Name: "RAFTNODE_ADVERTISE_CLIENT", Value: memberAddress(rc, s.ClusterDomain, clientPort)},
		{Name: "RAFTNODE_LISTEN_HTTP", Value: fmt.Sprintf("$(POD_IP):%d", httpPort)},
		{Name: "RAFTCTL_ENDPOINTS", Value: fmt.Sprintf("$(POD_IP):%d", clientPort)},
		// Read when the container starts: only the pod it names, on an empty
		// volume, forms a cluster (see mutateBootstrap).
		{Name: "RAFTNODE_BOOTSTRAP_MEMBER", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: bootstrapName(rc)},
			Key:                  bootstrapKey,
			Optional:             &optional,
		}}},
	}
	if rc.Spec.TLS.IsEnabled() {
		// One certificate for both ports (see leafRequests). The peer port
		// admits members only: an application certificate from the same CA
		// cannot send Raft messages.
		cert, key, bundle := tlsDir+"/"+keyCert, tlsDir+"/"+keyKey, tlsDir+"/"+keyBundle
		env = append(env,
			corev1.EnvVar{Name: "RAFTNODE_PEER_CERT_FILE", Value: cert},
			corev1.EnvVar{Name: "RAFTNODE_PEER_KEY_FILE", Value: key},
			corev1.EnvVar{Name: "RAFTNODE_PEER_TRUSTED_CA_FILE", Value: bundle},
			corev1.EnvVar{Name: "RAFTNODE_PEER_ALLOWED_ORGANIZATION", Value: tlsconfig.MemberOrganization},
			corev1.EnvVar{Name: "RAFTNODE_CLIENT_CERT_FILE", Value: cert},
			corev1.EnvVar{Name: "RAFTNODE_CLIENT_KEY_FILE", Value: key},
			corev1.EnvVar{Name: "RAFTNODE_CLIENT_TRUSTED_CA_FILE", Value: bundle},
			corev1.EnvVar{Name: "RAFTNODE_CLIENT_ADMIN_ORGANIZATION", Value: tlsconfig.AdminOrganization},
			// `kubectl exec POD -- raftctl ...` then just works, as the member.
			corev1.EnvVar{Name: "RAFTCTL_CACERT", Value: bundle},
			corev1.EnvVar{Name: "RAFTCTL_CERT", Value: cert},
			corev1.EnvVar{Name: "RAFTCTL_KEY", Value: key},
			corev1.EnvVar{Name: "RAFTCTL_TLS_SERVER_NAME", Value: serverName(rc)},
		)
	}
	if r.TickInterval.Duration > 0 {
		env = append(env, corev1.EnvVar{Name: "RAFTNODE_TICK_INTERVAL", Value: r.TickInterval.Duration.String()})
	}
	if r.ElectionTicks > 0 {
		env = append(env, corev1.EnvVar{Name: "RAFTNODE_ELECTION_TICKS", Value: strconv.Itoa(int(r.ElectionTicks))})
	}
	if r.HeartbeatTicks > 0 {
		env = append(env, corev1.EnvVar{Name: "RAFTNODE_HEARTBEAT_TICKS", Value: strconv.Itoa(int(r.HeartbeatTicks))})
	}
	if r.SnapshotEntries > 0 {
		env = append(env, corev1.EnvVar{Name: "RAFTNODE_SNAPSHOT_ENTRIES", Value: strconv.FormatInt(r.SnapshotEntries, 10)})
	}
	if r.SnapshotBytes != nil {
		env = append(env, corev1.EnvVar{Name: "RAFTNODE_SNAPSHOT_BYTES", Value: strconv.FormatInt(r.SnapshotBytes.Value(), 10)})
	}
	return env
}

// mergeLabels returns dst with every label of src set, keeping dst's others
// (labels another controller or a person added stay).
func mergeLabels(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = make(map[string]string, len(src))
	}
	maps.Copy(dst, src)
	return dst
}
