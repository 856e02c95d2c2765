package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func runTable(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("etcdbench table", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory holding SIDE/WORKLOAD/rN.json and rN.cpu files (required)")
	sides := fs.String("sides", "raftkube,etcd", "the two sides, the ratio's numerator first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := splitEndpoints(*sides)
	if *dir == "" || len(names) != 2 || fs.NArg() == 0 {
		return errors.New("usage: etcdbench table --dir DIR [--sides A,B] WORKLOAD...")
	}
	var rows []tableRow
	for _, w := range fs.Args() {
		r := tableRow{workload: w}
		for i, side := range names {
			rs, err := readRounds(filepath.Join(*dir, side, w))
			if err != nil {
				return err
			}
			r.sides[i] = rs
		}
		rows = append(rows, r)
	}
	_, err := io.WriteString(out, formatTable(names, rows))
	return err
}

// round is one run of one workload on one side.
type round struct {
	name string // "r1", ...
	benchSummary
	// serverCPU and clientCPU are the CPU seconds the servers and the bench
	// client used during the run; negative when not recorded.
	serverCPU, clientCPU float64
}

// readRounds reads dir/rN.json and, when present, dir/rN.cpu.
func readRounds(dir string) ([]round, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "r*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no results in %s", dir)
	}
	slices.Sort(paths)
	var rs []round
	for _, p := range paths {
		r := round{name: strings.TrimSuffix(filepath.Base(p), ".json"), serverCPU: -1, clientCPU: -1}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &r.benchSummary); err != nil {
			return nil, fmt.Errorf("decode %s: %w", p, err)
		}
		cpu, err := os.ReadFile(strings.TrimSuffix(p, ".json") + ".cpu")
		if err == nil {
			r.serverCPU, r.clientCPU = parseCPU(cpu)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// parseCPU reads "server_cpu_seconds X" and "client_cpu_seconds Y" lines.
func parseCPU(b []byte) (server, client float64) {
	server, client = -1, -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			continue
		}
		switch k {
		case "server_cpu_seconds":
			server = f
		case "client_cpu_seconds":
			client = f
		}
	}
	return server, client
}

// tableRow is one workload measured on both sides, over one or more rounds.
type tableRow struct {
	workload string
	sides    [2][]round
}

// median of the values f picks from rs (the mean of the middle two for an even count).
func median(rs []round, f func(round) float64) float64 {
	v := make([]float64, 0, len(rs))
	for _, r := range rs {
		v = append(v, f(r))
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func throughput(r round) float64 { return r.Throughput }
func p50(r round) float64        { return r.LatencyMS["p50"] }
func p99(r round) float64        { return r.LatencyMS["p99"] }

// cpuPerOp is the CPU microseconds per successful request, server or client
// side; -1 when not recorded.
func cpuPerOp(server bool) func(round) float64 {
	return func(r round) float64 {
		s := r.clientCPU
		if server {
			s = r.serverCPU
		}
		if s < 0 || r.Requests-r.Errors <= 0 {
			return -1
		}
		return s * 1e6 / float64(r.Requests-r.Errors)
	}
}

// workloadLabel turns "put-c100" into "put, 100 clients" and "sget-c1"
// into "serializable get, 1 client".
func workloadLabel(w string) string {
	op, n, ok := strings.Cut(w, "-c")
	if !ok {
		return w
	}
	if op == "sget" {
		op = "serializable get"
	}
	if n == "1" {
		return op + ", 1 client"
	}
	return op + ", " + n + " clients"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func num(format string, v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// formatTable renders rows as Markdown tables: the medians over the rounds of
// throughput, p50 and p99 with the ratios a/b; the CPU time per request; and
// every round's throughput and p99.
func formatTable(names []string, rows []tableRow) string {
	a, b := names[0], names[1]
	main := [][]string{{"workload",
		a + " ops/s", b + " ops/s", "ops/s " + a + "/" + b,
		a + " p50 ms", b + " p50 ms",
		a + " p99 ms", b + " p99 ms", "p99 " + a + "/" + b}}
	cpu := [][]string{{"workload", a + " servers µs/op", b + " servers µs/op", a + " client µs/op", b + " client µs/op"}}
	per := [][]string{{"workload", "side", "ops/s by round", "p99 ms by round"}}
	var failures []string
	for _, r := range rows {
		x, y := r.sides[0], r.sides[1]
		label := workloadLabel(r.workload)
		main = append(main, []string{label,
			num("%.0f", median(x, throughput)), num("%.0f", median(y, throughput)),
			ratio(median(x, throughput), median(y, throughput)),
			num("%.2f", median(x, p50)), num("%.2f", median(y, p50)),
			num("%.2f", median(x, p99)), num("%.2f", median(y, p99)),
			ratio(median(x, p99), median(y, p99))})
		cpu = append(cpu, []string{label,
			num("%.0f", median(x, cpuPerOp(true))), num("%.0f", median(y, cpuPerOp(true))),
			num("%.0f", median(x, cpuPerOp(false))), num("%.0f", median(y, cpuPerOp(false)))})
		for i, rs := range r.sides {
			var tp, lat []string
			for _, rd := range rs {
				tp = append(tp, fmt.Sprintf("%.0f", rd.Throughput))
				lat = append(lat, fmt.Sprintf("%.2f", rd.LatencyMS["p99"]))
				if rd.Errors > 0 {
					failures = append(failures, fmt.Sprintf("  %s %s %s: %d of %d failed; first: %s",
						names[i], r.workload, rd.name, rd.Errors, rd.Requests, rd.FirstError))
				}
			}
			per = append(per, []string{label, names[i], strings.Join(tp, " "), strings.Join(lat, " ")})
		}
	}
	var sb strings.Builder
	sb.WriteString(markdown(main, true))
	sb.WriteString("\nCPU time per request (median over the rounds): the three servers together, and the bench client:\n\n")
	sb.WriteString(markdown(cpu, true))
	sb.WriteString("\nEvery round:\n\n")
	sb.WriteString(markdown(per, false))
	if len(failures) > 0 {
		sb.WriteString("\nSome requests failed:\n")
		sb.WriteString(strings.Join(failures, "\n") + "\n")
	}
	return sb.String()
}

// markdown renders cells (the first row is the header) as an aligned Markdown
// table; with numeric, every column but the first is right-aligned.
func markdown(cells [][]string, numeric bool) string {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	right := func(i int) bool { return numeric && i > 0 }
	var sb strings.Builder
	line := func(row []string) {
		sb.WriteString("|")
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if right(i) {
				fmt.Fprintf(&sb, " %s%s |", pad, c)
			} else {
				fmt.Fprintf(&sb, " %s%s |", c, pad)
			}
		}
		sb.WriteString("\n")
	}
	line(cells[0])
	sb.WriteString("|")
	for i, w := range width {
		if right(i) {
			sb.WriteString(" " + strings.Repeat("-", w-1) + ": |")
		} else {
			sb.WriteString(" " + strings.Repeat("-", w) + " |")
		}
	}
	sb.WriteString("\n")
	for _, row := range cells[1:] {
		line(row)
	}
	return sb.String()
}
