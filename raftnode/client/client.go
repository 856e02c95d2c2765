package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// Config configures a Client. Zero durations take the defaults below.
type Config struct {
	// Endpoints are members' client addresses (host:port). At least one.
	Endpoints []string
	// DialTimeout bounds how long an attempt waits for a connection to become
	// ready before the endpoint counts as unreachable. Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each attempt of a request, once connected.
	// Default 0: only ctx bounds it.
	RequestTimeout time.Duration
	// Logger receives retries and leader changes at debug level. Default: discard.
	Logger *slog.Logger
	// TLS, when set, secures every connection with it (transport credentials
	// made by credentials.NewTLS; the server name defaults to the endpoint's
	// host). Nil: plaintext, unless DialOptions carry credentials.
	TLS *tls.Config
	// DialOptions are passed to grpc.NewClient, after the credentials TLS
	// makes. Default: insecure credentials.
	DialOptions []grpc.DialOption
	// MaxReadAttempts bounds the attempts of one read, and of a write the
	// cluster did not propose (serverpb.ReasonNotProposed). Default 3 ×
	// endpoints.
	MaxReadAttempts int
	// BackoffBase is the pause after a read tried every endpoint; it doubles up
	// to BackoffMax. Defaults 50ms and 1s.
	BackoffBase, BackoffMax time.Duration
	// SuspectFor is how long an endpoint on which a request failed to get an
	// answer (no connection, a timeout, a broken connection, no leader there)
	// is tried after every other one, even when members name it leader: they
	// keep naming a frozen or cut-off leader until they elect another.
	// Default 5s.
	SuspectFor time.Duration
}

func (c *Config) setDefaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TLS == nil && len(c.DialOptions) == 0 {
		c.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if c.MaxReadAttempts <= 0 {
		c.MaxReadAttempts = 3 * len(c.Endpoints)
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 50 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = time.Second
	}
	if c.SuspectFor <= 0 {
		c.SuspectFor = 5 * time.Second
	}
}

// Client talks to a raftkube cluster. It is safe for concurrent use.
type Client struct {
	cfg   Config
	log   *slog.Logger
	conns map[string]*grpc.ClientConn // one per configured endpoint, fixed at New
	// streams carry the KV requests, one per connection (see streams).
	streams *streams

	mu sync.Mutex
	// memberOf is the member id each endpoint answered as.
	memberOf map[string]uint64
	// leaderID is the leader last reported by any member; 0 when unknown.
	leaderID uint64
	// addressOf is each member's client address as Status reported it.
	addressOf map[uint64]string
	// resolvedFor is the leader id whose endpoint was last looked up with
	// Status, so that an unreachable or unconfigured leader is looked up once.
	resolvedFor uint64
	// suspectUntil is, per endpoint, when its suspicion ends (see
	// Config.SuspectFor); an answer from it ends it at once.
	suspectUntil map[string]time.Time
	// askWhoLeads is set when a request failed on the leader's endpoint,
	// or on any while the leader's endpoint was unknown: the next request,
	// or the next attempt of a write, asks the other members who leads now.
	askWhoLeads bool
	closed      bool
	// dialErr is each endpoint's last failed connection attempt (TCP or
	// TLS handshake), nil once one succeeds: what "connection failed" says.
	dialErr map[string]error
}

// New makes a Client for cfg.Endpoints. It does not connect: connections are
// opened by the first request to each endpoint, so New fails only on a bad
// configuration. ctx is reserved for future use (an initial leader lookup).
func New(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	cfg.Endpoints = append([]string(nil), cfg.Endpoints...)
	cfg.setDefaults()
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger,
		conns:     make(map[string]*grpc.ClientConn, len(cfg.Endpoints)),
		streams:   newStreams(cfg.DialTimeout),
		memberOf:  make(map[string]uint64),
		addressOf: make(map[uint64]string),
		dialErr:   make(map[string]error),

		suspectUntil: make(map[string]time.Time),
	}
	// Reconnect quickly: a member that restarts should be usable again within a
	// couple of seconds, not after grpc's default 2-minute backoff ceiling.
	params := grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
		MinConnectTimeout: cfg.DialTimeout,
	})
	for _, ep := range cfg.Endpoints {
		if _, dup := c.conns[ep]; dup {
			continue
		}
		cc, err := grpc.NewClient(ep, c.dialOptions(ep, params)...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("client: endpoint %q: %w", ep, err)
		}
		c.conns[ep] = cc
	}
	return c, nil
}

// Close closes every connection. Calls in flight fail; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.streams.close()
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// Endpoints returns the configured endpoints.
func (c *Client) Endpoints() []string { return append([]string(nil), c.cfg.Endpoints...) }

// candidates orders the endpoints for one attempt round: the leader's first
// when known and not suspect, then the others in configured order, then the
// suspect ones, the one suspected longest ago first (so that a round-robin
// goes on while all are suspect).
func (c *Client) candidates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	lead := c.leaderEndpointLocked()
	if c.suspectLocked(lead, now) {
		lead = ""
	}
	out := make([]string, 0, len(c.cfg.Endpoints))
	if lead != "" {
		out = append(out, lead)
	}
	var suspects []string
	for _, ep := range c.cfg.Endpoints {
		switch {
		case ep == lead:
		case c.suspectLocked(ep, now):
			suspects = append(suspects, ep)
		default:
			out = append(out, ep)
		}
	}
	slices.SortStableFunc(suspects, func(a, b string) int { return c.suspectUntil[a].Compare(c.suspectUntil[b]) })
	return append(out, suspects...)
}

