package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

func (a *app) memberCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "member", Short: "List and change the cluster's membership"}
	cmd.AddCommand(a.memberListCommand(), a.memberAddLearnerCommand(),
		a.memberSimpleChange("promote", "Promote learners to voters (one joint change)", serverpb.MembershipChange_TYPE_ADD_VOTER),
		a.memberSimpleChange("remove", "Remove members (one joint change)", serverpb.MembershipChange_TYPE_REMOVE),
		a.memberChangeCommand(), a.memberLeaveJointCommand(), a.memberForceNewClusterCommand())
	return cmd
}

// memberRow is the JSON form of one member in member list.
type memberRow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Config says, while the configuration is joint, which of its halves a
	// voter belongs to: incoming, outgoing or both; empty otherwise.
	Config        string  `json:"config,omitempty"`
	Leader        bool    `json:"leader"`
	PeerAddress   string  `json:"peer_address"`
	ClientAddress string  `json:"client_address"`
	MatchIndex    *uint64 `json:"match_index,omitempty"`
}

// roleOf names id's place in cfg: voter, outgoing (a voter of the outgoing
// half only), learner, or learner-next (a learner once the joint config is left).
func roleOf(cfg *serverpb.Configuration, id uint64) string {
	switch {
	case slices.Contains(cfg.GetVoters(), id):
		return "voter"
	case slices.Contains(cfg.GetOutgoingVoters(), id):
		return "outgoing"
	case slices.Contains(cfg.GetLearners(), id):
		return "learner"
	case slices.Contains(cfg.GetLearnersNext(), id):
		return "learner-next"
	}
	return "unknown"
}

// halfOf names, while cfg is joint, the halves voter id belongs to: incoming,
// outgoing or both; "" when cfg is not joint or id is no voter.
func halfOf(cfg *serverpb.Configuration, id uint64) string {
	if len(cfg.GetOutgoingVoters()) == 0 {
		return ""
	}
	in, out := slices.Contains(cfg.GetVoters(), id), slices.Contains(cfg.GetOutgoingVoters(), id)
	switch {
	case in && out:
		return "both"
	case in:
		return "incoming"
	case out:
		return "outgoing"
	}
	return ""
}

// bestStatus is the leader's status when some member leads (it alone knows
// match indexes), else the first that answered.
func bestStatus(sts []client.EndpointStatus) (*serverpb.StatusResponse, error) {
	var first *serverpb.StatusResponse
	var errs []error
	for _, s := range sts {
		if s.Err != nil {
			errs = append(errs, s.Err)
			continue
		}
		if s.Status.GetRole() == serverpb.Role_ROLE_LEADER {
			return s.Status, nil
		}
		if first == nil {
			first = s.Status
		}
	}
	if first == nil {
		return nil, fmt.Errorf("no member answered: %w", errors.Join(errs...))
	}
	return first, nil
}

