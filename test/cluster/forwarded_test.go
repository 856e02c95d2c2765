package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/test/harness"
)

// A write whose proposal is lost on the way (forwarded by a follower to a
// leader that is handing leadership over, which drops it; or in a deposed
// leader's uncommitted tail) is answered as soon as the member applies an
// entry of a later term, not when its deadline expires: no put ends with
// DeadlineExceeded while leadership moves back and forth, though every put
// goes through the one member that never leads, so every put is forwarded.
func TestDroppedProposalAnsweredAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := harness.StartCluster(ctx, t, bins, harness.Options{Voters: 3, TickInterval: 100 * time.Millisecond})
	lead, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var follower, other *harness.Node
	for _, n := range c.Members() {
		switch {
		case n == lead:
		case follower == nil:
			follower = n
		default:
			other = n
		}
	}
	cl := c.ClientOf(t, follower)
	wctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var expired []string
	puts, unknown := 0, 0
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				_, err := cl.Put(wctx, []byte(fmt.Sprintf("w%d-%d", w, i)), []byte("v"))
				var cerr *client.Error
				mu.Lock()
				puts++
				switch {
				case wctx.Err() != nil:
				case errors.As(err, &cerr) && cerr.Code == codes.DeadlineExceeded:
					expired = append(expired, err.Error())
				case err != nil:
					unknown++
				}
				mu.Unlock()
			}
		})
	}
	targets := []*harness.Node{other, lead}
	tick := time.NewTicker(700 * time.Millisecond)
	defer tick.Stop()
	for i := range 10 {
		<-tick.C
		if err := c.TransferLeadership(ctx, targets[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	<-tick.C
	stop()
	wg.Wait()
	t.Logf("%d puts through %s while leadership moved 10 times between the others: %d failed at once, %d waited out their deadline",
		puts, follower.Name(), unknown, len(expired))
	for _, e := range expired {
		t.Errorf("a put waited out its deadline: %s", e)
	}
}
