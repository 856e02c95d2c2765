package explore

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Scenario is one configuration to explore: the members, the state the search
// starts from, what a leader may propose, and the bounds of the search.
type Scenario struct {
	// Name identifies the scenario in reports and traces.
	Name string
	// Members are the ids of every member that runs. All start from the same
	// bootstrap snapshot, whose configuration is Voters; a member not in Voters
	// is outside the configuration until a change adds it.
	Members []uint64
	// Voters are the voters of the initial configuration.
	Voters []uint64
	// PreVote runs elections with a pre-vote phase.
	PreVote bool
	// Setup takes the cluster from bootstrap to the state the search starts
	// from. Its steps are not explored and spend none of the bounds.
	Setup []SetupStep
	// ConfChanges are the configuration changes a leader may propose; the
	// core refuses those its state does not allow.
	ConfChanges []pb.ConfChangeV2
	// Bounds bound the search.
	Bounds Bounds
}

// Bounds bound a search. A path ends when it has made MaxDepth transitions;
// the other bounds take a kind of transition away once a path has spent them.
type Bounds struct {
	// MaxDepth is the most transitions on a path after the setup.
	MaxDepth int
	// MaxTerm is the highest term a member may campaign for.
	MaxTerm uint64
	// MaxCrashes is the most crashes (each followed by a restart) on a path.
	MaxCrashes int
	// MaxDrops is the most messages a path drops. Dropping matters only for
	// MaxInFlight: for safety an undelivered message is as good as a dropped
	// one, since only delivery changes a member.
	MaxDrops int
	// MaxWrites is the most writes a path proposes.
	MaxWrites int
	// MaxConfChanges is the most configuration changes a leader accepts on a
	// path.
	MaxConfChanges int
	// MaxHeartbeats is the most leader ticks (one heartbeat round each) on a
	// path.
	MaxHeartbeats int
	// MaxInFlight is the most messages in flight for members to start
	// anything: in a state with more, only deliveries and drops are enabled,
	// until the network drains.
	MaxInFlight int
}

// validate checks what the explorer's compact encodings need: member ids
// that fit 32 bits, voters that are members, at most 256 configuration
// changes with the setup's.
func (s *Scenario) validate() error {
	if len(s.Members) == 0 {
		return errors.New("no members")
	}
	for _, id := range s.Members {
		if id == 0 || id > math.MaxUint32 {
			return fmt.Errorf("member id %d is not in [1, 2^32)", id)
		}
	}
	for _, id := range s.Voters {
		if !slices.Contains(s.Members, id) {
			return fmt.Errorf("voter %d is not a member", id)
		}
	}
	changes := len(s.ConfChanges)
	for _, step := range s.Setup {
		if step.action == setupPropose {
			changes++
		}
	}
	if changes > math.MaxUint8+1 {
		return fmt.Errorf("%d configuration changes, at most %d", changes, math.MaxUint8+1)
	}
	return nil
}

// String returns the bounds on one line, for reports.
func (b Bounds) String() string {
	return fmt.Sprintf("depth<=%d term<=%d crashes<=%d drops<=%d writes<=%d confchanges<=%d heartbeats<=%d inflight<=%d",
		b.MaxDepth, b.MaxTerm, b.MaxCrashes, b.MaxDrops, b.MaxWrites, b.MaxConfChanges, b.MaxHeartbeats, b.MaxInFlight)
}

// setupAction is what a SetupStep does.
type setupAction int

const (
	setupCampaign setupAction = iota + 1
	setupPropose
	setupSettle
)

// SetupStep is one step of a scenario's setup; see CampaignStep, ProposeStep
// and SettleStep.
type SetupStep struct {
	action   setupAction
	member   uint64
	change   pb.ConfChangeV2
	isolated []uint64
}

// CampaignStep makes member id start an election.
func CampaignStep(id uint64) SetupStep { return SetupStep{action: setupCampaign, member: id} }

// ProposeStep makes member id, which must lead, propose cc.
func ProposeStep(id uint64, cc pb.ConfChangeV2) SetupStep {
	return SetupStep{action: setupPropose, member: id, change: cc}
}

// SettleStep delivers messages, lowest id first, until only messages to the
// isolated members are left in flight.
func SettleStep(isolated ...uint64) SetupStep {
	return SetupStep{action: setupSettle, isolated: isolated}
}

