// Package transport carries Raft messages between members over HTTP. Each
// peer has a queue and one goroutine that posts what is queued, a batch at a
// time, to the peer's Path; a batch is a sequence of messages, each a
// uvarint length followed by the marshaled raftpb.Message.
//
// Send marshals every message before it returns, so the caller may reuse its
// slice at once: the transport works for a member with
// Config.ReuseReadyMessages, whose core clears and refills the Ready's
// message slices after Advance.
package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// Path is where a member takes batches of messages from its peers.
const Path = "/raft/messages"

const (
	// queueSize bounds the messages waiting for one peer; more are dropped
	// and reported, as a lossy network would drop them.
	queueSize = 1024
	// maxBatch bounds the messages in one request.
	maxBatch = 64
	// maxBatchBytes bounds a request body the handler accepts.
	maxBatchBytes = 512 << 20
	// requestTimeout bounds one request, so a peer that stopped answering
	// holds up its own queue only.
	requestTimeout = 5 * time.Second
)

// ErrMalformed means a request body is not a batch of messages.
var ErrMalformed = errors.New("transport: malformed batch")

// Report is the outcome of sending messages to a peer that the Raft core
// must hear: a failure (RawNode.ReportUnreachable) or the fate of a
// snapshot (RawNode.ReportSnapshot).
type Report struct {
	// Peer is the member the messages were for.
	Peer uint64
	// Failed says they were not delivered.
	Failed bool
	// Snapshot says a MsgSnap was among them.
	Snapshot bool
}

// Transport sends messages to peers. Its methods are safe for concurrent use.
type Transport struct {
	client   *http.Client
	httpConn *http.Transport
	// reports goes to the member's loop.
	reports chan<- Report
	// ctx is cancelled by Close, ending requests in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	peers  map[uint64]*peer
	closed bool
}

// peer is one peer's queue and the goroutine draining it.
type peer struct {
	id    uint64
	url   string
	queue chan outgoing
	// stop tells the goroutine to send what is queued and exit.
	stop chan struct{}
}

// outgoing is one marshaled message.
type outgoing struct {
	data []byte
	snap bool
}

// New returns a Transport that delivers its reports on reports.
func New(reports chan<- Report) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	conn := &http.Transport{MaxIdleConnsPerHost: 2}
	return &Transport{
		client:   &http.Client{Transport: conn, Timeout: requestTimeout},
		httpConn: conn,
		reports:  reports,
		ctx:      ctx,
		cancel:   cancel,
		peers:    map[uint64]*peer{},
	}
}

// SetPeers makes urls, by member id, the peers to send to: new ones get a
// queue, peers no longer listed or at a new URL lose theirs after it drains.
func (t *Transport) SetPeers(urls map[uint64]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for id, p := range t.peers {
		if urls[id] != p.url {
			close(p.stop)
			delete(t.peers, id)
		}
	}
	for id, url := range urls {
		if _, ok := t.peers[id]; ok {
			continue
		}
		p := &peer{id: id, url: url, queue: make(chan outgoing, queueSize), stop: make(chan struct{})}
		t.peers[id] = p
		t.wg.Add(1)
		go t.run(p)
	}
}

// Send queues msgs, marshaled, and returns without waiting for the network.
// It returns the reports of messages it could not queue (unknown peer, full
// queue), for the caller to hand to the core itself: a send on the reports
// channel from the goroutine that reads it would block forever.
func (t *Transport) Send(msgs []pb.Message) []Report {
	if len(msgs) == 0 {
		return nil
	}
	var dropped []Report
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		p := t.peers[m.To]
		o := outgoing{data: m.MarshalAppend(nil), snap: m.Type == pb.MsgSnap}
		queued := false
		if p != nil && !t.closed {
			select {
			case p.queue <- o:
				queued = true
			default:
			}
		}
		if !queued {
			dropped = append(dropped, Report{Peer: m.To, Failed: true, Snapshot: o.snap})
		}
	}
	return dropped
}

// Close stops sending. Queued messages still go out until ctx is done (a
// member removed from the cluster hands over leadership in its last
// messages); then requests in flight are cancelled.
func (t *Transport) Close(ctx context.Context) {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for _, p := range t.peers {
			close(p.stop)
		}
	}
	t.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		t.cancel()
		<-drained
	}
	t.cancel()
	t.httpConn.CloseIdleConnections()
}

// run posts p's queue in batches until p is stopped and drained.
func (t *Transport) run(p *peer) {
	defer t.wg.Done()
	for {
		var batch []outgoing
		select {
		case o := <-p.queue:
			batch = append(batch, o)
		case <-p.stop:
			for {
				batch = takeQueued(p.queue, nil)
				if len(batch) == 0 {
					return
				}
				_ = t.post(p.url, batch) // no one reads reports any more
			}
		}
		batch = takeQueued(p.queue, batch)
		r := Report{Peer: p.id}
		for _, o := range batch {
			r.Snapshot = r.Snapshot || o.snap
		}
		r.Failed = t.post(p.url, batch) != nil
		if !r.Failed && !r.Snapshot {
			continue
		}
		select {
		case t.reports <- r:
		case <-p.stop:
		}
	}
}

// takeQueued appends to batch what queue holds, up to maxBatch, without
// waiting.
func takeQueued(queue <-chan outgoing, batch []outgoing) []outgoing {
	for len(batch) < maxBatch {
		select {
		case o := <-queue:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// post sends one batch.
func (t *Transport) post(url string, batch []outgoing) error {
	var body []byte
	for _, o := range batch {
		body = binary.AppendUvarint(body, uint64(len(o.data)))
		body = append(body, o.data...)
	}
	req, err := http.NewRequestWithContext(t.ctx, http.MethodPost, url+Path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("post to %s: %s", url, resp.Status)
	}
	return nil
}

// Handler takes batches of messages posted to Path and hands each message,
// in order, to deliver; an error from deliver fails the request (the sender
// reports the peer unreachable).
func Handler(deliver func(context.Context, pb.Message) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		// The body is read into a buffer of this request's own: decoded
		// messages alias it, and it is never reused.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msgs, err := decodeBatch(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, m := range msgs {
			if err := deliver(r.Context(), m); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// decodeBatch decodes a request body; the messages alias body.
func decodeBatch(body []byte) ([]pb.Message, error) {
	var msgs []pb.Message
	for len(body) > 0 {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) {
			return nil, fmt.Errorf("%w: bad length at message %d", ErrMalformed, len(msgs))
		}
		var m pb.Message
		if err := m.Unmarshal(body[k : k+int(n)]); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", ErrMalformed, len(msgs), err)
		}
		msgs = append(msgs, m)
		body = body[k+int(n):]
	}
	return msgs, nil
}
