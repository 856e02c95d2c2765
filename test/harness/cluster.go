package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// Options configure the nodes of a cluster. Zero fields take the defaults.
type Options struct {
	// Voters is the number of voters StartCluster forms. Default 3.
	Voters int
	// TickInterval, ElectionTicks and HeartbeatTicks are the Raft timing flags.
	// Defaults 20ms, 10 and 1: elections within a few hundred milliseconds on
	// a loaded machine without spurious ones.
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries is --snapshot-entries; 0 keeps the node's default.
	SnapshotEntries uint64
	// MaxRequestBytes is --max-request-bytes; 0 keeps the node's default.
	MaxRequestBytes int
	// LogLevel is --log-level. Default info.
	LogLevel string
	// ExtraArgs are appended to every node's command line.
	ExtraArgs []string
	// ClientTLS, when set, secures the harness's own connections to the
	// nodes' client ports (Status, clients); pair it with the TLS flags in
	// ExtraArgs. Nil: plaintext.
	ClientTLS *tls.Config
}

func (o *Options) setDefaults() {
	if o.Voters <= 0 {
		o.Voters = 3
	}
	if o.TickInterval <= 0 {
		o.TickInterval = 20 * time.Millisecond
	}
	if o.ElectionTicks <= 0 {
		o.ElectionTicks = 10
	}
	if o.HeartbeatTicks <= 0 {
		o.HeartbeatTicks = 1
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
}

func (o *Options) flags() []string {
	f := []string{
		"--tick-interval=" + o.TickInterval.String(),
		"--election-ticks=" + strconv.Itoa(o.ElectionTicks),
		"--heartbeat-ticks=" + strconv.Itoa(o.HeartbeatTicks),
		"--log-level=" + o.LogLevel,
	}
	if o.SnapshotEntries > 0 {
		f = append(f, "--snapshot-entries="+strconv.FormatUint(o.SnapshotEntries, 10))
	}
	if o.MaxRequestBytes > 0 {
		f = append(f, "--max-request-bytes="+strconv.Itoa(o.MaxRequestBytes))
	}
	return append(f, o.ExtraArgs...)
}

// Cluster is a set of nodes of one test. It keeps its own view of which nodes
// are members (voters): the ones StartCluster formed, changed by Grow, Shrink
// and ChangeMembership; SetMembers corrects it after changes made by other
// means.
type Cluster struct {
	tb   testing.TB
	bins Binaries
	opts Options

	mu      sync.Mutex
	nodes   []*Node // every node started, in order
	members []*Node // the voters, as far as the harness knows
}

// StartCluster forms a cluster of opts.Voters voters (see the package doc)
// and fails tb if it cannot within ctx. Call it from the test goroutine.
func StartCluster(ctx context.Context, tb testing.TB, bins Binaries, opts Options) *Cluster {
	tb.Helper()
	opts.setDefaults()
	c := &Cluster{tb: tb, bins: bins, opts: opts}
	if err := c.form(ctx); err != nil {
		tb.Fatalf("start a cluster of %d: %v", opts.Voters, err)
	}
	return c
}

func (c *Cluster) form(ctx context.Context) error {
	first, err := c.startNode(ctx, true)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.members = []*Node{first}
	c.mu.Unlock()
	if _, err := c.Leader(ctx); err != nil {
		return err
	}
	if c.opts.Voters == 1 {
		return nil
	}
	_, err = c.Grow(ctx, c.opts.Voters-1)
	return err
}

func (c *Cluster) startNode(ctx context.Context, bootstrap bool, extraArgs ...string) (*Node, error) {
	c.mu.Lock()
	name := fmt.Sprintf("n%d", len(c.nodes))
	c.mu.Unlock()
	n, err := newNode(ctx, c.tb, c.bins.Node, name, bootstrap, append(c.opts.flags(), extraArgs...), c.opts.ClientTLS)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, nil
}

// AddNode starts a fresh node (empty data dir, no --bootstrap) that waits to
// be added; it is not a member.
func (c *Cluster) AddNode(ctx context.Context) (*Node, error) {
	return c.startNode(ctx, false)
}

// AddNodeArgs is AddNode with extraArgs after the cluster's flags (a later
// flag wins, so they can override Options.ExtraArgs for this node).
func (c *Cluster) AddNodeArgs(ctx context.Context, extraArgs ...string) (*Node, error) {
	return c.startNode(ctx, false, extraArgs...)
}

// Nodes returns every node started, members or not, in start order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// Members returns the nodes the harness believes are voters.
func (c *Cluster) Members() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members)
}

