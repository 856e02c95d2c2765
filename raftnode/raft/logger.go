package raft

import (
	"context"
	"fmt"
	"log/slog"
)

// Logger receives the core's diagnostics. The core logs state transitions and
// anomalies, never once per proposal, so the cost of formatting stays off the hot
// path. Panicf must not return.
type Logger interface {
	Debugf(format string, v ...any)
	Infof(format string, v ...any)
	Warningf(format string, v ...any)
	Errorf(format string, v ...any)
	Panicf(format string, v ...any)
}

// DiscardLogger drops everything except panics, which it raises.
type DiscardLogger struct{}

// Debugf implements Logger.
func (DiscardLogger) Debugf(string, ...any) {}

// Infof implements Logger.
func (DiscardLogger) Infof(string, ...any) {}

// Warningf implements Logger.
func (DiscardLogger) Warningf(string, ...any) {}

// Errorf implements Logger.
func (DiscardLogger) Errorf(string, ...any) {}

// Panicf implements Logger.
func (DiscardLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }

// SlogLogger adapts a *slog.Logger to Logger.
type SlogLogger struct{ L *slog.Logger }

func (s SlogLogger) log(level slog.Level, format string, v []any) {
	if s.L.Enabled(context.Background(), level) {
		s.L.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

// Debugf implements Logger.
func (s SlogLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }

// Infof implements Logger.
func (s SlogLogger) Infof(format string, v ...any) { s.log(slog.LevelInfo, format, v) }

// Warningf implements Logger.
func (s SlogLogger) Warningf(format string, v ...any) { s.log(slog.LevelWarn, format, v) }

// Errorf implements Logger.
func (s SlogLogger) Errorf(format string, v ...any) { s.log(slog.LevelError, format, v) }

// Panicf implements Logger: it logs at error level, then panics.
func (s SlogLogger) Panicf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.L.Error(msg)
	panic(msg)
}