// String describes the step.
func (s SetupStep) String() string {
	switch s.action {
	case setupCampaign:
		return fmt.Sprintf("campaign %d", s.member)
	case setupPropose:
		return fmt.Sprintf("%d proposes %s", s.member, describeConfChange(s.change))
	case setupSettle:
		if len(s.isolated) == 0 {
			return "settle"
		}
		return fmt.Sprintf("settle but for messages to %v", s.isolated)
	}
	return fmt.Sprintf("SetupStep(%d)", s.action)
}

// describeConfChange renders cc as "v4 r1 (joint, explicit leave)" or
// "leave joint".
func describeConfChange(cc pb.ConfChangeV2) string {
	if cc.LeaveJoint() {
		return "leave joint"
	}
	s := pb.ConfChangesToString(cc.Changes)
	if autoLeave, joint := cc.EnterJoint(); joint {
		if autoLeave {
			return s + " (joint, auto leave)"
		}
		return s + " (joint, explicit leave)"
	}
	return s
}

// The configuration changes of the built-in scenarios: from voters {1,2,3} to
// {2,3,4} through the joint configuration, leaving it explicitly, and back.

// enterNew enters {2,3,4}&&{1,2,3}.
func enterNew() pb.ConfChangeV2 {
	return pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointExplicit, Changes: []pb.ConfChangeSingle{
		{Type: pb.ConfChangeAddNode, NodeID: 4}, {Type: pb.ConfChangeRemoveNode, NodeID: 1},
	}}
}

// enterOld enters {1,2,3}&&{2,3,4}.
func enterOld() pb.ConfChangeV2 {
	return pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointExplicit, Changes: []pb.ConfChangeSingle{
		{Type: pb.ConfChangeAddNode, NodeID: 1}, {Type: pb.ConfChangeRemoveNode, NodeID: 4},
	}}
}

// leaveJoint leaves a joint configuration.
func leaveJoint() pb.ConfChangeV2 { return pb.ConfChangeV2{} }

// Scenarios returns the built-in scenarios, with the bounds of the short run
// (about a second or two each). All but the elections run members 1 to 4
// with voters {1,2,3}: member 4 runs from the start, outside the
// configuration, as a member about to be added does.
func Scenarios() []Scenario {
	four := []uint64{1, 2, 3, 4}
	three := []uint64{1, 2, 3}
	elected := []SetupStep{CampaignStep(2), SettleStep()}
	joint := append(elected, ProposeStep(2, enterNew()), SettleStep())
	return []Scenario{{
		Name:    "elections",
		Members: three, Voters: three,
		Bounds: shortBounds(6, 0),
	}, {
		Name:    "elections-prevote",
		Members: three, Voters: three, PreVote: true,
		Bounds: shortBounds(6, 0),
	}, {
		Name:    "enter-joint",
		Members: four, Voters: three,
		Setup:       elected,
		ConfChanges: []pb.ConfChangeV2{enterNew(), leaveJoint()},
		Bounds:      shortBounds(5, 2),
	}, {
		Name:    "enter-joint-removing-leader",
		Members: four, Voters: three,
		Setup:       []SetupStep{CampaignStep(1), SettleStep()},
		ConfChanges: []pb.ConfChangeV2{enterNew(), leaveJoint()},
		Bounds:      shortBounds(5, 2),
	}, {
		Name:    "joint-with-partitioned-member",
		Members: four, Voters: three,
		Setup:       append(slices.Clone(elected), ProposeStep(2, enterNew()), SettleStep(1)),
		ConfChanges: []pb.ConfChangeV2{leaveJoint()},
		Bounds:      shortBounds(5, 1),
	}, {
		Name:    "leave-joint",
		Members: four, Voters: three,
		Setup:       joint,
		ConfChanges: []pb.ConfChangeV2{leaveJoint(), enterOld()},
		Bounds:      shortBounds(5, 1),
	}, {
		Name:    "back-to-old",
		Members: four, Voters: three,
		Setup:       append(slices.Clone(joint), ProposeStep(2, leaveJoint()), SettleStep()),
		ConfChanges: []pb.ConfChangeV2{enterOld(), leaveJoint()},
		Bounds:      shortBounds(5, 2),
	}}
}

// shortBounds are the bounds of the short run: one crash, drop, write and
// heartbeat, terms up to 3, six messages in flight.
func shortBounds(depth, confChanges int) Bounds {
	return Bounds{MaxDepth: depth, MaxTerm: 3, MaxCrashes: 1, MaxDrops: 1, MaxWrites: 1,
		MaxConfChanges: confChanges, MaxHeartbeats: 1, MaxInFlight: 6}
}

// describeSetup renders a setup on one line.
func describeSetup(steps []SetupStep) string {
	if len(steps) == 0 {
		return "none"
	}
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}
