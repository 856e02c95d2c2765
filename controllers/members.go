package controllers

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// MemberClient is what the reconciler asks of a cluster's members through
// their admin API. *client.Client implements it; tests substitute recorders.
type MemberClient interface {
	// ClusterStatus asks every endpoint for its Status, one entry per
	// endpoint in order; per-endpoint failures are in the entries.
	ClusterStatus(ctx context.Context) ([]client.EndpointStatus, error)
	AddLearner(ctx context.Context, member *serverpb.Member) (*serverpb.MembershipResponse, error)
	ChangeMembership(ctx context.Context, changes []*serverpb.MembershipChange, explicitLeave bool) (*serverpb.MembershipResponse, error)
	LeaveJoint(ctx context.Context) (*serverpb.MembershipResponse, error)
	TransferLeadership(ctx context.Context, to uint64) (*serverpb.TransferLeadershipResponse, error)
	// ForceNewCluster makes the member at endpoint the only voter of a new
	// configuration (disaster recovery); sent once, to that member only.
	ForceNewCluster(ctx context.Context, endpoint string) (*serverpb.MembershipResponse, error)
	Close() error
}

// ClientFactory opens a MemberClient for members' client API endpoints
// (host:port), with tlsConfig (nil: plaintext). It is called once per
// reconcile pass with the endpoints of the pods that run.
type ClientFactory func(ctx context.Context, endpoints []string, tlsConfig *tls.Config) (MemberClient, error)

// NewMemberClient is the production ClientFactory: raftnode's Go client.
func NewMemberClient(ctx context.Context, endpoints []string, tlsConfig *tls.Config) (MemberClient, error) {
	return client.New(ctx, client.Config{
		Endpoints: endpoints,
		TLS:       tlsConfig,
		// A member that does not answer quickly counts as unreachable for
		// this pass; the next pass asks again.
		DialTimeout:    2 * time.Second,
		RequestTimeout: 10 * time.Second,
	})
}
