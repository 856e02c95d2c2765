package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftkube/raftkube/raftnode/raft"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// probeTimeout bounds each health check: a probe that cannot be answered in a
// second means the member cannot serve requests either.
const probeTimeout = time.Second

// Handler serves the member's HTTP endpoints:
//
//	/healthz  200 while the event loop answers (liveness: restart the process if not)
//	/readyz   200 while the member can serve linearizable requests: it is in the
//	          cluster's configuration, not removed, knows a leader, and a ReadIndex
//	          round completes; ?serializable=true skips the ReadIndex round
//	/metrics  Prometheus metrics
//	/debug/pprof/  Go profiles, only with Config.EnablePprof
//
// Each failing check is named in the response body, one per line, in the style
// of the Kubernetes API server's probes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeChecks(w, []check{{"loop", s.checkLoop(r.Context())}})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		checks := []check{
			{"loop", s.checkLoop(r.Context())},
			{"member", s.checkMember()},
			{"leader", s.checkLeader()},
		}
		if r.URL.Query().Get("serializable") != "true" {
			checks = append(checks, check{"linearizable-read", s.checkRead(r.Context())})
		}
		writeChecks(w, checks)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

type check struct {
	name string
	err  error
}

// writeChecks answers 200 when every check passed and 503 otherwise, listing
// each check's outcome.
func writeChecks(w http.ResponseWriter, checks []check) {
	var b strings.Builder
	ok := true
	for _, c := range checks {
		if c.err != nil {
			ok = false
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, c.err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprint(w, b.String())
}

func (s *Server) checkLoop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := s.inLoop(ctx, func() {}); err != nil {
		return fmt.Errorf("event loop did not answer: %w", err)
	}
	return nil
}

func (s *Server) checkMember() error {
	if s.removed.Load() {
		return errRemoved
	}
	if s.clusterID.Load() == 0 {
		return fmt.Errorf("member %x is waiting to be added to a cluster", s.id)
	}
	if !s.inConfig.Load() {
		return fmt.Errorf("member %x is not in the configuration it has applied so far", s.id)
	}
	return nil
}

func (s *Server) checkLeader() error {
	if s.leader.Load() == raft.None {
		return fmt.Errorf("no leader known")
	}
	return nil
}

func (s *Server) checkRead(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return s.linearize(ctx, serverpb.Consistency_CONSISTENCY_LINEARIZABLE)
}
