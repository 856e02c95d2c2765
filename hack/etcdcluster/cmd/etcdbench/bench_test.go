package main

import (
	"strings"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat, 2*time.Second)
	want := map[string]float64{"p50": 50, "p90": 90, "p99": 99, "p999": 100, "max": 100}
	for k, v := range want {
		if s.LatencyMS[k] != v {
			t.Errorf("%s = %v, want %v", k, s.LatencyMS[k], v)
		}
	}
	if s.Throughput != 50 {
		t.Errorf("throughput = %v, want 50", s.Throughput)
	}
	if s := summarize(nil, time.Second); s.LatencyMS["p99"] != 0 || s.Throughput != 0 {
		t.Errorf("empty run: %+v", s)
	}
}

func TestFormatTable(t *testing.T) {
	rk := []round{
		{name: "r1", benchSummary: benchSummary{Requests: 100, Throughput: 2000, LatencyMS: map[string]float64{"p50": 1, "p99": 3}}, serverCPU: 0.01, clientCPU: -1},
		{name: "r2", benchSummary: benchSummary{Requests: 100, Throughput: 1800, LatencyMS: map[string]float64{"p50": 1, "p99": 5}}, serverCPU: 0.02, clientCPU: -1},
		{name: "r3", benchSummary: benchSummary{Requests: 100, Throughput: 2200, LatencyMS: map[string]float64{"p50": 1, "p99": 4}}, serverCPU: 0.03, clientCPU: -1},
	}
	etcd := []round{{name: "r1", benchSummary: benchSummary{Requests: 10, Errors: 1, FirstError: "boom",
		Throughput: 1000, LatencyMS: map[string]float64{"p50": 2, "p99": 8}}, serverCPU: 0.009, clientCPU: 0.0045}}
	got := formatTable([]string{"raftkube", "etcd"}, []tableRow{{workload: "put-c100", sides: [2][]round{rk, etcd}}})
	for _, want := range []string{
		"| put, 100 clients |           2000 |       1000 |               2.00× |", // medians
		"|            4.00 |        8.00 |             0.50× |",
		"|                    200 |               1000 |                     - |               500 |", // CPU µs/op
		"| put, 100 clients | raftkube | 2000 1800 2200 | 3.00 5.00 4.00  |",
		"etcd put-c100 r1: 1 of 10 failed; first: boom",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestWorkloadLabel(t *testing.T) {
	for w, want := range map[string]string{
		"put-c1": "put, 1 client", "get-c100": "get, 100 clients",
		"sget-c100": "serializable get, 100 clients", "odd": "odd",
	} {
		if got := workloadLabel(w); got != want {
			t.Errorf("workloadLabel(%q) = %q, want %q", w, got, want)
		}
	}
}
