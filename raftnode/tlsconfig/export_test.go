package tlsconfig

import "time"

// SetNow replaces the Reloader's clock.
func (r *Reloader) SetNow(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// SetNow replaces the CABundle's clock.
func (b *CABundle) SetNow(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = now
}

// SetNow replaces the clocks of the Source's reloaders.
func (s *Source) SetNow(now func() time.Time) {
	if s.cert != nil {
		s.cert.SetNow(now)
	}
	if s.cas != nil {
		s.cas.SetNow(now)
	}
}
