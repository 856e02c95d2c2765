// Package certmanager runs the real cert-manager controller for tests: the
// binary `make bin/cert-manager-controller` builds from hack/certmanager
// (cert-manager's own controller packages at the version that module pins,
// with the Issuer, ClusterIssuer, Certificate, approver, CA and SelfSigned
// controllers; no webhook, cainjector or ACME), against any kube-apiserver,
// such as envtest's (test/kubeenv) or localkube's.
//
// Start installs cert-manager's CRDs (hack/certmanager/crds), starts the
// process, waits until its informer caches have synced, and stops it when
// the test ends. Run at most one per API server at a time: without leader
// election two would race on the same objects.
//
// Without cert-manager's webhook nothing defaults or validates its objects:
// tests must write complete, valid specs, and CertificateRequests carry no
// requester identity (the approver does not need one).
package certmanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/raftkube/raftkube/test/kubeenv"
	"github.com/raftkube/raftkube/test/testproc"
)

const (
	// startTimeout bounds the wait for the controller's caches to sync. It
	// is generous: other builds share the machine.
	startTimeout = 2 * time.Minute
	// stopTimeout is how long the controller gets to exit after SIGTERM
	// before it is killed.
	stopTimeout = 15 * time.Second
	// logTail is how much of the controller's log a failed test prints.
	logTail = 32 << 10
)

// Binary is the controller's path: bin/cert-manager-controller.
func Binary() string {
	return filepath.Join(kubeenv.RepoRoot(), "bin", "cert-manager-controller")
}

// CRDDir is the directory of the cert-manager CRDs the pinned version ships.
func CRDDir() string {
	return filepath.Join(kubeenv.RepoRoot(), "hack", "certmanager", "crds")
}

// Controller is a running cert-manager controller process.
type Controller struct {
	// LogPath is the file the process writes its output to.
	LogPath string
	proc    *testproc.Process
}

// Start installs the CRDs on the API server cfg points to, starts the
// controller against it, and waits until the controller is ready; the test's
// cleanup stops it. Any failure fails t.
func Start(t testing.TB, cfg *rest.Config) *Controller {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(kubeconfig, cfg); err != nil {
		t.Fatal(err)
	}
	return start(t, cfg, kubeconfig)
}

// StartKubeconfig is Start for an API server a kubeconfig file names, such
// as localkube's.
func StartKubeconfig(t testing.TB, kubeconfig string) *Controller {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", kubeconfig, err)
	}
	return start(t, cfg, kubeconfig)
}

func start(t testing.TB, cfg *rest.Config, kubeconfig string) *Controller {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make bin/cert-manager-controller` (make test builds it): %v", bin, err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths:              []string{CRDDir()},
		ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("install cert-manager's CRDs from %s: %v", CRDDir(), err)
	}

	dir := t.TempDir()
	addressFile := filepath.Join(dir, "readyz-address")
	proc, err := testproc.Start("the cert-manager controller", exec.Command(bin,
		"--kubeconfig", kubeconfig,
		"--readyz-address", "127.0.0.1:0",
		"--address-file", addressFile,
		"-v", "2",
	), filepath.Join(dir, "cert-manager-controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	c := &Controller{LogPath: proc.LogPath, proc: proc}
	t.Cleanup(func() {
		if err := proc.Stop(stopTimeout); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("the cert-manager controller's log (%s), last %d bytes:\n%s", c.LogPath, logTail, proc.LogTail(logTail))
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.waitReady(ctx, addressFile); err != nil {
		t.Fatalf("cert-manager controller: %v; its log:\n%s", err, proc.LogTail(logTail))
	}
	return c
}

// waitReady polls the process's /readyz until it answers 200, failing early
// when the process exits.
func (c *Controller) waitReady(ctx context.Context, addressFile string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-c.proc.Exited():
			return fmt.Errorf("exited before it was ready: %w", c.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", startTimeout, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
		addr, err := os.ReadFile(addressFile)
		if err != nil {
			last = fmt.Errorf("no /readyz address yet: %w", err)
			continue
		}
		if last = readyz(ctx, string(addr)); last == nil {
			return nil
		}
	}
}

func readyz(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("readyz request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET /readyz: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig that reaches the API server as cfg
// does: envtest's rest.Config carries its credentials inline.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthority:     cfg.CAFile,
		CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify:    cfg.Insecure,
		TLSServerName:            cfg.ServerName,
	}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		ClientCertificate:     cfg.CertFile,
		ClientCertificateData: cfg.CertData,
		ClientKey:             cfg.KeyFile,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "user"}
	kc.CurrentContext = "default"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
