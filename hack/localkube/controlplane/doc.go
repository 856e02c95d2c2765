// Package controlplane starts a real Kubernetes control plane on loopback from
// prebuilt binaries, and stops it again, leaving no process behind.
//
// # Components and order
//
// Start runs each as its own process group, in three stages, each healthy
// before the next starts (the controller manager and scheduler start together):
//
//	etcd                     plain HTTP on 127.0.0.1, --unsafe-no-fsync      GET /health
//	kube-apiserver           HTTPS, token auth, Node,RBAC, default admission GET /readyz (CA + admin token)
//	kube-controller-manager  default controllers, SA credentials             GET /healthz (CA)
//	kube-scheduler                                                           GET /healthz (CA)
//
// Then Start waits until the controller manager's controllers run — its /healthz
// answers seconds before — shown by the default ServiceAccount they create
// (GET /api/v1/namespaces/default/serviceaccounts/default).
//
// Every port is chosen free on 127.0.0.1 at Start, so several control planes
// can run at once. Stop goes the other way: scheduler, controller manager,
// apiserver, then etcd — stopping etcd first leaves the apiserver hanging for
// over a minute. Each process gets SIGTERM, then SIGKILL after a grace period.
//
// # State directory
//
// Start owns the state directory (it must be missing or empty) and Stop removes it:
//
//	state.json            what StopDetached needs: the pid and start time of each process
//	kubeconfig            the admin kubeconfig (token of a system:masters user, CA inline)
//	pki/ca.crt, ca.key    the cluster CA, which also signs CSRs in the controller manager
//	pki/serving.crt, .key the serving cert of all three servers (SAN 127.0.0.1,
//	                      localhost, kubernetes.default.svc..., 10.0.0.1)
//	pki/sa.key, sa.pub    the service-account signing key pair
//	pki/tokens.csv        the static token file of the admin user
//	etcd/                 etcd's data
//	logs/NAME.log         each component's stdout and stderr
//
// When a component fails to become healthy, the error names it and carries the
// tail of its log.
//
// The package is Linux-only: it relies on process groups, Pdeathsig and /proc.
package controlplane
