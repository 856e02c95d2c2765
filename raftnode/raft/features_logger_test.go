package raft

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// recordingLogger keeps every line, prefixed with its level.
type recordingLogger struct {
	lines []string
}

func (l *recordingLogger) add(level, format string, v []any) {
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
}

func (l *recordingLogger) Debugf(format string, v ...any)   { l.add("DEBUG", format, v) }
func (l *recordingLogger) Infof(format string, v ...any)    { l.add("INFO", format, v) }
func (l *recordingLogger) Warningf(format string, v ...any) { l.add("WARN", format, v) }
func (l *recordingLogger) Errorf(format string, v ...any)   { l.add("ERROR", format, v) }
func (l *recordingLogger) Panicf(format string, v ...any) {
	l.add("PANIC", format, v)
	panic(fmt.Sprintf(format, v...))
}

// has reports whether a line starts with level and contains substr.
func (l *recordingLogger) has(level, substr string) bool {
	for _, line := range l.lines {
		if strings.HasPrefix(line, level+" ") && strings.Contains(line, substr) {
			return true
		}
	}
	return false
}

func TestFeatureCustomLoggerReceivesMessages(t *testing.T) {
	rec := &recordingLogger{}
	h := newRawHarness(t, 1, []uint64{1, 2, 3}, func(c *Config) { c.Logger = rec })
	if !rec.has("INFO", "newRaft 1") {
		t.Fatalf("no start-up line; got %q", rec.lines)
	}
	_ = h.rn.Campaign()
	h.drain()
	_ = h.rn.Step(pb.Message{Type: pb.MsgVoteResp, From: 2, To: 1, Term: 1})
	if !rec.has("INFO", "became candidate at term 1") || !rec.has("INFO", "became leader at term 1") {
		t.Fatalf("state transitions not logged; got %q", rec.lines)
	}

	// The core's panics go through the logger too.
	func() {
		defer func() { _ = recover() }()
		_ = h.rn.Step(pb.Message{Type: pb.MsgHeartbeat, From: 2, To: 1, Term: 5, Commit: 1000})
	}()
	if !rec.has("PANIC", "tocommit(1000) is out of range") {
		t.Fatalf("a corrupted commit index did not reach Panicf; got %q", rec.lines)
	}
}

func TestFeatureDiscardLoggerPanicf(t *testing.T) {
	var l Logger = DiscardLogger{}
	l.Debugf("x %d", 1)
	l.Infof("x %d", 1)
	l.Warningf("x %d", 1)
	l.Errorf("x %d", 1)
	defer func() {
		got := recover()
		if got != "boom 7" {
			t.Fatalf("Panicf panicked with %v, want %q", got, "boom 7")
		}
	}()
	l.Panicf("boom %d", 7)
	t.Fatalf("Panicf returned")
}

func TestFeatureSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	l := SlogLogger{L: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Debugf("hidden %d", 1)
	l.Infof("shown %d", 2)
	l.Warningf("warned %d", 3)
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "msg=\"shown 2\"") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("slog output %q", out)
	}
	assertPanics(t, "SlogLogger.Panicf", func() { l.Panicf("fatal %d", 4) })
	if !strings.Contains(buf.String(), "level=ERROR msg=\"fatal 4\"") {
		t.Fatalf("Panicf did not log before panicking: %q", buf.String())
	}
}
