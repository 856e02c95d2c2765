package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/internal/version"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// raftctl runs the command line against eps and returns stdout, stderr and
// the exit code.
func raftctl(t *testing.T, eps []string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"--endpoints", strings.Join(eps, ","), "--command-timeout", "5s"}, args...)
	code := run(all, &out, &errOut)
	return out.String(), errOut.String(), code
}

func mustRun(t *testing.T, eps []string, args ...string) string {
	t.Helper()
	out, errOut, code := raftctl(t, eps, args...)
	if code != 0 {
		t.Fatalf("raftctl %v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func TestKVCommands(t *testing.T) {
	cl := clienttest.Start(t, 2)
	eps := cl.Endpoints()
	mustRun(t, eps, "put", "a/1", "one")
	mustRun(t, eps, "put", "a/2", "two")
	out := mustRun(t, eps, "put", "b", "bee", "-o", "json")
	if w := decode[map[string]any](t, out); w["succeeded"] != true || w["mod_index"].(float64) != 3 {
		t.Fatalf("put json = %s", out)
	}

	out = mustRun(t, eps, "get", "a/1")
	if !strings.Contains(out, "KEY") || !strings.Contains(out, "a/1") || !strings.Contains(out, "one") {
		t.Fatalf("get table = %q", out)
	}
	kv := decode[keyValue](t, mustRun(t, eps, "get", "a/2", "--serializable", "-o", "json"))
	if kv.Key != "a/2" || kv.Value != "two" || kv.ModIndex != 2 {
		t.Fatalf("get json = %+v", kv)
	}
	if _, errOut, code := raftctl(t, eps, "get", "nope"); code != 1 || !strings.Contains(errOut, `key "nope" not found`) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("get missing: exit %d, stderr %q", code, errOut)
	}

	rr := decode[rangeResult](t, mustRun(t, eps, "range", "a/", "--prefix", "--limit", "1", "-o", "json"))
	if len(rr.KVs) != 1 || rr.KVs[0].Key != "a/1" || !rr.More || rr.Count != 2 {
		t.Fatalf("range json = %+v", rr)
	}
	out = mustRun(t, eps, "range", "a/", "--range-end", "b")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 {
		t.Fatalf("range table = %q", out)
	}

	cas := decode[writeResult](t, mustRun(t, eps, "cas", "b", "new", "--expect-value", "bee", "-o", "json"))
	if !cas.Succeeded {
		t.Fatalf("cas = %+v", cas)
	}
	if out, errOut, code := raftctl(t, eps, "cas", "b", "x", "--expect-mod-index", "1"); code != 1 || !strings.Contains(errOut, "compare failed") || !strings.Contains(out, "false") {
		t.Fatalf("failed cas: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := raftctl(t, eps, "cas", "b", "x"); code != 1 || !strings.Contains(errOut, "--expect-value") {
		t.Fatalf("cas without expectation: exit %d, %q", code, errOut)
	}

	del := decode[writeResult](t, mustRun(t, eps, "del", "a/", "--prefix", "-o", "json"))
	if del.Deleted != 2 {
		t.Fatalf("del = %+v", del)
	}
	if _, ok := cl.Value("a/1"); ok {
		t.Fatal("a/1 still there after del --prefix")
	}
}

func TestMemberCommands(t *testing.T) {
	cl := clienttest.Start(t, 3)
	eps := cl.Endpoints()
	members := decode[[]memberRow](t, mustRun(t, eps, "member", "list", "-o", "json"))
	if len(members) != 3 || members[0].ID != "1" || members[0].Role != "voter" || !members[0].Leader || members[0].MatchIndex == nil {
		t.Fatalf("member list = %+v", members)
	}
	mustRun(t, eps, "member", "add-learner", "a", "m10", "peer:2380", "client:2379")
	out := mustRun(t, eps, "member", "list")
	if !strings.Contains(out, "m10") || !strings.Contains(out, "learner") || !strings.Contains(out, "MATCH_INDEX") {
		t.Fatalf("member list table = %q", out)
	}
	out = mustRun(t, eps, "member", "change", "--promote", "a", "--remove", "3", "--explicit-leave")
	if !strings.Contains(out, "voters=1,2,a outgoing=1,2,3") {
		t.Fatalf("member change = %q", out)
	}
	members = decode[[]memberRow](t, mustRun(t, eps, "member", "list", "-o", "json"))
	if members[2].ID != "3" || members[2].Role != "outgoing" {
		t.Fatalf("member list in joint = %+v", members)
	}
	if _, errOut, code := raftctl(t, eps, "member", "promote", "2"); code != 1 || !strings.Contains(errOut, "pending") {
		t.Fatalf("change while joint: exit %d, %q", code, errOut)
	}
	mustRun(t, eps, "member", "leave-joint")
	mustRun(t, eps, "member", "remove", "2")
	if cfg := cl.Configuration(); len(cfg.Voters) != 2 {
		t.Fatalf("voters after remove = %v", cfg.Voters)
	}
	if _, errOut, code := raftctl(t, eps, "member", "promote", "zz"); code != 1 || !strings.Contains(errOut, "bad member id") {
		t.Fatalf("bad id: exit %d, %q", code, errOut)
	}
}

func TestStatusTransferSnapshot(t *testing.T) {
	cl := clienttest.Start(t, 2)
	eps := cl.Endpoints()
	out := mustRun(t, eps, "status")
	for _, want := range []string{"ENDPOINT", "leader", "follower", "voters=1,2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status table lacks %q: %q", want, out)
		}
	}
	mustRun(t, eps, "transfer-leader", "2")
	rows := decode[[]statusRow](t, mustRun(t, eps, "status", "-o", "json"))
	if len(rows) != 2 || rows[1].Role != "leader" || rows[0].Leader != "2" {
		t.Fatalf("status json after transfer = %+v", rows)
	}
	snap := decode[map[string]any](t, mustRun(t, eps, "snapshot", "--endpoint", eps[0], "-o", "json"))
	if snap["member"] != "1" {
		t.Fatalf("snapshot = %v", snap)
	}

	// One endpoint down: the table still shows the others, and the exit code says it.
	down := clienttest.DownAddr(t)
	out, errOut, code := raftctl(t, append(eps, down), "status")
	if code != 1 || !strings.Contains(out, down) || !strings.Contains(errOut, "1 of 3 endpoints failed") {
		t.Fatalf("status with a down endpoint: exit %d, out %q, stderr %q", code, out, errOut)
	}
}

