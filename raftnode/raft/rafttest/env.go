package rafttest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// Errors of a command that cannot run. Handle fails the test with them; Run
// returns them, wrapped with the command's name.
var (
	// ErrUnknownCommand: the command is not one of the package's.
	ErrUnknownCommand = errors.New("rafttest: unknown command")
	// ErrBadArgument: an argument is missing, malformed or out of range.
	ErrBadArgument = errors.New("rafttest: bad argument")
	// ErrNoMember: no member has the id.
	ErrNoMember = errors.New("rafttest: no such member")
	// ErrMemberDown: the command needs a running member and this one crashed.
	ErrMemberDown = errors.New("rafttest: member is down")
	// ErrNotStable: stabilize gave up, the members still busy after 1000
	// rounds (a livelock).
	ErrNotStable = errors.New("rafttest: members did not stabilize")
)

// InteractionEnv is the world a script runs in: members numbered from 1, the
// messages they sent and nobody has delivered yet, and the isolations in
// force. A script's commands are its only inputs; the zero value is not
// usable, call NewInteractionEnv.
type InteractionEnv struct {
	// members are the members; member i+1 is members[i].
	members []*member
	// messages are the messages sent and not yet delivered, in send order.
	messages []queuedMsg
	// isolated members neither receive nor send: a message from or to one is
	// lost, whether it was sent during the isolation or is delivered during it.
	isolated map[uint64]bool
	// out receives the output of the command being run, log lines included,
	// in the order things happen.
	out *strings.Builder
	// level is the lowest log level written to out.
	level logLevel
}

// NewInteractionEnv returns an environment without members, logging at INFO.
func NewInteractionEnv() *InteractionEnv {
	return &InteractionEnv{
		isolated: make(map[uint64]bool),
		out:      &strings.Builder{},
		level:    levelInfo,
	}
}

// Handle runs one command of a datadriven script and returns its output; a
// command that cannot run fails t. Its signature is the one
// datadriven.RunTest takes.
func (env *InteractionEnv) Handle(t *testing.T, td *datadriven.TestData) string {
	t.Helper()
	out, err := env.run(td)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	return out
}

// Run runs one command written as a script line, such as "campaign 1", with
// input the lines below it (propose-conf-change reads its changes there), and
// returns what it printed. It is Handle for programs that do not run
// datadriven files.
func (env *InteractionEnv) Run(line, input string) (string, error) {
	cmd, args, err := datadriven.ParseLine(line)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadArgument, err)
	}
	return env.run(&datadriven.TestData{Cmd: cmd, CmdArgs: args, Input: input})
}

func (env *InteractionEnv) run(td *datadriven.TestData) (string, error) {
	h, ok := handlers[td.Cmd]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownCommand, td.Cmd)
	}
	env.out.Reset()
	if err := h(env, td); err != nil {
		return "", fmt.Errorf("%s: %w", td.Cmd, err)
	}
	if env.out.Len() == 0 {
		return "ok\n", nil
	}
	return env.out.String(), nil
}

// printf writes to the output of the command being run.
func (env *InteractionEnv) printf(format string, args ...any) {
	fmt.Fprintf(env.out, format, args...)
}

// withIndent runs f and indents what it writes by two spaces, so that the
// Readies and deliveries of stabilize nest under their headers.
func (env *InteractionEnv) withIndent(f func() error) error {
	orig := env.out
	env.out = &strings.Builder{}
	defer func() {
		inner := env.out.String()
		env.out = orig
		for _, line := range strings.SplitAfter(inner, "\n") {
			if line != "" {
				env.out.WriteString("  " + line)
			}
		}
	}()
	return f()
}

// member returns member id, running or not.
func (env *InteractionEnv) member(id uint64) (*member, error) {
	if id == 0 || id > uint64(len(env.members)) {
		return nil, fmt.Errorf("%w %d (members are 1..%d)", ErrNoMember, id, len(env.members))
	}
	return env.members[id-1], nil
}

// running returns member id, which must be up.
func (env *InteractionEnv) running(id uint64) (*member, error) {
	m, err := env.member(id)
	if err != nil {
		return nil, err
	}
	if m.down() {
		return nil, fmt.Errorf("%w: %d", ErrMemberDown, id)
	}
	return m, nil
}
