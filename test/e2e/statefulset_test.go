package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

const (
	ns         = "default"
	name       = "raft" // the Service and the StatefulSet
	peerPort   = 2380
	clientPort = 2379
	httpPort   = 8080
)

// TestStatefulSet runs a 3-pod raftnode StatefulSet: pod 0 bootstraps, the
// test adds pods 1 and 2 through the admin API under their DNS names, writes
// through pod 0 and reads through pod 2, deletes pod 1 and checks it comes back
// as the same member with its data, and reads a pod's log through the API.
func TestStatefulSet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	pods := e.client.CoreV1().Pods(ns)

	if _, err := e.client.CoreV1().Services(ns).Create(ctx, headlessService(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.AppsV1().StatefulSets(ns).Create(ctx, statefulSet(e.dataDir()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// All three start (Parallel); only pod 0, the bootstrapped member, is Ready.
	ips := make([]string, 3)
	for i := range ips {
		p := waitPod(ctx, t, e, i, "", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
		ips[i] = p.Status.PodIP
	}
	waitPod(ctx, t, e, 0, "", podReady)

	c0 := newClient(ctx, t, ips[0])
	var joiners []*serverpb.Member
	for i := 1; i <= 2; i++ {
		c := newClient(ctx, t, ips[i])
		var self *serverpb.Member
		waitFor(ctx, t, fmt.Sprintf("%s-%d's status", name, i), func(ctx context.Context) (bool, error) {
			st, err := c.Status(ctx, c.Endpoints()[0])
			if err != nil {
				return false, err
			}
			self = st.GetSelf()
			return self.GetId() != 0, nil
		})
		if p, err := pods.Get(ctx, podName(i), metav1.GetOptions{}); err != nil || podReady(p) {
			t.Fatalf("%s is Ready (err %v) before it was added to the cluster", podName(i), err)
		}
		m := &serverpb.Member{
			Id:            self.GetId(),
			Name:          podName(i),
			PeerAddress:   dnsAddr(i, peerPort),
			ClientAddress: dnsAddr(i, clientPort),
		}
		if _, err := c0.AddLearner(ctx, m); err != nil {
			t.Fatalf("add %s as learner: %v", podName(i), err)
		}
		joiners = append(joiners, m)
	}
	var promote []*serverpb.MembershipChange
	for _, m := range joiners {
		promote = append(promote, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: m.GetId()})
	}
	resp, err := c0.ChangeMembership(ctx, promote, false)
	if err != nil {
		t.Fatalf("promote pods 1 and 2: %v", err)
	}
	t.Logf("configuration after promotion: %v", resp)

	for i := range 3 {
		waitPod(ctx, t, e, i, "", podReady)
	}
	waitFor(ctx, t, "StatefulSet readyReplicas=3", func(ctx context.Context) (bool, error) {
		s, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 3, err
	})

	key, value := []byte("greeting"), []byte("hello from "+podName(0))
	if _, err := c0.Put(ctx, key, value); err != nil {
		t.Fatalf("put through %s: %v", podName(0), err)
	}
	c2 := newClient(ctx, t, ips[2])
	kv, found, err := c2.Get(ctx, key)
	if err != nil || !found || string(kv.GetValue()) != string(value) {
		t.Fatalf("linearizable get through %s = %q, found %v, err %v; want %q", podName(2), kv.GetValue(), found, err, value)
	}

	// Pod 1 has the value before it goes (it may apply it a little after pod 2).
	c1 := newClient(ctx, t, ips[1])
	waitFor(ctx, t, podName(1)+" applied the put", func(ctx context.Context) (bool, error) {
		kv, found, err := c1.Get(ctx, key, client.Serializable())
		return err == nil && found && string(kv.GetValue()) == string(value), err
	})
	old, err := pods.Get(ctx, podName(1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, podName(1), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	back := waitPod(ctx, t, e, 1, old.UID, podReady)
	c1 = newClient(ctx, t, back.Status.PodIP)
	st, err := c1.Status(ctx, c1.Endpoints()[0])
	if err != nil {
		t.Fatalf("status of the new %s: %v", podName(1), err)
	}
	if got, want := st.GetSelf().GetId(), joiners[0].GetId(); got != want {
		t.Errorf("%s came back as member %x, want %x", podName(1), got, want)
	}
	// Serializable: answered from the member's own state, which it reloads
	// from its claim (a member with an empty data dir would have a new id and
	// never be Ready).
	waitFor(ctx, t, "the new "+podName(1)+" serving the value", func(ctx context.Context) (bool, error) {
		kv, found, err := c1.Get(ctx, key, client.Serializable())
		return err == nil && found && string(kv.GetValue()) == string(value), err
	})

	// kubectl logs: through the API server to the kubelet's API.
	logs, err := pods.GetLogs(podName(0), &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of %s: %v", podName(0), err)
	}
	if !strings.Contains(string(logs), "msg=serving") || !strings.Contains(string(logs), "member="+podName(0)) {
		t.Errorf("log of %s lacks raftnode's startup line:\n%s", podName(0), logs)
	}

	// A crashed pod: the kubelet restarts its process, which rejoins as the
	// same member with its data.
	p2, err := pods.Get(ctx, podName(2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.killPod(p2); err != nil {
		t.Fatalf("kill %s: %v", podName(2), err)
	}
	waitPod(ctx, t, e, 2, "", func(p *corev1.Pod) bool {
		return p.UID == p2.UID && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 && podReady(p)
	})
	waitFor(ctx, t, podName(2)+" serving the value after its crash", func(ctx context.Context) (bool, error) {
		kv, found, err := c2.Get(ctx, key, client.Serializable())
		return err == nil && found && string(kv.GetValue()) == string(value), err
	})

	// A stalled leader: the others elect a new one; resumed, it follows.
	st, err = c2.Status(ctx, c2.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	oldLeader := st.GetHeader().GetLeaderId()
	leaderPod := -1
	for i, c := range []*client.Client{c0, c1, c2} {
		if s, err := c.Status(ctx, c.Endpoints()[0]); err == nil && s.GetSelf().GetId() == oldLeader {
			leaderPod = i
		}
	}
	if leaderPod < 0 {
		t.Fatalf("no pod is the leader %x", oldLeader)
	}
	lp, err := pods.Get(ctx, podName(leaderPod), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pausePod(lp); err != nil {
		t.Fatalf("pause %s: %v", lp.Name, err)
	}
	other := []*client.Client{c0, c1, c2}[(leaderPod+1)%3]
	waitFor(ctx, t, "a new leader while "+lp.Name+" is paused", func(ctx context.Context) (bool, error) {
		s, err := other.Status(ctx, other.Endpoints()[0])
		return err == nil && s.GetHeader().GetLeaderId() != 0 && s.GetHeader().GetLeaderId() != oldLeader, nil
	})
	if err := e.resumePod(lp); err != nil {
		t.Fatalf("resume %s: %v", lp.Name, err)
	}
	resumed := []*client.Client{c0, c1, c2}[leaderPod]
	waitFor(ctx, t, lp.Name+" following the new leader", func(ctx context.Context) (bool, error) {
		s, err := resumed.Status(ctx, resumed.Endpoints()[0])
		return err == nil && s.GetHeader().GetLeaderId() != 0 && s.GetHeader().GetLeaderId() != oldLeader, nil
	})

	partitionLeader(ctx, t, e, []*client.Client{c0, c1, c2})
}

// partitionLeader cuts the network between the leader's pod and both others:
// the two elect a leader of their own and take a write, the isolated member
// serves no linearizable read, and once healed it follows and has the write.
func partitionLeader(ctx context.Context, t *testing.T, e *env, clients []*client.Client) {
	t.Helper()
	pods := make([]*corev1.Pod, len(clients))
	leader := -1
	var leaderID uint64
	for i, c := range clients {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, podName(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = p
		st, err := c.Status(ctx, c.Endpoints()[0])
		if err != nil {
			t.Fatalf("status of %s: %v", p.Name, err)
		}
		if st.GetRole() == serverpb.Role_ROLE_LEADER {
			leader, leaderID = i, st.GetSelf().GetId()
		}
	}
	if leader < 0 {
		t.Fatal("no pod leads")
	}
	var heals []func()
	var majority []string
	for i, p := range pods {
		if i != leader {
			heals = append(heals, e.cutNetwork(t, pods[leader], p))
			majority = append(majority, net.JoinHostPort(p.Status.PodIP, fmt.Sprint(clientPort)))
		}
	}
	isolated := clients[leader]
	other := clients[(leader+1)%len(clients)]
	waitFor(ctx, t, "a new leader on the majority side of the cut", func(ctx context.Context) (bool, error) {
		s, err := other.Status(ctx, other.Endpoints()[0])
		return err == nil && s.GetHeader().GetLeaderId() != 0 && s.GetHeader().GetLeaderId() != leaderID, err
	})
	both, err := client.New(ctx, client.Config{Endpoints: majority, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = both.Close() }()
	key, value := []byte("partition"), []byte("written while "+pods[leader].Name+" was cut off")
	if _, err := both.Put(ctx, key, value); err != nil {
		t.Fatalf("put on the majority side: %v", err)
	}
	// Cut off, the old leader cannot confirm its leadership for a read.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	kv, found, err := isolated.Get(rctx, key)
	cancel()
	if err == nil {
		t.Fatalf("linearizable get through the cut-off %s succeeded: %q (found %v)", pods[leader].Name, kv.GetValue(), found)
	}
	t.Logf("get through the cut-off %s: %v (as expected)", pods[leader].Name, err)

	for _, heal := range heals {
		heal()
	}
	waitFor(ctx, t, pods[leader].Name+" following again and serving the write after the heal", func(ctx context.Context) (bool, error) {
		kv, found, err := isolated.Get(ctx, key)
		return err == nil && found && string(kv.GetValue()) == string(value), err
	})
}

func podName(i int) string { return fmt.Sprintf("%s-%d", name, i) }

func dnsAddr(i, port int) string {
	return fmt.Sprintf("%s.%s.%s.svc.cluster.local:%d", podName(i), name, ns, port)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPod waits for pod i, other than the one with UID notUID, to meet cond.
func waitPod(ctx context.Context, t *testing.T, e *env, i int, notUID types.UID, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(ctx, t, podName(i), func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, podName(i), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if notUID != "" && p.UID == notUID {
			return false, nil
		}
		pod = p
		return cond(p), nil
	})
	return pod
}

// newClient is a client of one member, reached by pod IP: the test process has
// no per-pod /etc/hosts to resolve the DNS names the members advertise.
func newClient(ctx context.Context, t *testing.T, podIP string) *client.Client {
	t.Helper()
	c, err := client.New(ctx, client.Config{
		Endpoints:   []string{net.JoinHostPort(podIP, fmt.Sprint(clientPort))},
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func headlessService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 map[string]string{"app": name},
			PublishNotReadyAddresses: true, // members find each other before they are Ready
			Ports: []corev1.ServicePort{
				{Name: "peer", Port: peerPort},
				{Name: "client", Port: clientPort},
			},
		},
	}
}

func statefulSet(dataDir string) *appsv1.StatefulSet {
	replicas, grace := int32(3), int64(1)
	labels := map[string]string{"app": name}
	fieldEnv := func(env, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	dns := "$(POD_NAME)." + name + "." + ns + ".svc.cluster.local"
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			ServiceName:         name,
			Replicas:            &replicas,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:  "raftnode",
						Image: nodeImage(),
						Env: []corev1.EnvVar{
							fieldEnv("POD_NAME", "metadata.name"),
							fieldEnv("POD_IP", "status.podIP"),
							{Name: "RAFTNODE_NAME", Value: "$(POD_NAME)"},
							// Every pod has this spec; only pod 0 bootstraps (and
							// only on an empty data dir).
							{Name: "RAFTNODE_BOOTSTRAP_MEMBER", Value: podName(0)},
							{Name: "RAFTNODE_DATA_DIR", Value: dataDir},
							{Name: "RAFTNODE_LISTEN_PEER", Value: fmt.Sprintf("$(POD_IP):%d", peerPort)},
							{Name: "RAFTNODE_ADVERTISE_PEER", Value: fmt.Sprintf("%s:%d", dns, peerPort)},
							{Name: "RAFTNODE_LISTEN_CLIENT", Value: fmt.Sprintf("$(POD_IP):%d", clientPort)},
							{Name: "RAFTNODE_ADVERTISE_CLIENT", Value: fmt.Sprintf("%s:%d", dns, clientPort)},
							{Name: "RAFTNODE_LISTEN_HTTP", Value: fmt.Sprintf("$(POD_IP):%d", httpPort)},
						},
						Ports: []corev1.ContainerPort{
							{Name: "peer", ContainerPort: peerPort},
							{Name: "client", ContainerPort: clientPort},
							{Name: "http", ContainerPort: httpPort},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: dataDir}},
						// A member is Ready once it is in the configuration,
						// knows a leader and completes a ReadIndex round, so
						// pods 1 and 2 become Ready only once added.
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/readyz", Port: intstr.FromString("http"),
							}},
							PeriodSeconds:    1,
							FailureThreshold: 3,
						},
					}},
				},
			},
		},
	}
}
