package rafttest

import (
	"fmt"

	"github.com/cockroachdb/datadriven"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Why a queued message will be dropped when it is delivered.
const (
	// lostPartitioned: sent from or to an isolated member.
	lostPartitioned = "partitioned"
	// lostDown: sent to a member that was down, or on its way to one that
	// crashed.
	lostDown = "down"
)

// queuedMsg is a message in flight.
type queuedMsg struct {
	pb.Message
	// lost, when set, says why the message will be dropped on delivery even
	// if the partition has healed or the member restarted by then.
	lost string
}

// send queues msgs for delivery, marking those that cannot arrive as lost.
func (env *InteractionEnv) send(msgs []pb.Message) {
	for _, m := range msgs {
		q := queuedMsg{Message: m}
		switch {
		case env.isolated[m.From] || env.isolated[m.To]:
			q.lost = lostPartitioned
		case m.To != 0 && m.To <= uint64(len(env.members)) && env.members[m.To-1].down():
			q.lost = lostDown
		}
		env.messages = append(env.messages, q)
	}
}

// deliverMsgs delivers (or, with drop, discards) the queued messages
// addressed to id, in the order they were sent, and reports whether there
// were any. Messages that cannot arrive are dropped.
func (env *InteractionEnv) deliverMsgs(id uint64, drop bool) bool {
	var mine, rest []queuedMsg
	for _, m := range env.messages {
		if m.To == id {
			mine = append(mine, m)
		} else {
			rest = append(rest, m)
		}
	}
	env.messages = rest
	for _, m := range mine {
		switch {
		case drop:
			env.printf("dropped: %s\n", pb.DescribeMessage(m.Message))
			continue
		case m.lost != "":
			env.printf("dropped (%s): %s\n", m.lost, pb.DescribeMessage(m.Message))
			continue
		case env.isolated[m.To] || env.isolated[m.From]:
			env.printf("dropped (%s): %s\n", lostPartitioned, pb.DescribeMessage(m.Message))
			continue
		case m.To == 0 || m.To > uint64(len(env.members)):
			env.printf("dropped (no such member): %s\n", pb.DescribeMessage(m.Message))
			continue
		case env.members[m.To-1].down():
			env.printf("dropped (%s): %s\n", lostDown, pb.DescribeMessage(m.Message))
			continue
		}
		env.printf("%s\n", pb.DescribeMessage(m.Message))
		if err := env.members[m.To-1].rn.Step(m.Message); err != nil {
			env.printf("%v\n", err)
		}
	}
	return len(mine) > 0
}

func (env *InteractionEnv) hasMsgsFor(id uint64) bool {
	for _, m := range env.messages {
		if m.To == id {
			return true
		}
	}
	return false
}

// stabilizeRounds bounds stabilize, so that a livelock fails the script
// instead of hanging it.
const stabilizeRounds = 1000

// stabilize handles Readies and delivers messages among members until none
// of them has anything left to do. Each round handles every member's Ready
// in id order, then delivers to every member in id order.
func (env *InteractionEnv) stabilize(members []*member) error {
	for round := 0; ; round++ {
		if round == stabilizeRounds {
			return fmt.Errorf("%w: still busy after %d rounds", ErrNotStable, stabilizeRounds)
		}
		done := true
		for _, m := range members {
			if !m.rn.HasReady() {
				continue
			}
			done = false
			env.printf("> %d handling Ready\n", m.id)
			if err := env.withIndent(func() error { return env.processReady(m) }); err != nil {
				return err
			}
		}
		for _, m := range members {
			if !env.hasMsgsFor(m.id) {
				continue
			}
			done = false
			env.printf("> %d receiving messages\n", m.id)
			_ = env.withIndent(func() error { env.deliverMsgs(m.id, false); return nil })
		}
		if done {
			return nil
		}
	}
}

// handleStabilize: stabilize [ID...].
func handleStabilize(env *InteractionEnv, td *datadriven.TestData) error {
	members, err := env.runningOrAll(td)
	if err != nil {
		return err
	}
	return env.stabilize(members)
}

// handleProcessReady: process-ready [ID...].
func handleProcessReady(env *InteractionEnv, td *datadriven.TestData) error {
	members, err := env.runningOrAll(td)
	if err != nil {
		return err
	}
	for _, m := range members {
		process := func() error {
			if !m.rn.HasReady() {
				env.printf("<empty Ready>\n")
				return nil
			}
			return env.processReady(m)
		}
		if len(members) == 1 {
			return process()
		}
		env.printf("> %d handling Ready\n", m.id)
		if err := env.withIndent(process); err != nil {
			return err
		}
	}
	return nil
}

// handleDeliverMsgs: deliver-msgs [ID...] [drop=BOOL].
func handleDeliverMsgs(env *InteractionEnv, td *datadriven.TestData) error {
	var drop bool
	if err := optBool(td, "drop", &drop); err != nil {
		return err
	}
	ids, err := env.idsOrAll(td)
	if err != nil {
		return err
	}
	for _, id := range ids {
		deliver := func() error {
			if !env.deliverMsgs(id, drop) {
				env.printf("no messages\n")
			}
			return nil
		}
		if len(ids) == 1 {
			return deliver()
		}
		env.printf("> %d receiving messages\n", id)
		_ = env.withIndent(deliver)
	}
	return nil
}

// handleIsolate: isolate ID.
func handleIsolate(env *InteractionEnv, td *datadriven.TestData) error {
	id, err := positionalUint(td, 0)
	if err != nil {
		return err
	}
	if _, err := env.member(id); err != nil {
		return err
	}
	env.isolated[id] = true
	return nil
}

// handleHeal: heal.
func handleHeal(env *InteractionEnv, _ *datadriven.TestData) error {
	clear(env.isolated)
	return nil
}

// idsOrAll returns the member ids given as positional arguments, or every
// member's id.
func (env *InteractionEnv) idsOrAll(td *datadriven.TestData) ([]uint64, error) {
	var ids []uint64
	for i, arg := range td.CmdArgs {
		if len(arg.Vals) != 0 {
			continue
		}
		id, err := positionalUint(td, i)
		if err != nil {
			return nil, err
		}
		if _, err := env.member(id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		for _, m := range env.members {
			ids = append(ids, m.id)
		}
	}
	return ids, nil
}

// runningOrAll returns the members given as positional arguments, which must
// be running, or every running member.
func (env *InteractionEnv) runningOrAll(td *datadriven.TestData) ([]*member, error) {
	var members []*member
	for i, arg := range td.CmdArgs {
		if len(arg.Vals) != 0 {
			continue
		}
		id, err := positionalUint(td, i)
		if err != nil {
			return nil, err
		}
		m, err := env.running(id)
		if err != nil {
			return nil, err
		}
		members = append(members, m)
	}
	if len(members) > 0 {
		return members, nil
	}
	for _, m := range env.members {
		if !m.down() {
			members = append(members, m)
		}
	}
	return members, nil
}
