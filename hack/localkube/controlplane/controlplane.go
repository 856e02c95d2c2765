package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure Start. Only BinDir is required.
type Options struct {
	// BinDir holds the binaries etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
	BinDir string
	// StateDir is where keys, kubeconfig, data and logs go; it must be missing
	// or empty, and Stop removes it. Empty: a new temporary directory.
	StateDir string
	// HealthTimeout bounds the wait for each component to become healthy. Default 90s:
	// the apiserver alone can take 30s on a loaded 2-core machine.
	HealthTimeout time.Duration
	// StopGrace is how long each process has between SIGTERM and SIGKILL. Default 10s.
	StopGrace time.Duration
	// Detached lets the processes outlive the caller (`localkube up --detach`).
	// Otherwise the kernel kills them if the caller dies without calling Stop.
	Detached bool
	// KeepState makes Stop (and a failed Start) leave the state directory, logs included.
	KeepState bool
	// Logf, if set, receives a line as each component becomes healthy or stops.
	Logf func(format string, args ...any)
}

const (
	defaultHealthTimeout = 90 * time.Second
	defaultStopGrace     = 10 * time.Second
	logTailLines         = 40
	certValidity         = 365 * 24 * time.Hour
)

// ControlPlane is a running control plane. Its methods are safe for concurrent use.
type ControlPlane struct {
	opts   Options
	layout layout
	ports  ports
	pki    *PKI

	mu      sync.Mutex
	procs   []*process // in start order
	stopped bool
}

// Start brings up etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler on loopback and returns once each is healthy and the
// controller manager's controllers run (the default ServiceAccount exists). On error every
// process it started has been stopped (and the state directory removed unless
// Options.KeepState); the error names the failing component and ends with the
// tail of its log.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	opts = withDefaults(opts)
	if err := checkBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	stateDir, err := MakeStateDir(opts.StateDir, "localkube-")
	if err != nil {
		return nil, err
	}
	opts.StateDir = stateDir
	cp := &ControlPlane{opts: opts, layout: layout{dir: stateDir}}
	if err := cp.start(ctx); err != nil {
		// The caller's ctx may be what failed; cleaning up must not depend on it.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*opts.StopGrace)
		defer cancel()
		if stopErr := cp.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	return cp, nil
}

