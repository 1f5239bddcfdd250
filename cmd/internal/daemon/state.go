package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/analysis/report"
)

// StateSchema names the JSON form of the state file.
const StateSchema = "kubepatrol.io/daemon-state/v1"

// State is what survives a restart: the finding lifecycle.
type State struct {
	Schema    string             `json:"schema"`
	Cluster   string             `json:"cluster"`
	SavedAt   time.Time          `json:"savedAt"`
	Lifecycle analysis.Lifecycle `json:"lifecycle"`
}

// SaveState writes the state atomically: a temporary file in the same
// folder, synced, then renamed over the old one, so a crash leaves either
// the old or the new state, never half of one.
func SaveState(path string, st State) error {
	st.Schema = StateSchema
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return writeAtomic(path, data)
}

// LoadState reads a state file; a missing file is an empty state.
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Schema: StateSchema}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("state %s: %w", path, err)
	}
	if st.Schema != StateSchema {
		return State{}, fmt.Errorf("state %s: schema %q, want %q", path, st.Schema, StateSchema)
	}
	return st, nil
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// saveReport writes a sweep's report into dir as JSON and removes the
// oldest beyond keep and those older than maxAge.
func saveReport(dir string, r *report.Report, group string, keep int, maxAge time.Duration, now time.Time) error {
	var b strings.Builder
	if err := report.JSON(&b, r); err != nil {
		return err
	}
	name := fmt.Sprintf("report-%s-%s.json", r.CollectedAt.UTC().Format("20060102T150405.000Z"), group)
	if err := writeAtomic(filepath.Join(dir, name), []byte(b.String())); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var reports []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "report-") && strings.HasSuffix(e.Name(), ".json") {
			reports = append(reports, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(reports))) // newest first: the names sort by time
	for i, n := range reports {
		old := i >= keep
		if !old && maxAge > 0 {
			if info, err := os.Stat(filepath.Join(dir, n)); err == nil && now.Sub(info.ModTime()) > maxAge {
				old = true
			}
		}
		if old {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	return nil
}
