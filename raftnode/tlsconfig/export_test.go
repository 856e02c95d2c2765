package tlsconfig

import "time"

// SetNow replaces the Reloader's clock.
func (r *Reloader) SetNow(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}
