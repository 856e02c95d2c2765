package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateFileName is the state directory's record of what runs, for StopDetached.
const stateFileName = "state.json"

// State is the content of state.json. It is rewritten after each process
// starts, so a `localkube down` can clean up even after an `up` that was killed
// halfway through.
type State struct {
	APIServerURL string          `json:"apiserverURL"`
	Kubeconfig   string          `json:"kubeconfig"`
	Processes    []ProcessRecord `json:"processes"` // in start order
}

// ProcessRecord names one started component.
type ProcessRecord struct {
	Name string `json:"name"`
	PID  int    `json:"pid"` // also its process group id
	// StartTime is /proc/PID/stat's starttime: a pid whose start time differs
	// has been reused and is left alone.
	StartTime uint64 `json:"startTime"`
}

func writeState(path string, s State) error {
	if err := WriteJSON(path, s); err != nil {
		return fmt.Errorf("control-plane state: %w", err)
	}
	return nil
}

// WriteJSON writes v as indented JSON to path, atomically (a temporary file
// renamed over it), so a reader never sees half a file: state.json is read
// by `localkube down` from another process.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadState reads the state.json of stateDir.
func ReadState(stateDir string) (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(stateDir, stateFileName))
	if err != nil {
		return s, fmt.Errorf("read control-plane state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", filepath.Join(stateDir, stateFileName), err)
	}
	return s, nil
}

// StopDetached stops the control plane recorded in stateDir by an earlier
// process (`localkube up --detach`): each recorded process in reverse start
// order, SIGTERM then SIGKILL after grace, then removes stateDir. It refuses a
// directory without state.json, so it never deletes a directory it did not make.
func StopDetached(ctx context.Context, stateDir string, grace time.Duration) error {
	s, err := ReadState(stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(s.Processes) - 1; i >= 0; i-- {
		r := s.Processes[i]
		if err := stopPID(ctx, r.Name, r.PID, r.StartTime, grace); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop control plane in %s (state kept): %w", stateDir, errors.Join(errs...))
	}
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}
