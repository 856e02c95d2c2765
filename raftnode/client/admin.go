package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

func status1(ctx context.Context, cc *grpc.ClientConn) (*serverpb.StatusResponse, error) {
	return serverpb.NewAdminClient(cc).Status(ctx, &serverpb.StatusRequest{})
}

// Status asks one member for its status. With endpoint "" any member answers
// (the leader preferred, when known) and failures are retried like reads: the
// answer may come from a follower that lags, or from a member not yet in the
// configuration, whose view of the membership is its own. Use LeaderStatus
// for the cluster's membership. Otherwise only endpoint, which must be one of
// Config.Endpoints, is asked, once.
func (c *Client) Status(ctx context.Context, endpoint string) (*serverpb.StatusResponse, error) {
	const method = "Admin.Status"
	var (
		st  *serverpb.StatusResponse
		ep  string
		err error
	)
	if endpoint == "" {
		st, ep, err = read(ctx, c, method, status1)
	} else {
		if _, ok := c.conns[endpoint]; !ok {
			return nil, &Error{Method: method, Endpoint: endpoint, Code: codes.InvalidArgument, Kind: ErrInvalidArgument,
				Err: fmt.Errorf("%q is not a configured endpoint", endpoint)}
		}
		st, ep, err = c.once(ctx, method, endpoint)
	}
	if err != nil {
		return nil, err
	}
	c.observeStatus(ep, st)
	return st, nil
}

// LeaderStatus returns the status of the member that leads: the view of the
// configuration and progress the cluster acts on. It asks the members,
// following the leader they name, as a read retries (backoff between rounds,
// up to Config.MaxReadAttempts attempts). It returns an error matching
// ErrNoLeader when the members that answered know no leader (an election, or
// no quorum), and ErrUnavailable when none answered. A leader cut off from
// the others believes it leads until check-quorum deposes it, one election
// timeout later; until then it may be the one that answers.
func (c *Client) LeaderStatus(ctx context.Context) (*serverpb.StatusResponse, error) {
	const method = "Admin.Status"
	var (
		last     *Error
		tried    triedList
		answered []string
	)
	pause := c.cfg.BackoffBase
	for attempts := 0; attempts < c.cfg.MaxReadAttempts; {
		eps := c.candidates()
		asked := make(map[string]bool, len(eps))
		for len(eps) > 0 && attempts < c.cfg.MaxReadAttempts {
			ep := eps[0]
			eps = eps[1:]
			if asked[ep] {
				continue
			}
			asked[ep] = true
			tried.add(ep)
			attempts++
			st, tr, err := attempt(ctx, c, ep, status1)
			if err != nil {
				last = failure(method, ep, tr, err, false)
				if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryableRead(last) {
					return nil, tried.done(last)
				}
				c.failedAt(ep, tr, last.Code)
				continue
			}
			c.observeStatus(ep, st)
			if st.GetRole() == serverpb.Role_ROLE_LEADER {
				return st, nil
			}
			answered = append(answered, fmt.Sprintf("%s (member %x) knows no leader", ep, st.GetHeader().GetMemberId()))
			if lead := c.leaderEndpoint(); lead != "" && !asked[lead] {
				eps = append([]string{lead}, eps...)
			}
		}
		if !c.backoff(ctx, &pause) {
			break
		}
	}
	if len(answered) == 0 && last != nil {
		return nil, tried.done(last)
	}
	code := codes.Unavailable
	if ctx.Err() != nil {
		code = codeOf(ctx.Err())
	}
	return nil, tried.done(&Error{Method: method, Code: code, Kind: ErrNoLeader,
		Err: fmt.Errorf("no member answered as the leader: %s", strings.Join(answered, "; "))})
}

func (c *Client) once(ctx context.Context, method, ep string) (*serverpb.StatusResponse, string, error) {
	st, tr, err := attempt(ctx, c, ep, status1)
	if err == nil {
		return st, ep, nil
	}
	return nil, ep, failure(method, ep, tr, err, false)
}

// EndpointStatus is one endpoint's answer to ClusterStatus.
type EndpointStatus struct {
	Endpoint string
	// Status is nil when Err is set.
	Status *serverpb.StatusResponse
	Err    error
}

