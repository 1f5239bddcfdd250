// Command nabeval scores every registered detector on a NAB corpus folder
// and prints, per detector, the normalised score under each profile with
// the corpus-wide optimal threshold, then a leave-one-category-out table:
// the threshold is chosen on the other categories and applied to the one
// held out, the same with the detector's parameters chosen on the other
// categories too, and the default detector's false-alarm rate on generated
// clean series. `make eval` runs it on ../shared/nab.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/analysis/detect/nab"
)

func main() {
	dir := flag.String("data", "../shared/nab", "NAB corpus folder (data/, windows.json, profiles.json)")
	only := flag.String("detector", "", "comma-separated detectors to score (default: all)")
	perFile := flag.Bool("files", false, "also print per-file results under the standard profile")
	flag.Parse()
	if err := run(os.Stdout, *dir, *only, *perFile); err != nil {
		fmt.Fprintln(os.Stderr, "nabeval:", err)
		os.Exit(1)
	}
}

// singleAlarm is where a single test's cooldown starts: p = 1e-5.
const singleAlarm = 0.5

func run(w io.Writer, dir, only string, perFile bool) error {
	c, err := nab.Load(dir)
	if err != nil {
		return err
	}
	names := detect.Names()
	if only != "" {
		names = strings.Split(only, ",")
	}
	windows := 0
	for _, f := range c.Files {
		windows += len(f.Windows)
	}
	fmt.Fprintf(w, "NAB corpus %s: %d files, %d windows, categories %s\n\n", dir, len(c.Files), windows, strings.Join(c.Categories(), ", "))

	scored := map[string][]nab.Scored{}
	var rows []string
	add := func(row string, mk func() (detect.Detector, error)) error {
		for _, f := range c.Files {
			d, err := mk()
			if err != nil {
				return err
			}
			scored[row] = append(scored[row], nab.Scored{File: f, Scores: detect.Score(d, f.Times, f.Values)})
		}
		rows = append(rows, row)
		return nil
	}
	for _, n := range names {
		o := detect.Options{}.Defaults()
		if n == detect.DefaultName {
			if err := add(n, func() (detect.Detector, error) { return detect.New(n, o) }); err != nil {
				return err
			}
			continue
		}
		// A single test reports every row above the threshold, and NAB
		// charges every one; give it the same alarm deduplication as
		// combined, at its own p = 1e-5 alarm level.
		if err := add(n+" +cooldown", func() (detect.Detector, error) {
			d, err := detect.New(n, o)
			return detect.Cooldown(d, singleAlarm, o.Cooldown), err
		}); err != nil {
			return err
		}
	}
	if only == "" {
		if err := add("windowed gaussian (NAB baseline)", func() (detect.Detector, error) { return &windowedGaussian{}, nil }); err != nil {
			return err
		}
	}
	names = rows

	profiles := ordered(c.Profiles)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "detector\t")
	for _, p := range profiles {
		fmt.Fprintf(tw, "%s\t", p.Name)
	}
	fmt.Fprint(tw, "windows found (std)\tFP rows (std)\tthreshold (std)\t\n")
	inSample := map[string]nab.Result{} // each detector's standard-profile optimum
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
		var std nab.Result
		for _, p := range profiles {
			r, err := nab.Optimise(scored[n], p)
			if err != nil {
				return err
			}
			if p.Name == "standard" {
				std = r
				inSample[n] = r
			}
			fmt.Fprintf(tw, "%.1f\t", r.Normalised())
		}
		fmt.Fprintf(tw, "%d/%d\t%d\t%.4f\t\n", std.Detected, std.Windows, std.FalsePositives, std.Threshold)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nLeave one category out (standard profile): threshold chosen on the other categories, score of the held-out one\n\n")
	std, ok := c.Profile("standard")
	if !ok {
		return fmt.Errorf("profiles.json has no standard profile")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "detector\t")
	cats := c.Categories()
	for _, cat := range cats {
		fmt.Fprintf(tw, "%s\t", cat)
	}
	fmt.Fprint(tw, "pooled held-out\tin-sample\t\n")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
		var pooled nab.Result
		for _, cat := range cats {
			var train, test []nab.Scored
			for _, s := range scored[n] {
				if s.File.Category == cat {
					test = append(test, s)
				} else {
					train = append(train, s)
				}
			}
			tr, err := nab.Optimise(train, std)
			if err != nil {
				return err
			}
			te, err := nab.ScoreAt(test, std, tr.Threshold)
			if err != nil {
				return err
			}
			pooled.Raw += te.Raw
			pooled.Null += te.Null
			pooled.Perfect += te.Perfect
			if v := te.Normalised(); !math.IsNaN(v) {
				fmt.Fprintf(tw, "%.1f @%.3f\t", v, tr.Threshold)
			} else {
				fmt.Fprintf(tw, "%d FP (%.2f)\t", te.FalsePositives, te.Raw)
			}
		}
		fmt.Fprintf(tw, "%.1f\t%.1f\t\n", pooled.Normalised(), inSample[n].Normalised())
	}
	tw.Flush()

	if err := tunedLOCO(w, c, std); err != nil {
		return err
	}
	if r, ok := inSample[detect.DefaultName]; ok {
		background(w, r.Threshold)
	}

	if perFile {
		for _, n := range names {
			r := inSample[n]
			fmt.Fprintf(w, "\n%s per file (standard, threshold %.4f)\n", n, r.Threshold)
			for _, s := range scored[n] {
				fr, _ := nab.ScoreAt([]nab.Scored{s}, std, r.Threshold)
				fmt.Fprintf(w, "  %-60s raw %6.2f  %d/%d windows  %3d FP\n", s.File.Name, fr.Raw, fr.Detected, fr.Windows, fr.FalsePositives)
			}
		}
	}
	return nil
}

