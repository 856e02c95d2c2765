package main

import (
	"errors"
	"io"
	"testing"
)

func TestParseFlags(t *testing.T) {
	peers := "-peers=1=http://127.0.0.1:9001,2=http://127.0.0.1:9002/"
	cfg, err := parseFlags([]string{"-id=2", peers, "-listen-client=127.0.0.1:8002"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listenPeer != "127.0.0.1:9002" || cfg.member.DataDir != "kvstore-2" ||
		cfg.member.Peers[2] != "http://127.0.0.1:9002" || len(cfg.member.Peers) != 2 {
		t.Fatalf("config %+v", cfg)
	}
	for name, args := range map[string][]string{
		"no id":              {peers, "-listen-client=:1"},
		"not among peers":    {"-id=3", peers, "-listen-client=:1"},
		"no client address":  {"-id=1", peers},
		"peer without URL":   {"-id=1", "-peers=1=", "-listen-client=:1"},
		"peer without id":    {"-id=1", "-peers=http://127.0.0.1:1", "-listen-client=:1"},
		"duplicate peer":     {"-id=1", "-peers=1=http://a:1,1=http://b:1", "-listen-client=:1"},
		"no snapshot period": {"-id=1", peers, "-listen-client=:1", "-snapshot-entries=0"},
	} {
		if _, err := parseFlagsQuietly(args); !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want errUsage", name, err)
		}
	}
}

func parseFlagsQuietly(args []string) (config, error) {
	return parseFlagsTo(io.Discard, args)
}