// resolveLeader asks the members for their Status when a leader was reported
// whose endpoint is unknown, or when the leader's endpoint became suspect, and
// returns the leader's endpoint when one not suspect is known. It asks no
// suspect endpoint and stops at the first answer naming such a leader.
// Failures only make endpoints suspect: following the leader is an
// optimisation.
func (c *Client) resolveLeader(ctx context.Context) string {
	c.mu.Lock()
	need := c.askWhoLeads ||
		(c.leaderID != 0 && c.resolvedFor != c.leaderID && c.leaderEndpointLocked() == "")
	c.askWhoLeads = false
	if need {
		c.resolvedFor = c.leaderID
	}
	c.mu.Unlock()
	if need {
		for _, ep := range c.candidates() {
			if c.suspected(ep) || ctx.Err() != nil {
				break // suspects come last in candidates
			}
			st, tr, err := attempt(ctx, c, ep, status1)
			if err != nil {
				c.failedAt(ep, tr, codeOf(err))
				continue
			}
			c.observeStatus(ep, st)
			if lead := c.leaderEndpoint(); lead != "" {
				break
			}
		}
	}
	return c.leaderEndpoint()
}

// leaderEndpoint is the known leader's endpoint when it is not suspect.
func (c *Client) leaderEndpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lead := c.leaderEndpointLocked()
	if c.suspectLocked(lead, time.Now()) {
		return ""
	}
	return lead
}

func (c *Client) suspectLocked(ep string, now time.Time) bool {
	until, ok := c.suspectUntil[ep]
	return ok && now.Before(until)
}

func (c *Client) suspected(ep string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspectLocked(ep, time.Now())
}

// leaderEndpointLocked is the configured endpoint of the known leader: the one
// that answered as the leader's id, else the one equal to the leader's client
// address from Status; "" when neither is known.
func (c *Client) leaderEndpointLocked() string {
	if c.leaderID == 0 {
		return ""
	}
	for _, ep := range c.cfg.Endpoints {
		if c.memberOf[ep] == c.leaderID {
			return ep
		}
	}
	if addr := c.addressOf[c.leaderID]; addr != "" {
		if _, ok := c.conns[addr]; ok {
			return addr
		}
	}
	return ""
}

// observe records what a response header says about the endpoint and leader.
func (c *Client) observe(ep string, h *serverpb.ResponseHeader) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.suspectUntil, ep)
	if h.GetMemberId() != 0 {
		c.memberOf[ep] = h.GetMemberId()
	}
	if l := h.GetLeaderId(); l != 0 && l != c.leaderID {
		c.log.Debug("raftkube client: leader changed", "from", c.leaderID, "to", l, "reported_by", ep)
		c.leaderID = l
	}
}

// observeStatus also records members' client addresses.
func (c *Client) observeStatus(ep string, st *serverpb.StatusResponse) {
	c.observe(ep, st.GetHeader())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range st.GetConfiguration().GetMembers() {
		if m.GetId() != 0 && m.GetClientAddress() != "" {
			c.addressOf[m.GetId()] = m.GetClientAddress()
		}
	}
	if l := st.GetLeader(); l.GetId() != 0 && l.GetClientAddress() != "" {
		c.addressOf[l.GetId()] = l.GetClientAddress()
	}
}

// failedAt records an attempt on ep that failed with code. One that got no
// answer, or only DeadlineExceeded (it did not serve in time, whoever said
// so), makes ep suspect. Another answer (it knows no leader, it lost its
// leader) leaves ep usable, but makes the next request ask who leads when ep
// was the leader's, or the leader is unknown.
func (c *Client) failedAt(ep string, tr trace, code codes.Code) {
	if !tr.answered || code == codes.DeadlineExceeded {
		c.suspect(ep)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.distrustLeaderLocked(ep)
}

// suspect puts ep last for Config.SuspectFor, and forgets the leader if ep
// was its endpoint, so that the next request asks the others who leads.
func (c *Client) suspect(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.suspectUntil[ep] = time.Now().Add(c.cfg.SuspectFor)
	c.distrustLeaderLocked(ep)
}

// distrustLeaderLocked forgets the leader if ep, which just failed, was its
// endpoint, and has the next request ask who leads unless the leader is known
// at another endpoint.
func (c *Client) distrustLeaderLocked(ep string) {
	lead := c.leaderEndpointLocked()
	if lead == ep && c.leaderID != 0 {
		c.log.Debug("raftkube client: leader's endpoint failed, forgetting leader and asking who leads", "endpoint", ep, "leader", c.leaderID)
		c.leaderID = 0
	}
	c.askWhoLeads = lead == "" || lead == ep
}

// LeaderID is the leader id last reported by any member; 0 when unknown.
func (c *Client) LeaderID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaderID
}

// ready waits until the connection to ep is ready to send, for at most
// DialTimeout. An error means nothing was sent.
func (c *Client) ready(ctx context.Context, ep string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	cc, ok := c.conns[ep]
	if closed || !ok {
		return nil, ErrClosed
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return cc, nil
		case connectivity.Shutdown:
			return nil, ErrClosed
		case connectivity.Idle:
			cc.Connect()
		case connectivity.TransientFailure:
			// grpc keeps retrying in the background and stays in
			// TransientFailure until a connection is ready again (gRFC A62),
			// so waiting here would cost DialTimeout per request to a down
			// member; fail fast and let the caller try another endpoint.
			c.mu.Lock()
			why := c.dialErr[ep]
			c.mu.Unlock()
			if why != nil {
				return nil, fmt.Errorf("connection failed: %w", why)
			}
			return nil, errors.New("connection failed")
		}
		if !cc.WaitForStateChange(dctx, s) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("not connected within %v", c.cfg.DialTimeout)
		}
	}
}