// ordered puts NAB's three profiles first, in the order NAB reports them.
func ordered(ps []nab.Profile) []nab.Profile {
	rank := map[string]int{"standard": 0, "reward_low_FP_rate": 1, "reward_low_FN_rate": 2}
	out := append([]nab.Profile(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, ok := rank[out[i].Name]
		if !ok {
			ri = 3
		}
		rj, ok := rank[out[j].Name]
		if !ok {
			rj = 3
		}
		return ri < rj
	})
	return out
}

// tunedLOCO is the stricter leave-one-category-out: for each held-out
// category, the combined detector's parameters (a small grid around the
// defaults) and its threshold are both chosen on the other three
// categories, then the held-out one is scored with them.
func tunedLOCO(w io.Writer, c *nab.Corpus, std nab.Profile) error {
	type variant struct {
		name string
		o    detect.Options
	}
	var grid []variant
	for _, win := range []int{144, 288, 576} {
		for _, cool := range []int{win / 8, win / 4, win / 2} {
			for _, alarm := range []float64{0.2, 0.3} {
				grid = append(grid, variant{fmt.Sprintf("window %d, cooldown %d, alarm %.1f", win, cool, alarm),
					detect.Options{Window: win, Cooldown: cool, Alarm: alarm}})
			}
		}
	}
	scored := make([][]nab.Scored, len(grid))
	for i, v := range grid {
		for _, f := range c.Files {
			scored[i] = append(scored[i], nab.Scored{File: f, Scores: detect.Score(detect.NewCombined(v.o), f.Times, f.Values)})
		}
	}
	fmt.Fprintf(w, "\nLeave one category out, parameters tuned too (combined, standard profile): window, cooldown and alarm level\n"+
		"chosen among %d variants, and the threshold, on the other categories; then the held-out one is scored\n\n", len(grid))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "held out\tchosen on the others\tthreshold\theld-out score\n")
	var pooled nab.Result
	for _, cat := range c.Categories() {
		best, bestScore, bestThr := -1, 0.0, 0.0
		for i := range grid {
			var train []nab.Scored
			for _, s := range scored[i] {
				if s.File.Category != cat {
					train = append(train, s)
				}
			}
			r, err := nab.Optimise(train, std)
			if err != nil {
				return err
			}
			if best < 0 || r.Normalised() > bestScore+1e-9 {
				best, bestScore, bestThr = i, r.Normalised(), r.Threshold
			}
		}
		var test []nab.Scored
		for _, s := range scored[best] {
			if s.File.Category == cat {
				test = append(test, s)
			}
		}
		te, err := nab.ScoreAt(test, std, bestThr)
		if err != nil {
			return err
		}
		pooled.Raw += te.Raw
		pooled.Null += te.Null
		pooled.Perfect += te.Perfect
		held := fmt.Sprintf("%.1f", te.Normalised())
		if math.IsNaN(te.Normalised()) {
			held = fmt.Sprintf("%d FP (%.2f)", te.FalsePositives, te.Raw)
		}
		fmt.Fprintf(tw, "%s\t%s (%.1f)\t%.4f\t%s\n", cat, grid[best].name, bestScore, bestThr, held)
	}
	fmt.Fprintf(tw, "pooled\t\t\t%.1f\n", pooled.Normalised())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSensitivity (combined, standard profile, all categories): the same variants\n\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, v := range grid {
		r, err := nab.Optimise(scored[i], std)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%.1f\n", v.name, r.Normalised())
	}
	return tw.Flush()
}