// SetMembers replaces the harness's view of the voters.
func (c *Cluster) SetMembers(nodes ...*Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members = slices.Clone(nodes)
}

// Node returns the node with member id id, nil if none.
func (c *Cluster) Node(id uint64) *Node {
	for _, n := range c.Nodes() {
		if n.ID() == id {
			return n
		}
	}
	return nil
}

// Running is the members whose process runs.
func (c *Cluster) Running() []*Node {
	return slices.DeleteFunc(c.Members(), func(n *Node) bool { return !n.Running() })
}

// Client returns a client of the running members' client endpoints, closed
// at the end of the test. Call it from the test goroutine.
func (c *Cluster) Client(tb testing.TB) *client.Client {
	tb.Helper()
	var eps []string
	for _, n := range c.Running() {
		eps = append(eps, n.ClientAddr())
	}
	if len(eps) == 0 {
		tb.Fatal("harness: no member is running")
	}
	return newClient(tb, eps, c.opts.ClientTLS)
}

// ClientOf returns a client of the given nodes' client endpoints, closed at
// the end of the test. Call it from the test goroutine.
func (c *Cluster) ClientOf(tb testing.TB, nodes ...*Node) *client.Client {
	tb.Helper()
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.ClientAddr())
	}
	if len(eps) == 0 {
		tb.Fatal("harness: a client needs at least one node")
	}
	return newClient(tb, eps, c.opts.ClientTLS)
}

