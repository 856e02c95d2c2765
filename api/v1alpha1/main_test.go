package v1alpha1_test

import (
	"os"
	"testing"

	"github.com/raftkube/raftkube/test/kubeenv"
)

// One kube-apiserver (and etcd) serves every test of this binary: it is
// started by the first test that needs it and stopped by TestMain. The CRD is
// the generated one from config/crd/bases, so these tests check what
// `kubectl apply` users get, not the Go types.
var kube kubeenv.Shared

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

// apiServer is the shared control plane, with this package's helpers.
type apiServer struct{ *kubeenv.Server }

// server returns the shared API server, starting it on first use.
func server(t *testing.T) apiServer { return apiServer{kube.Get(t)} }
