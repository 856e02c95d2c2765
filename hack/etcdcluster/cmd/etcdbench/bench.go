package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// benchConfig is one run, with raftctl bench's flags (cmd/raftctl/bench.go).
type benchConfig struct {
	op           string // "put" or "get"
	clients      int
	total        int
	valueSize    int
	keySpace     int
	serializable bool
}

// benchSummary is raftctl bench -o json's summary, field for field: latencies
// in milliseconds, percentiles by nearest rank over every successful request.
type benchSummary struct {
	Op         string             `json:"op"`
	Requests   int                `json:"requests"`
	Errors     int                `json:"errors"`
	Seconds    float64            `json:"seconds"`
	Throughput float64            `json:"throughput"`
	LatencyMS  map[string]float64 `json:"latency_ms"`
	FirstError string             `json:"first_error,omitempty"`
}

func runBench(op string, args []string, out io.Writer) error {
	bc := benchConfig{op: op}
	fs := flag.NewFlagSet("etcdbench "+op, flag.ContinueOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client addresses; the workload goes to the leader's")
	fs.IntVar(&bc.clients, "clients", 8, "concurrent requests")
	fs.IntVar(&bc.total, "total", 10000, "requests to make")
	fs.IntVar(&bc.valueSize, "value-size", 64, "bytes per value (put)")
	fs.IntVar(&bc.keySpace, "key-space", 1000, "keys are chosen at random among this many")
	fs.BoolVar(&bc.serializable, "serializable", false, "serializable reads (get)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if bc.clients < 1 || bc.keySpace < 1 || bc.valueSize < 0 || bc.total < 1 {
		return errors.New("--clients, --key-space and --total must be positive")
	}
	eps := splitEndpoints(*endpoints)
	ctx := context.Background()
	// raftctl's client sends every request to the leader; so does this one,
	// through a client that knows only the leader's endpoint (one connection,
	// as raftctl has).
	probe, err := newClient(eps)
	if err != nil {
		return err
	}
	lead, err := leaderEndpoint(ctx, probe, eps)
	probe.Close()
	if err != nil {
		return err
	}
	c, err := newClient([]string{lead})
	if err != nil {
		return err
	}
	defer c.Close()

	s := runWorkload(ctx, c, bc)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	if s.Errors > 0 {
		return fmt.Errorf("%d of %d requests failed; first: %s", s.Errors, s.Requests, s.FirstError)
	}
	return nil
}

// runWorkload is raftctl bench's loop (runBench in cmd/raftctl/bench.go)
// without the progress bar: clients goroutines share one counter of issued
// requests; each picks a key at random, times the request alone and keeps the
// latencies of those that succeeded.
func runWorkload(ctx context.Context, c *clientv3.Client, bc benchConfig) benchSummary {
	value := make([]byte, bc.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	val := string(value)
	var opts []clientv3.OpOption
	if bc.serializable {
		opts = append(opts, clientv3.WithSerializable())
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
	for range bc.clients {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil && issued.Add(1) <= int64(bc.total) {
				key := fmt.Sprintf("bench/%08d", rand.IntN(bc.keySpace))
				t0 := time.Now()
				var err error
				if bc.op == "put" {
					_, err = c.Put(ctx, key, val)
				} else {
					_, err = c.Get(ctx, key, opts...)
				}
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
	elapsed := time.Since(start)
	s := summarize(lat, elapsed)
	s.Op, s.Errors, s.Requests = bc.op, errCount, len(lat)+errCount
	if firstErr != nil {
		s.FirstError = firstErr.Error()
	}
	return s
}

// percentiles reported, as JSON keys and fractions (as raftctl bench).
var percentiles = []struct {
	name string
	q    float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}, {"max", 1}}

// summarize computes throughput and nearest-rank percentiles of lat, exactly
// as raftctl bench does.
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