func newClient(tb testing.TB, eps []string, tlsConf *tls.Config) *client.Client {
	tb.Helper()
	cl, err := newClientNoTB(eps, tlsConf)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

func newClientNoTB(eps []string, tlsConf *tls.Config) (*client.Client, error) {
	cl, err := client.New(context.Background(), client.Config{
		Endpoints:   eps,
		TLS:         tlsConf,
		DialTimeout: 2 * time.Second,
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("harness: client of %v: %w", eps, err)
	}
	return cl, nil
}

// withClient runs fn with a client of the running members, closed after.
func (c *Cluster) withClient(fn func(*client.Client) error) error {
	var eps []string
	for _, n := range c.Running() {
		eps = append(eps, n.ClientAddr())
	}
	if len(eps) == 0 {
		return errors.New("no member is running")
	}
	cl, err := newClientNoTB(eps, c.opts.ClientTLS)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl)
}

// Leader waits until a running node reports itself leader with the highest
// term any running node reports, and returns it.
func (c *Cluster) Leader(ctx context.Context) (*Node, error) {
	var leader *Node
	err := WaitFor(ctx, "a leader", func(ctx context.Context) error {
		var best *serverpb.StatusResponse
		var maxTerm uint64
		for _, n := range c.Nodes() {
			if !n.Running() {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := n.Status(actx)
			cancel()
			if err != nil {
				continue
			}
			maxTerm = max(maxTerm, st.GetHeader().GetTerm())
			if st.GetRole() == serverpb.Role_ROLE_LEADER && (best == nil || st.GetHeader().GetTerm() > best.GetHeader().GetTerm()) {
				best = st
			}
		}
		if best == nil {
			return errors.New("no running node leads")
		}
		if best.GetHeader().GetTerm() < maxTerm {
			return fmt.Errorf("leader %x at term %d, a node is at term %d", best.GetSelf().GetId(), best.GetHeader().GetTerm(), maxTerm)
		}
		if leader = c.Node(best.GetSelf().GetId()); leader == nil {
			return fmt.Errorf("leader %x is not a node of this cluster", best.GetSelf().GetId())
		}
		return nil
	})
	return leader, err
}

// AddLearner adds n as a learner through the Admin API.
func (c *Cluster) AddLearner(ctx context.Context, n *Node) error {
	return c.withClient(func(cl *client.Client) error {
		if _, err := cl.AddLearner(ctx, n.Member()); err != nil {
			return fmt.Errorf("add learner %s: %w", n.Name(), err)
		}
		return nil
	})
}

// WaitCaughtUp waits until the leader has replicated to every node of nodes
// the log up to the leader's commit index at the time of the call.
func (c *Cluster) WaitCaughtUp(ctx context.Context, nodes ...*Node) error {
	var target uint64
	return WaitFor(ctx, "learners to catch up", func(ctx context.Context) error {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		st, err := l.Status(ctx)
		if err != nil {
			return err
		}
		if target == 0 {
			target = st.GetCommitIndex()
		}
		match := map[uint64]uint64{}
		for _, p := range st.GetProgress() {
			match[p.GetId()] = p.GetMatchIndex()
		}
		for _, n := range nodes {
			if match[n.ID()] < target {
				return fmt.Errorf("%s matches %d of %d", n.Name(), match[n.ID()], target)
			}
		}
		return nil
	})
}

// ChangeMembership makes add voters (promoting learners) and removes remove,
// in one joint change with automatic leave, then waits until every running
// member of the new configuration applied it with the joint configuration
// left. It updates Members. The response is the leader's answer: the joint
// configuration the change entered.
func (c *Cluster) ChangeMembership(ctx context.Context, add, remove []*Node) (*serverpb.MembershipResponse, error) {
	var changes []*serverpb.MembershipChange
	for _, n := range add {
		changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_ADD_VOTER, Id: n.ID(), Member: n.Member()})
	}
	for _, n := range remove {
		changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_REMOVE, Id: n.ID()})
	}
	var resp *serverpb.MembershipResponse
	err := c.withClient(func(cl *client.Client) error {
		var err error
		resp, err = cl.ChangeMembership(ctx, changes, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("change membership (+%d -%d): %w", len(add), len(remove), err)
	}
	members := slices.DeleteFunc(c.Members(), func(n *Node) bool { return slices.Contains(remove, n) })
	for _, n := range add {
		if !slices.Contains(members, n) {
			members = append(members, n)
		}
	}
	c.SetMembers(members...)
	return resp, c.WaitConfiguration(ctx)
}

// WaitConfiguration waits until every running member reports exactly the
// members as voters, not joint.
func (c *Cluster) WaitConfiguration(ctx context.Context) error {
	var want []uint64
	for _, n := range c.Members() {
		want = append(want, n.ID())
	}
	slices.Sort(want)
	return WaitFor(ctx, fmt.Sprintf("configuration %x", want), func(ctx context.Context) error {
		for _, n := range c.Running() {
			st, err := n.Status(ctx)
			if err != nil {
				return err
			}
			cfg := st.GetConfiguration()
			if !slices.Equal(cfg.GetVoters(), want) || len(cfg.GetOutgoingVoters()) > 0 {
				return fmt.Errorf("%s has voters %x outgoing %x", n.Name(), cfg.GetVoters(), cfg.GetOutgoingVoters())
			}
		}
		return nil
	})
}

// TransferLeadership moves leadership to to and waits until to leads.
func (c *Cluster) TransferLeadership(ctx context.Context, to *Node) error {
	err := c.withClient(func(cl *client.Client) error {
		_, err := cl.TransferLeadership(ctx, to.ID())
		return err
	})
	if err != nil {
		return fmt.Errorf("transfer leadership to %s: %w", to.Name(), err)
	}
	return WaitFor(ctx, to.Name()+" to lead", func(ctx context.Context) error {
		st, err := to.Status(ctx)
		if err != nil {
			return err
		}
		if st.GetRole() != serverpb.Role_ROLE_LEADER {
			return fmt.Errorf("role %v", st.GetRole())
		}
		return nil
	})
}

// Grow starts k fresh nodes, adds them as learners one by one, waits until
// they caught up and promotes them all in one joint change.
func (c *Cluster) Grow(ctx context.Context, k int) ([]*Node, error) {
	var added []*Node
	for range k {
		n, err := c.AddNode(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.AddLearner(ctx, n); err != nil {
			return nil, err
		}
		added = append(added, n)
	}
	if err := c.WaitCaughtUp(ctx, added...); err != nil {
		return nil, err
	}
	_, err := c.ChangeMembership(ctx, added, nil)
	return added, err
}

// Shrink removes nodes from the configuration in one joint change; when the
// leader is among them it first hands leadership to a running member that
// stays. The removed processes keep running. The response is the one of
// ChangeMembership.
func (c *Cluster) Shrink(ctx context.Context, nodes ...*Node) (*serverpb.MembershipResponse, error) {
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	if slices.Contains(nodes, leader) {
		var to *Node
		for _, n := range c.Running() {
			if !slices.Contains(nodes, n) {
				to = n
				break
			}
		}
		if to == nil {
			return nil, errors.New("shrink: no running member stays to lead")
		}
		if err := c.TransferLeadership(ctx, to); err != nil {
			return nil, err
		}
	}
	return c.ChangeMembership(ctx, nil, nodes)
}

// WaitConverged waits until every running member applied the leader's commit
// index as of the call.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	l, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	st, err := l.Status(ctx)
	if err != nil {
		return err
	}
	for _, n := range c.Running() {
		if err := n.WaitApplied(ctx, st.GetCommitIndex()); err != nil {
			return err
		}
	}
	return nil
}
