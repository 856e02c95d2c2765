package controlplane

import (
	"slices"
	"strings"
	"testing"
)

func TestComponentArgs(t *testing.T) {
	l := layout{dir: "/state"}
	p := ports{EtcdClient: 1001, EtcdPeer: 1002, APIServer: 1003, ControllerManager: 1004, Scheduler: 1005}
	for _, tc := range []struct {
		component string
		args      []string
		want      []string
	}{
		{Etcd, etcdArgs(l, p), []string{
			"--unsafe-no-fsync",
			"--listen-client-urls=http://127.0.0.1:1001",
			"--listen-peer-urls=http://127.0.0.1:1002",
			"--data-dir=/state/etcd",
		}},
		{KubeAPIServer, apiserverArgs(l, p), []string{
			"--etcd-servers=http://127.0.0.1:1001",
			"--bind-address=127.0.0.1",
			"--secure-port=1003",
			"--endpoint-reconciler-type=none",
			"--authorization-mode=Node,RBAC",
			"--token-auth-file=/state/pki/tokens.csv",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=/state/pki/sa.pub",
			"--service-account-signing-key-file=/state/pki/sa.key",
		}},
		{KubeControllerManager, controllerManagerArgs(l, p), []string{
			"--kubeconfig=/state/kubeconfig",
			"--bind-address=127.0.0.1",
			"--secure-port=1004",
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=/state/pki/sa.key",
			"--root-ca-file=/state/pki/ca.crt",
		}},
		{KubeScheduler, schedulerArgs(l, p), []string{
			"--kubeconfig=/state/kubeconfig",
			"--bind-address=127.0.0.1",
			"--secure-port=1005",
			"--leader-elect=false",
		}},
	} {
		t.Run(tc.component, func(t *testing.T) {
			for _, w := range tc.want {
				if !slices.Contains(tc.args, w) {
					t.Errorf("args lack %s:\n%s", w, strings.Join(tc.args, "\n"))
				}
			}
			for _, a := range tc.args {
				if strings.Contains(a, "admission-plugins") {
					t.Errorf("%s: admission plugins must stay the defaults", a)
				}
			}
		})
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ps, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if p == 0 || seen[p] {
			t.Fatalf("ports %v: zero or repeated", ps)
		}
		seen[p] = true
	}
}