func membersOf(st *serverpb.StatusResponse) []memberRow {
	cfg := st.GetConfiguration()
	known := map[uint64]*serverpb.Member{}
	for _, m := range cfg.GetMembers() {
		known[m.GetId()] = m
	}
	var ids []uint64
	for _, set := range [][]uint64{cfg.GetVoters(), cfg.GetOutgoingVoters(), cfg.GetLearners(), cfg.GetLearnersNext()} {
		for _, id := range set {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	// Ordered as people read pod names (demo-2 before demo-10), unnamed
	// members last, ties by id.
	slices.SortFunc(ids, func(a, b uint64) int {
		na, nb := known[a].GetName(), known[b].GetName()
		if c := compareNames(na, nb); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	match := map[uint64]uint64{}
	for _, p := range st.GetProgress() {
		match[p.GetId()] = p.GetMatchIndex()
	}
	rows := make([]memberRow, 0, len(ids))
	for _, id := range ids {
		m := known[id]
		r := memberRow{ID: hexID(id), Name: m.GetName(), Role: roleOf(cfg, id), Config: halfOf(cfg, id), Leader: id == st.GetHeader().GetLeaderId(),
			PeerAddress: m.GetPeerAddress(), ClientAddress: m.GetClientAddress()}
		if mi, ok := match[id]; ok {
			r.MatchIndex = &mi
		}
		rows = append(rows, r)
	}
	return rows
}

// compareNames orders names with their runs of digits compared as numbers
// (demo-2 before demo-10); the empty name comes last.
func compareNames(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// leadingDigits is the run of ASCII digits s starts with.
func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

func (a *app) memberListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List members: id, name, role, configuration half while joint, addresses, match index (from the leader)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				sts, err := c.ClusterStatus(ctx)
				if err != nil {
					return err
				}
				st, err := bestStatus(sts)
				if err != nil {
					return err
				}
				members := membersOf(st)
				rows := [][]string{{"ID", "NAME", "ROLE", "CONFIG", "LEADER", "PEER_ADDRESS", "CLIENT_ADDRESS", "MATCH_INDEX"}}
				for _, m := range members {
					match := "-"
					if m.MatchIndex != nil {
						match = u(*m.MatchIndex)
					}
					half := cmp.Or(m.Config, "-")
					rows = append(rows, []string{m.ID, m.Name, m.Role, half, fmt.Sprint(m.Leader), m.PeerAddress, m.ClientAddress, match})
				}
				return a.emit(members, rows)
			})
		},
	}
}

// emitMembership prints a membership change's outcome.
func (a *app) emitMembership(resp *serverpb.MembershipResponse) error {
	cfg := resp.GetConfiguration()
	v := struct {
		Index         uint64   `json:"index"`
		Voters        []string `json:"voters"`
		OutgoingVoter []string `json:"outgoing_voters"`
		Learners      []string `json:"learners"`
	}{resp.GetIndex(), hexIDs(cfg.GetVoters()), hexIDs(cfg.GetOutgoingVoters()), hexIDs(cfg.GetLearners())}
	return a.emit(v, [][]string{{"INDEX", "CONFIG"}, {u(resp.GetIndex()), configString(cfg)}})
}

func hexIDs(ids []uint64) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, hexID(id))
	}
	return out
}

// configString is a configuration in one cell: voters=1,2 outgoing=1,2,3 learners=4.
func configString(cfg *serverpb.Configuration) string {
	parts := []string{"voters=" + strings.Join(hexIDs(cfg.GetVoters()), ",")}
	if len(cfg.GetOutgoingVoters()) > 0 {
		parts = append(parts, "outgoing="+strings.Join(hexIDs(cfg.GetOutgoingVoters()), ","))
	}
	if len(cfg.GetLearners()) > 0 {
		parts = append(parts, "learners="+strings.Join(hexIDs(cfg.GetLearners()), ","))
	}
	return strings.Join(parts, " ")
}

func (a *app) memberAddLearnerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "add-learner ID NAME PEER_ADDR CLIENT_ADDR",
		Short: "Add a member as a learner; ID is the hex id from the new member's status",
		Args:  cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			m := &serverpb.Member{Id: id, Name: args[1], PeerAddress: args[2], ClientAddress: args[3]}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				resp, err := c.AddLearner(ctx, m)
				if err != nil {
					return err
				}
				return a.emitMembership(resp)
			})
		},
	}
}

func (a *app) changeMembership(cmd *cobra.Command, changes []*serverpb.MembershipChange, explicitLeave bool) error {
	return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
		resp, err := c.ChangeMembership(ctx, changes, explicitLeave)
		if err != nil {
			return err
		}
		return a.emitMembership(resp)
	})
}

func changesOf(typ serverpb.MembershipChange_Type, ids []string) ([]*serverpb.MembershipChange, error) {
	var out []*serverpb.MembershipChange
	for _, s := range ids {
		id, err := parseID(s)
		if err != nil {
			return nil, err
		}
		out = append(out, &serverpb.MembershipChange{Type: typ, Id: id})
	}
	return out, nil
}

