package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/internal/version"
	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

const defaultEndpoints = "127.0.0.1:2379"

// app is what every command shares: the global flags and where to write.
type app struct {
	endpoints      []string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	output         string
	// tls are the --cacert, --cert and --key files; skipVerify accepts any
	// server certificate.
	tls        tlsconfig.Files
	skipVerify bool
	// serverName overrides the name members' certificates are verified
	// against (the endpoint's host by default).
	serverName  string
	out, errOut io.Writer
}

// run executes raftctl with args and returns the exit code: 0 on success, 1
// after printing a one-line error to errOut.
func run(args []string, out, errOut io.Writer) int {
	root := newRootCommand(out, errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if hint := authHint(err); hint != "" {
			msg += " (" + hint + ")"
		}
		fmt.Fprintf(errOut, "Error: %s\n", msg)
		return 1
	}
	return 0
}

// authHint says what to present when a member refused the caller's
// certificate, or its lack of one; "" for other errors.
func authHint(err error) string {
	switch {
	case errors.Is(err, client.ErrUnauthenticated):
		return "the member requires a client certificate: pass one signed by the cluster's CA with --cert and --key"
	case errors.Is(err, client.ErrPermissionDenied):
		return fmt.Sprintf("this command needs a client certificate whose organization grants the Admin API: %s, "+
			"unless the members set --client-admin-organization", tlsconfig.AdminOrganization)
	}
	return ""
}

func newRootCommand(out, errOut io.Writer) *cobra.Command {
	a := &app{out: out, errOut: errOut}
	root := &cobra.Command{
		Use:           "raftctl",
		Short:         "A command line client for raftkube clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().String(),
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", a.output)
			}
			return nil
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetVersionTemplate("raftctl {{.Version}}\n")
	eps := defaultEndpoints
	if env := os.Getenv("RAFTCTL_ENDPOINTS"); env != "" {
		eps = env
	}
	f := root.PersistentFlags()
	f.StringSliceVar(&a.endpoints, "endpoints", strings.Split(eps, ","), "comma-separated member client addresses (env RAFTCTL_ENDPOINTS)")
	f.DurationVar(&a.dialTimeout, "dial-timeout", 2*time.Second, "how long to wait for a connection to one member")
	f.DurationVar(&a.commandTimeout, "command-timeout", 5*time.Second, "how long the whole command may take")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&a.tls.TrustedCAFile, "cacert", os.Getenv("RAFTCTL_CACERT"), "verify members' certificates with this PEM CA bundle; enables TLS (env RAFTCTL_CACERT)")
	f.StringVar(&a.tls.CertFile, "cert", os.Getenv("RAFTCTL_CERT"), "PEM client certificate for members that require one; enables TLS (env RAFTCTL_CERT)")
	f.StringVar(&a.tls.KeyFile, "key", os.Getenv("RAFTCTL_KEY"), "PEM private key of --cert (env RAFTCTL_KEY)")
	f.BoolVar(&a.skipVerify, "insecure-skip-tls-verify", false, "use TLS but accept any member certificate (for testing only)")
	f.StringVar(&a.serverName, "tls-server-name", os.Getenv("RAFTCTL_TLS_SERVER_NAME"), "verify members' certificates against this name instead of the endpoint's host: for pod IPs or a port-forward, the client Service's NAME.NAMESPACE.svc; enables TLS (env RAFTCTL_TLS_SERVER_NAME)")
	root.AddCommand(
		a.putCommand(), a.getCommand(), a.delCommand(), a.rangeCommand(), a.casCommand(),
		a.memberCommand(), a.statusCommand(), a.transferLeaderCommand(), a.snapshotCommand(),
		a.benchCommand(), a.backupCommand(),
	)
	return root
}

// endpointList is --endpoints without blanks and surrounding spaces.
func (a *app) endpointList() []string {
	var eps []string
	for _, ep := range a.endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// withClient runs fn with a connected client under the command timeout.
func (a *app) withClient(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	return a.withClientTimeout(cmd, a.commandTimeout, fn)
}

func (a *app) withClientTimeout(cmd *cobra.Command, timeout time.Duration, fn func(ctx context.Context, c *client.Client) error) error {
	ctx := cmdContext(cmd)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tlsConf, err := a.tlsConfig()
	if err != nil {
		return err
	}
	c, err := client.New(ctx, client.Config{Endpoints: a.endpointList(), DialTimeout: a.dialTimeout, TLS: tlsConf})
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// cmdContext is cmd's context, Background when it has none.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// tlsConfig is the client's TLS configuration: nil (plaintext) unless a TLS
// flag is set.
func (a *app) tlsConfig() (*tls.Config, error) {
	if a.tls.Empty() && !a.skipVerify && a.serverName == "" {
		return nil, nil
	}
	switch {
	case a.tls.CertFile != "" && a.tls.KeyFile == "":
		return nil, errors.New("--cert needs --key")
	case a.tls.KeyFile != "" && a.tls.CertFile == "":
		return nil, errors.New("--key needs --cert")
	}
	cfg, err := tlsconfig.ClientConfig(a.tls)
	if err != nil {
		return nil, err
	}
	cfg.InsecureSkipVerify = a.skipVerify
	cfg.ServerName = a.serverName
	return cfg, nil
}
