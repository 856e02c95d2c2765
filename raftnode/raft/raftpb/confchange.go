package raftpb

// ConfChangeI is either a ConfChange or a ConfChangeV2, so that callers can propose
// and apply both through one API.
type ConfChangeI interface {
	AsV2() ConfChangeV2
	AsV1() (ConfChange, bool)
}

// AsV2 returns the ConfChangeV2 that makes the same change as c.
func (c ConfChange) AsV2() ConfChangeV2 {
	return ConfChangeV2{
		Changes: []ConfChangeSingle{{Type: c.Type, NodeID: c.NodeID}},
		Context: c.Context,
	}
}

// AsV1 returns c and true.
func (c ConfChange) AsV1() (ConfChange, bool) { return c, true }

// AsV2 returns c.
func (c ConfChangeV2) AsV2() ConfChangeV2 { return c }

// AsV1 returns false: a ConfChangeV2 cannot in general be expressed as a ConfChange.
func (c ConfChangeV2) AsV1() (ConfChange, bool) { return ConfChange{}, false }

// EnterJoint reports whether c needs joint consensus, and if so whether the joint
// configuration is left automatically. A change uses joint consensus when its
// transition asks for it or when more than one change is made at once.
func (c ConfChangeV2) EnterJoint() (autoLeave bool, ok bool) {
	if c.Transition != ConfChangeTransitionAuto || len(c.Changes) > 1 {
		switch c.Transition {
		case ConfChangeTransitionAuto, ConfChangeTransitionJointImplicit:
			autoLeave = true
		case ConfChangeTransitionJointExplicit:
		default:
			// An unknown transition is treated as the safe default.
			autoLeave = true
		}
		return autoLeave, true
	}
	return false, false
}

// Forced reports whether c is a forced configuration
// (ConfChangeTransitionForce), which neither enters nor leaves a joint one.
func (c ConfChangeV2) Forced() bool { return c.Transition == ConfChangeTransitionForce }

// LeaveJoint reports whether c is the empty change that leaves a joint
// configuration.
func (c ConfChangeV2) LeaveJoint() bool {
	return c.Transition == ConfChangeTransitionAuto && len(c.Changes) == 0
}
