package server

import "sync"

// changes lets goroutines off the loop wait for the member's state to change
// (leader, term, applied index, configuration, removal) instead of polling:
// the loop calls notify after every event it handled that may have changed
// anything, and a waiter takes next before it looks at the state, so no
// change between its look and its wait is missed.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
	// taken is set once next handed out ch: until then notify has no one
	// to wake and costs nothing (the loop notifies after every event).
	taken bool
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

// next returns a channel closed at the next notify.
func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taken = true
	return c.ch
}

// notify wakes every waiter.
func (c *changes) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.taken {
		return
	}
	close(c.ch)
	c.ch, c.taken = make(chan struct{}), false
}