// status -o json shows each member's TLS material, to follow a rotation.
func TestStatusShowsTLS(t *testing.T) {
	cl := clienttest.Start(t, 2)
	want := &serverpb.TLSStatus{PeerTrustedCas: []string{"aa", "bb"}, ClientTrustedCas: []string{"cc"}, PeerCertificate: "dd", ClientCertificate: "ee"}
	cl.Members[0].SetTLSStatus(want)
	rows := decode[[]statusRow](t, mustRun(t, cl.Endpoints(), "status", "-o", "json"))
	if len(rows) != 2 || rows[0].TLS == nil || rows[1].TLS != nil {
		t.Fatalf("status json = %+v, want TLS on the first member only", rows)
	}
	got := rows[0].TLS
	if !slices.Equal(got.PeerTrustedCAs, want.PeerTrustedCas) || !slices.Equal(got.ClientTrustedCAs, want.ClientTrustedCas) ||
		got.PeerCertificate != "dd" || got.ClientCertificate != "ee" {
		t.Fatalf("tls = %+v, want %v", got, want)
	}
}

func TestErrorsExitNonZero(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Members[0].Fail("Put", clienttest.RemovedError())
	_, errOut, code := raftctl(t, cl.Endpoints(), "put", "k", "v")
	if code != 1 || !strings.HasPrefix(errOut, "Error: KV.Put on "+cl.Members[0].Addr) || !strings.Contains(errOut, "member was removed") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := raftctl(t, cl.Endpoints(), "get", "k", "-o", "yaml"); code != 1 || !strings.Contains(errOut, "unknown output format") {
		t.Fatalf("bad -o: exit %d, %q", code, errOut)
	}
}