func (a *app) memberSimpleChange(name, short string, typ serverpb.MembershipChange_Type) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := changesOf(typ, args)
			if err != nil {
				return err
			}
			return a.changeMembership(cmd, changes, false)
		},
	}
}

func (a *app) memberChangeCommand() *cobra.Command {
	var (
		promote, remove, learners []string
		explicitLeave             bool
	)
	cmd := &cobra.Command{
		Use:   "change",
		Short: "Apply promotions, removals and learner additions as one joint change",
		Long: "Apply promotions, removals and learner additions as one joint change.\n" +
			"--add-learner takes ID,NAME,PEER_ADDR,CLIENT_ADDR.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var changes []*serverpb.MembershipChange
			for _, l := range learners {
				f := strings.Split(l, ",")
				if len(f) != 4 {
					return fmt.Errorf("--add-learner %q: want ID,NAME,PEER_ADDR,CLIENT_ADDR", l)
				}
				id, err := parseID(f[0])
				if err != nil {
					return err
				}
				changes = append(changes, &serverpb.MembershipChange{Type: serverpb.MembershipChange_TYPE_ADD_LEARNER, Id: id,
					Member: &serverpb.Member{Id: id, Name: f[1], PeerAddress: f[2], ClientAddress: f[3]}})
			}
			for _, set := range []struct {
				typ serverpb.MembershipChange_Type
				ids []string
			}{{serverpb.MembershipChange_TYPE_ADD_VOTER, promote}, {serverpb.MembershipChange_TYPE_REMOVE, remove}} {
				cs, err := changesOf(set.typ, set.ids)
				if err != nil {
					return err
				}
				changes = append(changes, cs...)
			}
			if len(changes) == 0 {
				return errors.New("member change: nothing to change (use --promote, --remove or --add-learner)")
			}
			return a.changeMembership(cmd, changes, explicitLeave)
		},
	}
	cmd.Flags().StringArrayVar(&promote, "promote", nil, "learner id to promote (repeatable)")
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "member id to remove (repeatable)")
	cmd.Flags().StringArrayVar(&learners, "add-learner", nil, "ID,NAME,PEER_ADDR,CLIENT_ADDR of a learner to add (repeatable)")
	cmd.Flags().BoolVar(&explicitLeave, "explicit-leave", false, "stay joint until 'member leave-joint'")
	return cmd
}

func (a *app) memberLeaveJointCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "leave-joint",
		Short: "Leave a joint configuration entered with --explicit-leave",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				resp, err := c.LeaveJoint(ctx)
				if err != nil {
					return err
				}
				return a.emitMembership(resp)
			})
		},
	}
}

func (a *app) memberForceNewClusterCommand() *cobra.Command {
	var confirm bool
	cmd := &cobra.Command{
		Use:   "force-new-cluster --confirm",
		Short: "Disaster recovery: make the one member in --endpoints the only voter of a new configuration",
		Long: "Disaster recovery, when a majority of the voters is lost for good (their data is gone).\n" +
			"The member named by --endpoints (exactly one) becomes the only voter of a new configuration:\n" +
			"same cluster and member id, its whole log kept and committed, every other member recorded as\n" +
			"removed (they are refused, and learn it, if they come back). It then leads; add new members\n" +
			"as learners the usual way. Writes the chosen member did not hold are lost: pick the most\n" +
			"up-to-date survivor (highest LAST_LOG in 'raftctl status': term, then index). Refused while the member\n" +
			"knows a leader (HAS_LEADER) and on a member that is not a voter (NOT_VOTER).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !confirm {
				return errors.New("force-new-cluster drops every other member for good: pass --confirm")
			}
			eps := a.endpointList()
			if len(eps) != 1 {
				return fmt.Errorf("force-new-cluster needs exactly one member in --endpoints, the survivor to keep; got %d", len(eps))
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				resp, err := c.ForceNewCluster(ctx, eps[0])
				if err != nil {
					return err
				}
				return a.emitMembership(resp)
			})
		},
	}
	cmd.Flags().BoolVar(&confirm, "confirm", false, "confirm that the other members are lost for good")
	return cmd
}