func withDefaults(o Options) Options {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = defaultHealthTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = defaultStopGrace
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

func checkBinaries(binDir string) error {
	if binDir == "" {
		return errors.New("no BinDir given")
	}
	var missing []string
	for _, name := range []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler} {
		st, err := os.Stat(filepath.Join(binDir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("binaries missing or not executable in %s: %v", binDir, missing)
	}
	return nil
}

// MakeStateDir creates dir (a temporary one named after tempPattern, as
// os.MkdirTemp takes it, if dir is empty), refusing one that holds anything:
// the control plane and the node remove their whole state directory on Stop.
func MakeStateDir(dir, tempPattern string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", tempPattern)
		if err != nil {
			return "", fmt.Errorf("create state dir: %w", err)
		}
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state dir %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("state dir %s is not empty (does something run there? `localkube down --state` stops it)", abs)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create state dir: %w", err)
	}
	return abs, nil
}

// start does Start's work; on error the caller stops what it started.
func (cp *ControlPlane) start(ctx context.Context) error {
	if err := cp.prepare(); err != nil {
		return err
	}
	l, pki := cp.layout, cp.pki
	client, err := healthClient(pki.CACert)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()

	type step struct {
		name, url, token string
		args             []string
	}
	// One stage's components start together and are waited for together;
	// each stage needs the previous one healthy.
	stages := [][]step{
		{{Etcd, loopbackURL("http", cp.ports.EtcdClient) + "/health", "", etcdArgs(l, cp.ports)}},
		{{KubeAPIServer, cp.APIServerURL() + "/readyz", pki.AdminToken, apiserverArgs(l, cp.ports)}},
		{
			// Anonymous: /healthz is always allowed, and a token would make the
			// probe depend on the apiserver's TokenReview.
			{KubeControllerManager, loopbackURL("https", cp.ports.ControllerManager) + "/healthz", "", controllerManagerArgs(l, cp.ports)},
			{KubeScheduler, loopbackURL("https", cp.ports.Scheduler) + "/healthz", "", schedulerArgs(l, cp.ports)},
		},
	}
	began := time.Now()
	for _, stage := range stages {
		var started []*process
		for _, s := range stage {
			proc, err := cp.launch(s.name, s.args)
			if err != nil {
				return err
			}
			started = append(started, proc)
		}
		for i, s := range stage {
			if err := waitHealthy(ctx, started[i], client, s.url, s.token, cp.opts.HealthTimeout); err != nil {
				return componentError(started[i], err)
			}
			cp.opts.Logf("%s healthy at +%s (%s)", s.name, time.Since(began).Round(time.Millisecond), s.url)
		}
	}
	// The controller manager's /healthz answers before its controllers run:
	// it starts them one by one, then their informers (~5 s here). The default
	// ServiceAccount, made by one of them, shows they all run, and pods need it
	// (ServiceAccount admission), so a test may create one as soon as Start returns.
	kcm := cp.process(KubeControllerManager)
	saURL := cp.APIServerURL() + "/api/v1/namespaces/default/serviceaccounts/default"
	if err := waitHealthy(ctx, kcm, client, saURL, pki.AdminToken, cp.opts.HealthTimeout); err != nil {
		return componentError(kcm, fmt.Errorf("controllers not running: %w", err))
	}
	cp.opts.Logf("%s controllers running at +%s (%s exists)", kcm.name, time.Since(began).Round(time.Millisecond), saURL)
	return nil
}

// process returns the started component called name.
func (cp *ControlPlane) process(name string) *process {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, p := range cp.procs {
		if p.name == name {
			return p
		}
	}
	panic("controlplane: no process " + name)
}

// prepare writes the PKI, chooses the ports, and writes the kubeconfig and
// a first state.json.
func (cp *ControlPlane) prepare() error {
	l := cp.layout
	if err := os.MkdirAll(l.logDir(), 0o700); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	pki, err := GeneratePKI(time.Now(), certValidity)
	if err != nil {
		return err
	}
	cp.pki = pki
	if err := pki.WriteFiles(l.pkiDir()); err != nil {
		return err
	}
	p, err := freePorts(5)
	if err != nil {
		return err
	}
	cp.ports = ports{EtcdClient: p[0], EtcdPeer: p[1], APIServer: p[2], ControllerManager: p[3], Scheduler: p[4]}
	if err := os.WriteFile(l.kubeconfig(), Kubeconfig(cp.APIServerURL(), pki.CACert, pki.AdminToken), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return cp.saveState()
}

// launch starts one component and records it in state.json.
func (cp *ControlPlane) launch(name string, args []string) (*process, error) {
	proc, err := startProcess(name, filepath.Join(cp.opts.BinDir, name), args, cp.layout.log(name), cp.opts.Detached)
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	cp.procs = append(cp.procs, proc)
	cp.mu.Unlock()
	return proc, cp.saveState()
}

// componentError names the component and appends the tail of its log.
func componentError(p *process, err error) error {
	return fmt.Errorf("%s: %w\n--- last lines of %s ---\n%s", p.name, err, p.logPath, p.tailLog(logTailLines))
}

func (cp *ControlPlane) saveState() error {
	return writeState(cp.layout.stateFile(), State{
		APIServerURL: cp.APIServerURL(),
		Kubeconfig:   cp.Kubeconfig(),
		Processes:    cp.Processes(),
	})
}

// Stop stops every process in reverse start order (so the apiserver before
// etcd), each with SIGTERM then SIGKILL after Options.StopGrace or once ctx is
// done, waits for all of them, and removes the state directory unless
// Options.KeepState. Calling it again does nothing.
func (cp *ControlPlane) Stop(ctx context.Context) error {
	cp.mu.Lock()
	if cp.stopped {
		cp.mu.Unlock()
		return nil
	}
	cp.stopped = true
	procs := cp.procs
	cp.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		began := time.Now()
		procs[i].stop(ctx, cp.opts.StopGrace)
		cp.opts.Logf("%s stopped in %s", procs[i].name, time.Since(began).Round(time.Millisecond))
	}
	if cp.opts.KeepState {
		return nil
	}
	if err := os.RemoveAll(cp.layout.dir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}

// Wait blocks until ctx is done (returning nil) or a component exits (returning
// an error naming it, with the tail of its log).
func (cp *ControlPlane) Wait(ctx context.Context) error {
	cp.mu.Lock()
	procs := make([]*Process, len(cp.procs))
	for i, p := range cp.procs {
		procs[i] = &Process{p: p}
	}
	cp.mu.Unlock()
	return WaitAny(ctx, procs)
}

// WaitAny blocks until ctx is done (returning nil) or one of procs exits
// (returning an error naming it, with the tail of its log).
func WaitAny(ctx context.Context, procs []*Process) error {
	exited := make(chan *Process, len(procs))
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			select {
			case <-p.Done():
				exited <- p
			case <-quit:
			}
		})
	}
	defer wg.Wait()
	defer close(quit)
	select {
	case <-ctx.Done():
		return nil
	case p := <-exited:
		return componentError(p.p, p.Err())
	}
}

// APIServerURL is the apiserver's https://127.0.0.1:PORT.
func (cp *ControlPlane) APIServerURL() string { return loopbackURL("https", cp.ports.APIServer) }

// Kubeconfig is the path of the admin kubeconfig (user admin in system:masters).
func (cp *ControlPlane) Kubeconfig() string { return cp.layout.kubeconfig() }

// StateDir is the state directory, absolute.
func (cp *ControlPlane) StateDir() string { return cp.layout.dir }

// AdminToken is the admin user's bearer token.
func (cp *ControlPlane) AdminToken() string { return cp.pki.AdminToken }

// CACert is the cluster CA's PEM, which the apiserver's serving cert chains to.
func (cp *ControlPlane) CACert() []byte { return cp.pki.CACert }

// CAKey is the cluster CA's private key (PKCS#8 PEM): package node signs the
// kubelet's certificates with it.
func (cp *ControlPlane) CAKey() []byte { return cp.pki.CAKey }

// LogPath is the log file of a component (Etcd, KubeAPIServer, ...).
func (cp *ControlPlane) LogPath(component string) string { return cp.layout.log(component) }

// Processes lists the started processes in start order.
func (cp *ControlPlane) Processes() []ProcessRecord {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]ProcessRecord, 0, len(cp.procs))
	for _, p := range cp.procs {
		out = append(out, ProcessRecord{Name: p.name, PID: p.pid(), StartTime: p.startTime})
	}
	return out
}
