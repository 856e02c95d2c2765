package linearizability

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome classifies how a request ended, which decides how it is recorded.
type Outcome uint8

const (
	// Completed means the server answered; the Output is the answer.
	Completed Outcome = iota
	// Unknown means the request may have taken effect, now or later
	// (client.ErrOutcomeUnknown). Recorded as never returning.
	Unknown
	// NotApplied means the request provably had no effect (never sent,
	// refused, or a failed read). Not recorded.
	NotApplied
)

func (o Outcome) String() string {
	switch o {
	case Completed:
		return "completed"
	case Unknown:
		return "unknown"
	case NotApplied:
		return "not applied"
	}
	return "outcome?"
}

// Recorder collects one history from concurrent sessions. It is safe for
// concurrent use.
type Recorder struct {
	start time.Time // the monotonic clock's origin for every timestamp

	mu          sync.Mutex
	ops         []porcupine.Operation
	annotations []porcupine.Annotation
	stats       Stats
	// nextClient is the next porcupine client id to hand out.
	nextClient int
}

// Stats counts what a Recorder saw.
type Stats struct {
	// Completed, Unknown and NotApplied count requests by outcome; the history
	// holds Completed + Unknown operations.
	Completed, Unknown, NotApplied int
	// ByKind counts the recorded operations (completed or unknown) by kind.
	ByKind map[OpKind]int
}

// NewRecorder starts a history now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now(), stats: Stats{ByKind: make(map[OpKind]int)}}
}

// Now is the time since the recorder started, from the monotonic clock, in
// the unit of the history's timestamps (nanoseconds).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Annotate notes something that happened from start to end (Now values) on
// the history's time line, such as a fault the test injected; the
// visualization shows it on a line of its own named tag.
func (r *Recorder) Annotate(tag string, start, end int64, description, details string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.annotations = append(r.annotations, porcupine.Annotation{
		Tag: tag, Start: start, End: end, Description: description, Details: details,
	})
}

// Annotations returns a copy of the annotations so far.
func (r *Recorder) Annotations() []porcupine.Annotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Annotation(nil), r.annotations...)
}

// Session is one sequential client of a history: it runs one request at a
// time. A session is not safe for concurrent use; use one per goroutine.
type Session struct {
	r *Recorder
	// client is the porcupine client id of the session's requests. A request
	// with an unknown outcome never returns, so the session continues under a
	// new id: porcupine's visualization draws one client's requests on one
	// line, one after another.
	client int
}

// Session starts a new sequential client.
func (r *Recorder) Session() *Session {
	return &Session{r: r, client: r.newClient()}
}

func (r *Recorder) newClient() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextClient
	r.nextClient++
	return id
}

// Do runs one request: it takes the call time, runs do, takes the return time
// and records the operation according to do's outcome. note, when not empty,
// is kept as the operation's metadata (the visualization shows it), for
// instance the error of an unknown outcome.
func (s *Session) Do(in Input, do func() (out Output, outcome Outcome, note string)) (Output, Outcome) {
	call := s.r.Now()
	out, outcome, note := do()
	ret := s.r.Now()
	s.r.record(s.client, in, call, ret, out, outcome, note)
	if outcome == Unknown {
		s.client = s.r.newClient()
	}
	return out, outcome
}

func (r *Recorder) record(client int, in Input, call, ret int64, out Output, outcome Outcome, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch outcome {
	case NotApplied:
		r.stats.NotApplied++
		return
	case Unknown:
		r.stats.Unknown++
		// The request may take effect at any time after its call, even after
		// the last recorded operation: it never returns.
		ret = math.MaxInt64
		out = Output{Unknown: true}
	default:
		r.stats.Completed++
	}
	r.stats.ByKind[in.Kind]++
	op := porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	if note != "" {
		op.Metadata = note
	}
	r.ops = append(r.ops, op)
}

// History returns a copy of the operations recorded so far.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Stats returns the counts so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.ByKind = make(map[OpKind]int, len(r.stats.ByKind))
	for k, n := range r.stats.ByKind {
		st.ByKind[k] = n
	}
	return st
}

// savedOp is an operation as WriteHistory stores it.
type savedOp struct {
	Client int
	Call   int64
	// Return is math.MaxInt64 for an operation that never returned.
	Return int64
	Input  Input
	Output Output
	Note   string `json:",omitempty"`
	// Text is DescribeOperation's, for a human reading the file.
	Text string
}

// WriteHistory saves history as JSON, to check it again with ReadHistory.
func WriteHistory(path string, history []porcupine.Operation) error {
	ops := make([]savedOp, len(history))
	for i, o := range history {
		in, out := o.Input.(Input), o.Output.(Output)
		note, _ := o.Metadata.(string)
		ops[i] = savedOp{Client: o.ClientId, Call: o.Call, Return: o.Return, Input: in, Output: out,
			Note: note, Text: DescribeOperation(in, out)}
	}
	b, err := json.MarshalIndent(ops, "", " ")
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return nil
}

// ReadHistory loads a history WriteHistory saved.
func ReadHistory(path string) ([]porcupine.Operation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var ops []savedOp
	if err := json.Unmarshal(b, &ops); err != nil {
		return nil, fmt.Errorf("decode history %s: %w", path, err)
	}
	history := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		history[i] = porcupine.Operation{ClientId: o.Client, Call: o.Call, Return: o.Return, Input: o.Input, Output: o.Output}
		if o.Note != "" {
			history[i].Metadata = o.Note
		}
	}
	return history, nil
}
