package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/internal/version"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDefaultNodeImageFollowsVersion(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ghcr.io/raftkube/raftnode:" + version.Version; c.nodeImage != want {
		t.Errorf("default --node-image %q, want %q", c.nodeImage, want)
	}
}

func TestParseFlagsVersionAndProbe(t *testing.T) {
	c, err := parseFlags([]string{"--version"})
	if err != nil || !c.showVersion {
		t.Errorf("--version: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"--probe", "http://127.0.0.1:8081/readyz"})
	if err != nil || c.probeURL != "http://127.0.0.1:8081/readyz" {
		t.Errorf("--probe: %+v, %v", c, err)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not ready: cache not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := probe(ctx, srv.URL+"/readyz"); err != nil {
		t.Errorf("probe of a ready endpoint: %v", err)
	}
	for _, tc := range []struct{ url, want string }{
		{srv.URL + "/other", "503"},
		{"ftp://example/readyz", "want an http:// or https:// URL"},
		{"not a url at all", "want an http:// or https:// URL"},
	} {
		err := probe(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("probe(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
	srv.Close()
	if err := probe(ctx, srv.URL+"/readyz"); err == nil {
		t.Error("probe of a closed server succeeded")
	}
}
