package main

import (
	"go/parser"
	"go/token"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
)

// canonical is CoreDNS's generated directive list (plugin.cfg's order), copied
// before any test replaces dnsserver.Directives.
var canonical = slices.Clone(dnsserver.Directives)

const pluginPrefix = "github.com/coredns/coredns/plugin/"

// directiveOf maps a plugin's package to its directive where plugin.cfg names
// them differently.
var directiveOf = map[string]string{"metrics": "prometheus"}

// sideEffects are the plugins that the imported ones register through their
// own imports (cache and forward export metrics, forward uses debug and
// dnstap, kubernetes and log read metadata, kubernetes serves zone transfers
// through transfer). They are linked but are not
// directives, so a Corefile cannot use them. A CoreDNS upgrade that changes
// this set fails TestRegisteredPlugins: check that it does not bring in a
// heavy dependency.
var sideEffects = []string{"debug", "dnstap", "metadata", "prometheus", "transfer"}

// TestDirectivesFollowPluginCfg: the list keeps CoreDNS's execution order.
func TestDirectivesFollowPluginCfg(t *testing.T) {
	last := -1
	for _, d := range directives {
		i := slices.Index(canonical, d)
		if i < 0 {
			t.Fatalf("directive %q is not in CoreDNS's plugin.cfg", d)
		}
		if i <= last {
			t.Fatalf("directive %q is out of plugin.cfg order (canonical order: %v)", d, canonical)
		}
		last = i
	}
}

// TestDirectivesAreTheImports: main.go imports exactly the plugins it lists.
func TestDirectivesAreTheImports(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p, pluginPrefix) {
			continue
		}
		name := path.Base(p)
		if d, ok := directiveOf[name]; ok {
			name = d
		}
		imported = append(imported, name)
	}
	slices.Sort(imported)
	listed := slices.Sorted(slices.Values(directives))
	if !slices.Equal(imported, listed) {
		t.Errorf("main.go imports plugins %v but lists directives %v", imported, listed)
	}
}

// TestRegisteredPlugins: every directive has a registered plugin, and nothing
// else is registered but the known side effects.
func TestRegisteredPlugins(t *testing.T) {
	var registered []string
	for _, p := range caddy.ListPlugins()["others"] {
		if name, ok := strings.CutPrefix(p, "dns."); ok {
			registered = append(registered, name)
		}
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(directives), sideEffects...)))
	slices.Sort(registered)
	if !slices.Equal(registered, want) {
		t.Errorf("registered dns plugins %v, want %v (the directives and %v)", registered, want, sideEffects)
	}
}

// TestServes starts CoreDNS with the reduced directive list, as main does, and
// resolves a name through cache and forward to an upstream the test runs; a
// plugin left out of the list is refused.
func TestServes(t *testing.T) {
	if err := dnsserver.SetDirectives(directives); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsserver.Directives = slices.Clone(canonical) })
	dnsserver.Quiet = true

	upstream := fakeUpstream(t)
	corefile := `.:0 {
	errors
	loadbalance
	cache 30
	loop
	forward . ` + upstream + `
}
`
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("start CoreDNS: %v", err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("stop CoreDNS: %v", err)
		}
		for _, err := range inst.ShutdownCallbacks() {
			t.Errorf("CoreDNS shutdown: %v", err)
		}
	})
	addr := inst.Servers()[0].LocalAddr().String()

	m := new(dns.Msg)
	m.SetQuestion("foo.example.", dns.TypeA)
	c := &dns.Client{Timeout: 5 * time.Second}
	for range 2 { // the second answer comes from the cache
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("query through CoreDNS: %v", err)
		}
		var got []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				got = append(got, a.A.String())
			}
		}
		slices.Sort(got)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
			t.Fatalf("answer %s %v, want NOERROR [10.0.0.1 10.0.0.2]", dns.RcodeToString[r.Rcode], got)
		}
	}

	_, err = caddy.Start(caddy.CaddyfileInput{Contents: []byte(".:0 {\n\thosts\n}\n"), ServerTypeName: "dns"})
	if err == nil || !strings.Contains(err.Error(), "Unknown directive 'hosts'") {
		t.Errorf("a Corefile using hosts (not built in) started or failed for another reason: %v", err)
	}
}

// fakeUpstream answers every A query for foo.example. with two addresses and
// everything else with NXDOMAIN (the loop plugin's probe included).
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		r := new(dns.Msg)
		r.SetReply(req)
		q := req.Question[0]
		if q.Name == "foo.example." && q.Qtype == dns.TypeA {
			for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
				r.Answer = append(r.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.ParseIP(ip),
				})
			}
		} else {
			r.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("stop upstream: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("upstream: %v", err)
		}
	})
	return pc.LocalAddr().String()
}