func TestBench(t *testing.T) {
	cl := clienttest.Start(t, 1)
	out, errOut, code := raftctl(t, cl.Endpoints(), "bench", "put", "--clients", "4", "--total", "200", "--key-space", "10", "-o", "json")
	if code != 0 {
		t.Fatalf("bench: exit %d, %q", code, errOut)
	}
	s := decode[benchSummary](t, out)
	if s.Requests != 200 || s.Errors != 0 || s.Throughput <= 0 || s.LatencyMS["max"] < s.LatencyMS["p50"] || s.LatencyMS["p50"] <= 0 {
		t.Fatalf("bench summary = %+v", s)
	}
	if n := cl.Members[0].Calls("Put"); n != 200 {
		t.Fatalf("server saw %d puts", n)
	}
	if !strings.Contains(errOut, "bench put") {
		t.Fatalf("no progress bar on stderr: %q", errOut)
	}
	out = mustRun(t, cl.Endpoints(), "bench", "get", "--duration", "100ms", "--serializable")
	if !strings.Contains(out, "P999_MS") {
		t.Fatalf("bench table = %q", out)
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 1000; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat, time.Second)
	want := map[string]float64{"p50": 500, "p90": 900, "p99": 990, "p999": 999, "max": 1000}
	for k, v := range want {
		if s.LatencyMS[k] != v {
			t.Errorf("%s = %v, want %v", k, s.LatencyMS[k], v)
		}
	}
	if s.Throughput != 1000 {
		t.Errorf("throughput = %v", s.Throughput)
	}
}

// A member's refusal of the caller's certificate is printed with what to
// present instead, on one line.
func TestAuthorizationRefusals(t *testing.T) {
	cl := clienttest.Start(t, 1)
	eps := cl.Endpoints()
	cl.Members[0].Fail("Get", clienttest.UnauthenticatedError())
	cl.Members[0].Fail("AddLearner", clienttest.PermissionDeniedError())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "k"}, "--cert and --key"},
		{[]string{"member", "add-learner", "a", "m10", "peer:2380", "client:2379"}, "organization grants the Admin API: raftkube:admin"},
	} {
		_, errOut, code := raftctl(t, eps, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("raftctl %v: exit %d, stderr %q; want one line with %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestTLSFlags(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	srv, err := tlsconfig.ServerConfig(ca.Issue("server"))
	if err != nil {
		t.Fatal(err)
	}
	eps := clienttest.StartTLS(t, 1, srv).Endpoints()
	cli := ca.Issue("raftctl")
	mustRun(t, eps, "--cacert", ca.CertFile, "--cert", cli.CertFile, "--key", cli.KeyFile, "put", "k", "v")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{name: "no client certificate", args: []string{"--cacert", ca.CertFile}},
		{name: "plaintext"},
		{name: "cert without key", args: []string{"--cacert", ca.CertFile, "--cert", cli.CertFile}, want: "--cert needs --key"},
		{name: "unreadable CA", args: []string{"--cacert", cli.CertFile + ".missing"}, want: cli.CertFile + ".missing"},
		{
			name: "server name the certificate does not carry",
			args: []string{"--cacert", ca.CertFile, "--cert", cli.CertFile, "--key", cli.KeyFile, "--tls-server-name", "demo.other.svc"},
			want: "demo.other.svc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := raftctl(t, eps, append(tt.args, "--dial-timeout", "500ms", "get", "k")...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d stderr %q, want a failure mentioning %q", code, errOut, tt.want)
			}
		})
	}
	// The server's certificate names localhost, not the 127.0.0.1 dialed.
	mustRun(t, eps, "--cacert", ca.CertFile, "--cert", cli.CertFile, "--key", cli.KeyFile, "--tls-server-name", "localhost", "get", "k")
	out := mustRun(t, eps, "--insecure-skip-tls-verify", "--cert", cli.CertFile, "--key", cli.KeyFile, "get", "k", "-o", "json")
	if kv := decode[keyValue](t, out); kv.Key != "k" || kv.Value != "v" {
		t.Fatalf("get with --insecure-skip-tls-verify = %q", out)
	}
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--version"}, &out, &errOut); code != 0 {
		t.Fatalf("raftctl --version: exit %d, stderr %q", code, errOut.String())
	}
	if want := "raftctl " + version.Get().String() + "\n"; out.String() != want {
		t.Errorf("--version printed %q, want %q", out.String(), want)
	}
}

