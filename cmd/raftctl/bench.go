package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/raftnode/client"
)

// benchConfig is one benchmark run.
type benchConfig struct {
	op           string // "put" or "get"
	clients      int
	total        int
	duration     time.Duration
	valueSize    int
	keySpace     int
	serializable bool
}

// benchSummary is the JSON form of a run's result. Latencies are in
// milliseconds, percentiles by nearest rank over every successful request.
type benchSummary struct {
	Op         string             `json:"op"`
	Requests   int                `json:"requests"`
	Errors     int                `json:"errors"`
	Seconds    float64            `json:"seconds"`
	Throughput float64            `json:"throughput"`
	LatencyMS  map[string]float64 `json:"latency_ms"`
	FirstError string             `json:"first_error,omitempty"`
}

func (a *app) benchCommand() *cobra.Command {
	var bc benchConfig
	cmd := &cobra.Command{
		Use:       "bench put|get",
		Short:     "Benchmark puts or gets; a progress bar on stderr, a summary on stdout",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"put", "get"},
		RunE: func(cmd *cobra.Command, args []string) error {
			bc.op = args[0]
			if bc.clients < 1 || bc.keySpace < 1 || bc.valueSize < 0 {
				return errors.New("bench: --clients and --key-space must be positive")
			}
			if bc.duration > 0 {
				bc.total = 0
			} else if bc.total <= 0 {
				return errors.New("bench: --total must be positive without --duration")
			}
			// The command timeout bounds one request here, not the whole run.
			return a.withClientTimeout(cmd, 0, func(ctx context.Context, c *client.Client) error {
				s := a.runBench(ctx, c, bc)
				if err := a.emitBench(s); err != nil {
					return err
				}
				if s.Errors > 0 {
					return fmt.Errorf("%d of %d requests failed; first: %s", s.Errors, s.Requests, s.FirstError)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&bc.clients, "clients", 8, "concurrent requests")
	f.IntVar(&bc.total, "total", 10000, "requests to make (ignored with --duration)")
	f.DurationVar(&bc.duration, "duration", 0, "run for this long instead of --total requests")
	f.IntVar(&bc.valueSize, "value-size", 64, "bytes per value (put)")
	f.IntVar(&bc.keySpace, "key-space", 1000, "keys are chosen at random among this many")
	f.BoolVar(&bc.serializable, "serializable", false, "serializable reads (get)")
	return cmd
}

func (a *app) runBench(ctx context.Context, c *client.Client, bc benchConfig) benchSummary {
	max := int64(bc.total)
	if bc.duration > 0 {
		max = -1 // a spinner: the end is a time, not a count
	}
	bar := progressbar.NewOptions64(max, progressbar.OptionSetWriter(a.errOut), progressbar.OptionSetDescription("bench "+bc.op),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.errOut) }))
	value := make([]byte, bc.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var opts []client.ReadOption
	if bc.serializable {
		opts = append(opts, client.Serializable())
	}
	var (
		issued   atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		errCount int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	// With --duration no request starts after end, and those in flight finish:
	// a deadline on the requests themselves would count the last ones as failed.
	end := start.Add(bc.duration)
	more := func() bool {
		if bc.duration > 0 {
			return time.Now().Before(end)
		}
		return issued.Add(1) <= int64(bc.total)
	}
	for range bc.clients {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil && more() {
				key := fmt.Appendf(nil, "bench/%08d", rand.IntN(bc.keySpace))
				t0 := time.Now()
				var err error
				if bc.op == "put" {
					_, err = c.Put(ctx, key, value)
				} else {
					_, _, err = c.Get(ctx, key, opts...)
				}
				_ = bar.Add(1)
				if err != nil {
					mu.Lock()
					errCount++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	_ = bar.Finish()
	elapsed := time.Since(start)
	s := summarize(lat, elapsed)
	s.Op, s.Errors, s.Requests = bc.op, errCount, len(lat)+errCount
	if firstErr != nil {
		s.FirstError = firstErr.Error()
	}
	return s
}

// percentiles reported, as JSON keys and fractions.
var percentiles = []struct {
	name string
	q    float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}, {"max", 1}}

// summarize computes throughput and nearest-rank percentiles of lat.
func summarize(lat []time.Duration, elapsed time.Duration) benchSummary {
	s := benchSummary{Seconds: elapsed.Seconds(), LatencyMS: map[string]float64{}}
	if elapsed > 0 {
		s.Throughput = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	for _, p := range percentiles {
		if len(lat) == 0 {
			s.LatencyMS[p.name] = 0
			continue
		}
		rank := max(int(math.Ceil(p.q*float64(len(lat))))-1, 0)
		s.LatencyMS[p.name] = float64(lat[rank]) / float64(time.Millisecond)
	}
	return s
}

func (a *app) emitBench(s benchSummary) error {
	rows := [][]string{{"OP", "REQUESTS", "ERRORS", "SECONDS", "THROUGHPUT/S", "P50_MS", "P90_MS", "P99_MS", "P999_MS", "MAX_MS"}}
	row := []string{s.Op, fmt.Sprint(s.Requests), fmt.Sprint(s.Errors), fmt.Sprintf("%.2f", s.Seconds), fmt.Sprintf("%.1f", s.Throughput)}
	for _, p := range percentiles {
		row = append(row, fmt.Sprintf("%.3f", s.LatencyMS[p.name]))
	}
	return a.emit(s, append(rows, row))
}