// ClusterStatus asks every configured endpoint for its status, in parallel,
// and returns one entry per endpoint in configured order. It fails only when
// ctx ends; per-endpoint failures are in the entries.
func (c *Client) ClusterStatus(ctx context.Context) ([]EndpointStatus, error) {
	out := make([]EndpointStatus, len(c.cfg.Endpoints))
	var wg sync.WaitGroup
	for i, ep := range c.cfg.Endpoints {
		out[i].Endpoint = ep
		wg.Go(func() {
			out[i].Status, out[i].Err = c.Status(ctx, ep)
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

// Leader returns what is known of the current leader, asking the members
// until one names a leader. It returns an error matching ErrUnavailable when
// no member answers and ErrNotFound when none knows a leader.
func (c *Client) Leader(ctx context.Context) (*serverpb.Member, error) {
	sts, err := c.ClusterStatus(ctx)
	if err != nil {
		return nil, &Error{Method: "Admin.Status", Code: codeOf(err), Kind: ErrUnavailable, Err: err}
	}
	var lastErr error
	for _, s := range sts {
		if s.Err != nil {
			lastErr = s.Err
			continue
		}
		id := s.Status.GetHeader().GetLeaderId()
		if id == 0 {
			continue
		}
		if l := s.Status.GetLeader(); l.GetId() == id {
			return l, nil
		}
		for _, m := range s.Status.GetConfiguration().GetMembers() {
			if m.GetId() == id {
				return m, nil
			}
		}
		return &serverpb.Member{Id: id}, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, &Error{Method: "Admin.Status", Code: codes.NotFound, Kind: ErrNotFound,
		Err: fmt.Errorf("no member knows a leader")}
}

// AddLearner adds member (its id from its own Status) as a learner. Not
// retried once sent.
func (c *Client) AddLearner(ctx context.Context, member *serverpb.Member) (*serverpb.MembershipResponse, error) {
	resp, _, err := write(ctx, c, "Admin.AddLearner", nil, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.MembershipResponse, error) {
		return serverpb.NewAdminClient(cc).AddLearner(ctx, &serverpb.AddLearnerRequest{Member: member})
	})
	return resp, err
}

// ChangeMembership applies changes as one joint change; with explicitLeave the
// cluster stays joint until LeaveJoint. Not retried once sent.
func (c *Client) ChangeMembership(ctx context.Context, changes []*serverpb.MembershipChange, explicitLeave bool) (*serverpb.MembershipResponse, error) {
	resp, _, err := write(ctx, c, "Admin.ChangeMembership", nil, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.MembershipResponse, error) {
		return serverpb.NewAdminClient(cc).ChangeMembership(ctx, &serverpb.ChangeMembershipRequest{Changes: changes, ExplicitLeave: explicitLeave})
	})
	return resp, err
}

// LeaveJoint leaves a joint configuration entered with explicit leave. Not
// retried once sent.
func (c *Client) LeaveJoint(ctx context.Context) (*serverpb.MembershipResponse, error) {
	resp, _, err := write(ctx, c, "Admin.LeaveJoint", nil, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.MembershipResponse, error) {
		return serverpb.NewAdminClient(cc).LeaveJoint(ctx, &serverpb.LeaveJointRequest{})
	})
	return resp, err
}

// TransferLeadership asks the leader to hand leadership to voter to. Not
// retried once sent.
func (c *Client) TransferLeadership(ctx context.Context, to uint64) (*serverpb.TransferLeadershipResponse, error) {
	resp, _, err := write(ctx, c, "Admin.TransferLeadership", nil, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.TransferLeadershipResponse, error) {
		return serverpb.NewAdminClient(cc).TransferLeadership(ctx, &serverpb.TransferLeadershipRequest{To: to})
	})
	return resp, err
}

// Snapshot makes the member at endpoint write a snapshot now; with endpoint ""
// the leader (when known) or the first reachable member does. Not retried once
// sent.
func (c *Client) Snapshot(ctx context.Context, endpoint string) (*serverpb.SnapshotResponse, error) {
	const method = "Admin.Snapshot"
	var eps []string // nil: the leader first, then every endpoint
	if endpoint != "" {
		if _, ok := c.conns[endpoint]; !ok {
			return nil, &Error{Method: method, Endpoint: endpoint, Code: codes.InvalidArgument, Kind: ErrInvalidArgument,
				Err: fmt.Errorf("%q is not a configured endpoint", endpoint)}
		}
		eps = []string{endpoint}
	}
	resp, _, err := write(ctx, c, method, eps, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.SnapshotResponse, error) {
		return serverpb.NewAdminClient(cc).Snapshot(ctx, &serverpb.SnapshotRequest{})
	})
	return resp, err
}

// ForceNewCluster asks the member at endpoint, which must be one of
// Config.Endpoints, to become the only voter of a new configuration: disaster
// recovery when a majority of the voters is lost for good (see the Admin
// service's ForceNewCluster). It is sent once, never retried, and never to
// another member. Refusals carry serverpb.ReasonHasLeader,
// serverpb.ReasonNotVoter or serverpb.ReasonNotMember (test with
// serverpb.HasReason).
func (c *Client) ForceNewCluster(ctx context.Context, endpoint string) (*serverpb.MembershipResponse, error) {
	const method = "Admin.ForceNewCluster"
	if _, ok := c.conns[endpoint]; !ok {
		return nil, &Error{Method: method, Endpoint: endpoint, Code: codes.InvalidArgument, Kind: ErrInvalidArgument,
			Err: fmt.Errorf("%q is not a configured endpoint", endpoint)}
	}
	resp, tr, err := attempt(ctx, c, endpoint, func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.MembershipResponse, error) {
		return serverpb.NewAdminClient(cc).ForceNewCluster(ctx, &serverpb.ForceNewClusterRequest{Confirm: true})
	})
	if err != nil {
		return nil, failure(method, endpoint, tr, err, true)
	}
	return resp, nil
}