// TestMembersOrderedByName: member list reads in pod order, not id order.
func TestMembersOrderedByName(t *testing.T) {
	named := func(id uint64, name string) *serverpb.Member { return &serverpb.Member{Id: id, Name: name} }
	st := &serverpb.StatusResponse{Configuration: &serverpb.Configuration{
		Voters:   []uint64{1, 2, 3, 4},
		Learners: []uint64{5, 6},
		Members:  []*serverpb.Member{named(1, "demo-10"), named(2, "demo-2"), named(3, "demo-0"), named(4, "demo-1"), named(6, "demo-9")},
	}}
	var got []string
	for _, m := range membersOf(st) {
		got = append(got, m.Name+"/"+m.ID)
	}
	want := []string{"demo-0/3", "demo-1/4", "demo-2/2", "demo-9/6", "demo-10/1", "/5"}
	if !slices.Equal(got, want) {
		t.Errorf("member order %v, want %v", got, want)
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"demo-2", "demo-10", -1}, {"demo-010", "demo-9", 1}, {"a", "a", 0}, {"", "z", 1}, {"x-1", "x-1a", -1}, {"demo-b", "demo-a", 1},
	} {
		if got := compareNames(tc.a, tc.b); got != tc.want {
			t.Errorf("compareNames(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestMemberListJoint: while the configuration is joint, each voter shows the
// halves it belongs to; learners show none, nor does anyone when not joint.
func TestMemberListJoint(t *testing.T) {
	named := func(id uint64, name string) *serverpb.Member { return &serverpb.Member{Id: id, Name: name} }
	joint := &serverpb.StatusResponse{Configuration: &serverpb.Configuration{
		Voters:         []uint64{1, 2, 4},
		OutgoingVoters: []uint64{1, 2, 3},
		Learners:       []uint64{5},
		Members:        []*serverpb.Member{named(1, "demo-0"), named(2, "demo-1"), named(3, "demo-2"), named(4, "demo-3"), named(5, "demo-4")},
	}}
	var got []string
	for _, m := range membersOf(joint) {
		got = append(got, m.Name+"="+m.Role+"/"+m.Config)
	}
	want := []string{"demo-0=voter/both", "demo-1=voter/both", "demo-2=outgoing/outgoing", "demo-3=voter/incoming", "demo-4=learner/"}
	if !slices.Equal(got, want) {
		t.Errorf("joint member list %v, want %v", got, want)
	}
	joint.Configuration.OutgoingVoters = nil
	for _, m := range membersOf(joint) {
		if m.Config != "" {
			t.Errorf("%s shows half %q outside a joint configuration", m.Name, m.Config)
		}
	}

	// Through the command, table and JSON.
	cl := clienttest.Start(t, 3)
	eps := cl.Endpoints()
	mustRun(t, eps, "member", "add-learner", "a", "m10", "peer:2380", "client:2379")
	mustRun(t, eps, "member", "change", "--promote", "a", "--remove", "3", "--explicit-leave")
	rows := decode[[]memberRow](t, mustRun(t, eps, "member", "list", "-o", "json"))
	got = nil
	for _, r := range rows {
		got = append(got, r.ID+"="+r.Config)
	}
	if want := []string{"1=both", "2=both", "3=outgoing", "a=incoming"}; !slices.Equal(got, want) {
		t.Errorf("member list -o json in joint: %v, want %v", got, want)
	}
	out := mustRun(t, eps, "member", "list")
	if !strings.Contains(out, "CONFIG") || !regexp.MustCompile(`(?m)^3\s+m3\s+outgoing\s+outgoing\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^a\s+m10\s+voter\s+incoming\s`).MatchString(out) {
		t.Errorf("member list table in joint:\n%s", out)
	}
}

// TestMemberForceNewCluster: the verb needs --confirm and exactly one
// endpoint, passes a refusal on (a leader is known), and prints the forced
// configuration.
func TestMemberForceNewCluster(t *testing.T) {
	cl := clienttest.Start(t, 3)
	eps := cl.Endpoints()
	if _, errOut, code := raftctl(t, eps[2:], "member", "force-new-cluster"); code != 1 || !strings.Contains(errOut, "--confirm") {
		t.Fatalf("without --confirm: exit %d, %q", code, errOut)
	}
	if _, errOut, code := raftctl(t, eps, "member", "force-new-cluster", "--confirm"); code != 1 || !strings.Contains(errOut, "exactly one member") {
		t.Fatalf("with three endpoints: exit %d, %q", code, errOut)
	}
	if _, errOut, code := raftctl(t, eps[2:], "member", "force-new-cluster", "--confirm"); code != 1 || !strings.Contains(errOut, "a leader is known") {
		t.Fatalf("with a leader: exit %d, %q", code, errOut)
	}
	cl.SetLeader(0)
	out := mustRun(t, eps[2:], "member", "force-new-cluster", "--confirm")
	if !strings.Contains(out, "voters=3") {
		t.Fatalf("force-new-cluster printed %q", out)
	}
	if cfg := cl.Configuration(); !slices.Equal(cfg.Voters, []uint64{3}) || !slices.Equal(cfg.Removed, []uint64{1, 2}) {
		t.Fatalf("configuration after forcing: %v", cfg)
	}
}
