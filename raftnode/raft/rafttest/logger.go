package rafttest

import "fmt"

// logLevel orders the levels of interactionLogger.
type logLevel int

const (
	levelDebug logLevel = iota
	levelInfo
	levelWarn
	levelError
	levelNone
)

var logLevelNames = [...]string{"DEBUG", "INFO", "WARN", "ERROR", "NONE"}

// interactionLogger writes the members' logs into the output of the command
// being run, so that a script shows why a member did what it did.
type interactionLogger struct{ env *InteractionEnv }

func (l interactionLogger) logf(level logLevel, format string, v ...any) {
	if level < l.env.level {
		return
	}
	l.env.printf("%s %s\n", logLevelNames[level], fmt.Sprintf(format, v...))
}

// Debugf implements raft.Logger.
func (l interactionLogger) Debugf(format string, v ...any) { l.logf(levelDebug, format, v...) }

// Infof implements raft.Logger.
func (l interactionLogger) Infof(format string, v ...any) { l.logf(levelInfo, format, v...) }

// Warningf implements raft.Logger.
func (l interactionLogger) Warningf(format string, v ...any) { l.logf(levelWarn, format, v...) }

// Errorf implements raft.Logger.
func (l interactionLogger) Errorf(format string, v ...any) { l.logf(levelError, format, v...) }

// Panicf implements raft.Logger.
func (l interactionLogger) Panicf(format string, v ...any) {
	l.logf(levelError, format, v...)
	panic(fmt.Sprintf(format, v...))
}
