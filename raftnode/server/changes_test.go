package server

import (
	"sync"
	"testing"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestChangesWakesATakenWaiter(t *testing.T) {
	c := newChanges()
	ch := c.next()
	if closed(ch) {
		t.Fatal("woken before any notify")
	}
	c.notify()
	if !closed(ch) {
		t.Fatal("not woken by the notify after next")
	}
	if closed(c.next()) {
		t.Fatal("a waiter taken after the notify is woken by it")
	}
}

// With no waiter, notify returns at once and wakes no later waiter: that one
// waits for the following notify.
func TestChangesNotifyWithoutWaiter(t *testing.T) {
	c := newChanges()
	c.notify()
	c.notify()
	ch := c.next()
	if closed(ch) {
		t.Fatal("a waiter taken after the notifies is woken by them")
	}
	c.notify()
	if !closed(ch) {
		t.Fatal("not woken by the notify after next")
	}
}

func TestChangesWakesEveryWaiter(t *testing.T) {
	c := newChanges()
	const n = 16
	var taken, woken sync.WaitGroup
	taken.Add(n)
	woken.Add(n)
	for range n {
		go func() {
			ch := c.next()
			taken.Done()
			<-ch
			woken.Done()
		}()
	}
	taken.Wait() // every waiter took its channel: one notify must wake all
	c.notify()
	woken.Wait()
}
