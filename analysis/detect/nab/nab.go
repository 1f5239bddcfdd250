// Package nab scores anomaly detectors the way the Numenta Anomaly
// Benchmark (NAB v1.1; Lavin and Ahmad, 2015) does, implemented from its
// published rules:
//
//   - the first 15% of each file, at most 750 rows, is a probationary
//     period that is never scored;
//   - a row is a detection when its score is at or above the threshold;
//   - in each labelled window only the earliest detection counts, worth the
//     true-positive weight times the scaled sigmoid of its relative position
//     (≈1 at the window's start, ≈0 at its end), normalised so that a
//     detection on the first row earns the full weight; a window without
//     one costs the false-negative weight;
//   - every detection outside the windows is a false positive costing the
//     false-positive weight, scaled by the sigmoid of its distance after
//     the preceding window in window widths (full cost before any window or
//     more than three widths after one, almost none just after one);
//   - one threshold per profile is chosen for the whole corpus, the one
//     that maximises the total;
//   - the total is normalised so that the null detector (no detections)
//     scores 0 and a perfect one 100, the perfect total being the
//     true-positive weight times the number of labelled windows.
//
// The package reads the corpus (data/<category>/<file>.csv, windows.json,
// profiles.json) and has no dependency on the detectors.
package nab

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/analysis/detect"
)

// Profile is a NAB cost matrix.
type Profile struct {
	Name string
	TP   float64 // reward of a detected window (at its start)
	FP   float64 // cost of a false positive (before any window)
	FN   float64 // cost of a missed window
	TN   float64 // unused by the score, kept for completeness
}

// Window is a labelled anomaly window, inclusive.
type Window struct{ Start, End time.Time }

// File is one series of the corpus with its labels.
type File struct {
	Name     string // "<category>/<file>.csv"
	Category string
	Times    []time.Time
	Values   []float64
	Windows  []Window
}

// Corpus is a set of labelled files and the scoring profiles.
type Corpus struct {
	Files    []*File
	Profiles []Profile // sorted by name
}

// Categories lists the corpus' categories, sorted.
func (c *Corpus) Categories() []string {
	seen := map[string]bool{}
	var cs []string
	for _, f := range c.Files {
		if !seen[f.Category] {
			seen[f.Category] = true
			cs = append(cs, f.Category)
		}
	}
	sort.Strings(cs)
	return cs
}

// Profile returns the named profile.
func (c *Corpus) Profile(name string) (Profile, bool) {
	for _, p := range c.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// Load reads a NAB corpus folder: data/<category>/*.csv, windows.json and
// profiles.json. Files without an entry in windows.json are an error.
func Load(dir string) (*Corpus, error) {
	var windows map[string][][2]string
	if err := readJSON(filepath.Join(dir, "windows.json"), &windows); err != nil {
		return nil, err
	}
	var profiles map[string]struct {
		CostMatrix struct {
			TP float64 `json:"tpWeight"`
			FP float64 `json:"fpWeight"`
			FN float64 `json:"fnWeight"`
			TN float64 `json:"tnWeight"`
		}
	}
	if err := readJSON(filepath.Join(dir, "profiles.json"), &profiles); err != nil {
		return nil, err
	}
	c := &Corpus{}
	for name, p := range profiles {
		m := p.CostMatrix
		c.Profiles = append(c.Profiles, Profile{Name: name, TP: m.TP, FP: m.FP, FN: m.FN, TN: m.TN})
	}
	sort.Slice(c.Profiles, func(i, j int) bool { return c.Profiles[i].Name < c.Profiles[j].Name })

	paths, err := filepath.Glob(filepath.Join(dir, "data", "*", "*.csv"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no data/<category>/*.csv files", dir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel := filepath.ToSlash(strings.TrimPrefix(p, filepath.Join(dir, "data")+string(filepath.Separator)))
		ws, ok := windows[rel]
		if !ok {
			return nil, fmt.Errorf("%s: no entry for %s in windows.json", dir, rel)
		}
		f, err := loadFile(p, rel, ws)
		if err != nil {
			return nil, err
		}
		c.Files = append(c.Files, f)
	}
	return c, nil
}

func loadFile(path, rel string, ws [][2]string) (*File, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	recs, err := detect.ReadCSV(r, path)
	if err != nil {
		return nil, err
	}
	f := &File{Name: rel, Category: strings.SplitN(rel, "/", 2)[0]}
	for _, rec := range recs {
		f.Times = append(f.Times, rec.Time)
		f.Values = append(f.Values, rec.Value)
	}
	for _, w := range ws {
		s, err1 := detect.ParseTime(w[0])
		e, err2 := detect.ParseTime(w[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("windows.json: %s: bad window %q", rel, w)
		}
		f.Windows = append(f.Windows, Window{Start: s, End: e})
	}
	return f, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ProbationaryRows is the length of a file's unscored warm-up: 15% of its
// rows, at most 750 (NAB: min(floor(0.15·n), 0.15·5000)).
func ProbationaryRows(n int) int {
	return min(int(math.Floor(0.15*float64(n))), 750)
}

// sigmoid is the logistic function.
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// ScaledSigmoid is NAB's weighting of a detection by its relative position
// y: y in [-1, 0) inside a window (-1 at its first row), y > 0 after it in
// window widths. It is 2·sigmoid(-5y) - 1, and -1 from three widths on.
func ScaledSigmoid(y float64) float64 {
	if y >= 3 {
		return -1
	}
	return 2*sigmoid(-5*y) - 1
}
