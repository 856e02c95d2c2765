package harness

import (
	"context"
	"fmt"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 20 * time.Millisecond

// WaitFor calls cond every PollInterval until it returns nil or ctx ends; the
// error then names what was awaited and cond's last error.
func WaitFor(ctx context.Context, what string, cond func(context.Context) error) error {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %w)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}
