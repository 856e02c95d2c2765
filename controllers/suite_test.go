package controllers

import (
	"os"
	"testing"

	"github.com/raftkube/raftkube/test/kubeenv"
)

// One kube-apiserver (and etcd) serves every envtest test of this binary:
// started by the first test that needs it, stopped by TestMain. The unit
// tests of the pure parts never start it. The CRD is the generated one from
// config/crd/bases, so the status and scale subresources are what users get.
//
// envtest runs no kube-controller-manager: no StatefulSet controller makes
// pods and no garbage collector deletes owned objects. The tests create the
// pods and claims themselves and check owner references; the e2e suite
// (test/e2e) covers garbage collection and real pods.
var kube kubeenv.Shared

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

// server returns the shared API server (uncached client: a pass sees what
// the previous one wrote, so the tests are deterministic), starting it on
// first use.
func server(t *testing.T) *kubeenv.Server { return kube.Get(t) }
