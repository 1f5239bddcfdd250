package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/kubepatrol/patrol/analysis/detect"
	"github.com/kubepatrol/patrol/collectors/prom"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// analyzeOpts are the flags of `patrol analyze`. The series come from
// exactly one source: --input (a recorded CSV file) or --query (a PromQL
// range query over --start, --end and --step against --prometheus-url,
// with inspect's --prometheus-* credentials flags).
type analyzeOpts struct {
	input     string
	output    string
	detector  string
	plot      string
	threshold float64
	window    int
	period    string
	cooldown  int

	query      string
	start, end string
	step       time.Duration
	timeout    time.Duration
	prom       metricFlags
}

// analyzePromFlags are the flags of metricFlags that analyze shares with
// inspect: where Prometheus is and how to authenticate. Its label
// matchers and scrape targets are for the signal queries, not for an
// expression sent as written.
var analyzePromFlags = []string{"prometheus-url", "prometheus-token-file", "prometheus-ca-file", "prometheus-insecure-skip-verify"}

func analyzeCmd(g *globals) *cobra.Command {
	o := &analyzeOpts{}
	var names []string
	for _, i := range detect.Describe() {
		names = append(names, fmt.Sprintf("  %-9s %s", i.Name, i.Summary))
	}
	cmd := &cobra.Command{
		Use:   "analyze (--input FILE | --query PROMQL --prometheus-url URL)",
		Short: "Score metric series for anomalies (CSV or a Prometheus query in; CSV and an optional chart out)",
		Long: `analyze reads a series and writes it back with an anomaly_score column in [0,1].
Each point is scored from the points up to and including it, exactly as a live
stream would be.

The series comes from a CSV file of timestamp,value rows (--input: NAB's format, a
header line, timestamps like 2026-03-02 10:00:00 or RFC 3339), or from Prometheus
(--query: a PromQL expression evaluated over --start..--end every --step; each
series it returns is scored on its own). One series is written as
timestamp,value,anomaly_score; several as series,timestamp,value,anomaly_score,
the series named by its PromQL selector.

Scores are tail probabilities on a log scale: 0.5 means "as extreme as one in 10^5
under the detector's model of normal behaviour", 1 means one in 10^10 or rarer.
For the default detector, 0.2 is its operating point on the Numenta Anomaly
Benchmark and 0.4 a quieter threshold to page on.

Detectors:
` + strings.Join(names, "\n") + `

docs/detectors.md describes each one, what it is good and bad at, and its NAB scores.`,
		Example: `  # score a recording, write the scores and a chart
  patrol analyze --input latency.csv --output scored.csv --plot latency.png
  # a single detector, and the points at or above 0.5 marked in an SVG chart
  patrol analyze --input cpu.csv --detector robustz --threshold 0.5 --plot cpu.svg
  # one-second samples: a window of ten minutes instead of the default day of 5-minute samples
  patrol analyze --input mem.csv --window 600 --period none
  # a week of the API server's 5xx ratio from Prometheus, every 5 minutes
  patrol analyze --prometheus-url http://prometheus:9090 --start 7d --step 5m \
    --query 'sum(rate(apiserver_request_total{code=~"5.."}[5m])) / sum(rate(apiserver_request_total[5m]))'
  # every etcd member's p99 fsync latency, one chart per member
  patrol analyze --prometheus-url http://prometheus:9090 --start 2026-03-01T00:00:00Z --end 2026-03-08T00:00:00Z --plot fsync.png \
    --query 'histogram_quantile(0.99, sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])))'`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVarP(&o.input, "input", "i", "", "CSV file of timestamp,value rows (- for stdin)")
	f.StringVarP(&o.query, "query", "q", "", "PromQL expression to read from --prometheus-url over --start..--end every --step (instead of --input)")
	f.StringVar(&o.start, "start", "7d", "start of the --query range: RFC 3339, Unix seconds, or a duration before --end (7d, 36h)")
	f.StringVar(&o.end, "end", "now", "end of the --query range: now, RFC 3339, or Unix seconds")
	f.DurationVar(&o.step, "step", 5*time.Minute, "resolution of the --query range (the default window, 288 points, is a day of 5-minute steps)")
	f.DurationVar(&o.timeout, "prometheus-timeout", 60*time.Second, "time limit of the --query request")
	// The Prometheus location and credentials flags are inspect's
	// (metricFlags), registered on a scratch command and moved here.
	scratch := &cobra.Command{}
	o.prom.register(scratch)
	for _, name := range analyzePromFlags {
		f.AddFlag(scratch.Flags().Lookup(name))
	}
	f.StringVarP(&o.output, "output", "o", "-", "CSV file to write the scored rows to (- for stdout)")
	f.StringVarP(&o.detector, "detector", "d", detect.DefaultName, "detector: "+strings.Join(detect.Names(), "|"))
	f.StringVar(&o.plot, "plot", "", "also draw each series, its scores and the points at or above --threshold to FILE.png or FILE.svg")
	f.Float64Var(&o.threshold, "threshold", detect.AlarmScore, "score that counts as an alarm: marked on the chart, and where combined starts its cooldown")
	f.IntVar(&o.window, "window", 0, "trailing window in samples (robustz, combined); 0: the default, a day of 5-minute samples (288)")
	f.StringVar(&o.period, "period", "auto", "seasonal period: auto (a day or a week, if either explains the series), none, or a duration such as 24h")
	f.IntVar(&o.cooldown, "cooldown", 0, "samples combined stays quiet after an alarm; 0: a quarter of the window; -1: none")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.run(cmd.Context(), g, cmd.Flags().Changed)
	}
	return cmd
}

func (o *analyzeOpts) options() (detect.Options, error) {
	opts := detect.Options{Window: o.window, Cooldown: o.cooldown, Alarm: o.threshold}
	if o.window < 0 {
		return opts, fmt.Errorf("--window: %d is negative", o.window)
	}
	if !(o.threshold > 0 && o.threshold <= 1) {
		return opts, fmt.Errorf("--threshold: %v is not in (0, 1]", o.threshold)
	}
	switch o.period {
	case "auto", "":
	case "none":
		opts.Period = -1
	default:
		p, err := time.ParseDuration(o.period)
		if err != nil || p <= 0 {
			return opts, fmt.Errorf("--period: %q is not auto, none or a positive duration such as 24h", o.period)
		}
		opts.Period = p
	}
	return opts, nil
}

// scored is one series with its scores: the rows to write and to draw.
type scored struct {
	name   string // the series' selector; "" for a CSV file
	recs   []detect.Record
	scores []float64
}

func (o *analyzeOpts) run(ctx context.Context, g *globals, changed func(string) bool) error {
	switch {
	case o.input == "" && o.query == "":
		return errors.New("--input is required: a CSV file of timestamp,value rows (or --query with --prometheus-url)")
	case o.input != "" && o.query != "":
		return errors.New("--input and --query are two sources of series: give one")
	case o.input != "":
		for _, name := range append([]string{"start", "end", "step", "prometheus-timeout"}, analyzePromFlags...) {
			if changed(name) {
				return fmt.Errorf("--%s goes with --query, not --input", name)
			}
		}
	}
	if o.plot != "" {
		if ext := strings.ToLower(filepath.Ext(o.plot)); ext != ".png" && ext != ".svg" {
			return fmt.Errorf("--plot: %q must end in .png or .svg", o.plot)
		}
	}
	opts, err := o.options()
	if err != nil {
		return err
	}
	if _, err := detect.New(o.detector, opts); err != nil {
		return fmt.Errorf("--detector: %w", err)
	}
	var series []scored
	source := o.input
	if o.input != "" {
		recs, err := o.read()
		if err != nil {
			return err
		}
		series = []scored{{recs: recs}}
	} else {
		if ctx == nil {
			ctx = context.Background()
		}
		if series, err = o.fetch(ctx); err != nil {
			return err
		}
		source = "prometheus"
	}
	alarms, rows := 0, 0
	for i := range series {
		s := &series[i]
		d, _ := detect.New(o.detector, opts)
		s.scores = make([]float64, len(s.recs))
		for j, r := range s.recs {
			s.scores[j] = d.Update(r.Time, r.Value)
			if s.scores[j] >= o.threshold {
				alarms++
			}
		}
		rows += len(s.recs)
	}
	g.logger().Info("series analysed", "source", source, "series", len(series), "detector", o.detector, "rows", rows, "alarms", alarms, "threshold", o.threshold)
	if err := o.write(g.stdout, series); err != nil {
		return err
	}
	if o.plot != "" {
		title := filepath.Base(o.input)
		if o.query != "" {
			title = o.query
		}
		if err := drawScores(o.plot, title+" · "+o.detector, series, o.threshold); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
}

// fetch runs --query over the range and turns each series into records.
func (o *analyzeOpts) fetch(ctx context.Context) ([]scored, error) {
	if o.prom.promURL == "" {
		return nil, errors.New("--query needs --prometheus-url")
	}
	if o.step <= 0 {
		return nil, fmt.Errorf("--step: %s is not positive", o.step)
	}
	now := time.Now().UTC()
	end, err := parseWhen(o.end, now, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("--end: %w", err)
	}
	start, err := parseWhen(o.start, now, end)
	if err != nil {
		return nil, fmt.Errorf("--start: %w", err)
	}
	opt := o.prom.prometheus()
	opt.Matchers = ""
	opt.Timeout = o.timeout
	ss, err := prom.QueryRange(ctx, opt, o.query, start, end, o.step)
	if err != nil {
		return nil, fmt.Errorf("--query: %w", err)
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("--query: no series between %s and %s (check the expression in Prometheus' graph page)",
			start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	sort.SliceStable(ss, func(i, j int) bool {
		return snapshot.MetricSelector(ss[i].Name, ss[i].Labels) < snapshot.MetricSelector(ss[j].Name, ss[j].Labels)
	})
	out := make([]scored, len(ss))
	for i, s := range ss {
		sel := snapshot.MetricSelector(s.Name, s.Labels)
		if sel == "" {
			sel = "{}"
		}
		out[i].name = sel
		out[i].recs = make([]detect.Record, len(s.Samples))
		for j, x := range s.Samples {
			t := x.Time()
			out[i].recs[j] = detect.Record{Time: t, Value: x.V, TimeText: t.Format(nabTime), ValueText: valueText(x.V)}
		}
	}
	return out, nil
}

// valueText writes a sample value as Prometheus' API does (23963869184,
// 0.25, NaN), with an exponent only for very large or small values.
func valueText(v float64) string {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e15) || math.IsNaN(v) || math.IsInf(v, 0) {
		return snapshot.FormatValue(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// nabTime is how analyze writes the timestamps of Prometheus samples:
// NAB's form, in UTC, with milliseconds only when a sample has them.
const nabTime = "2006-01-02 15:04:05.999"

// parseWhen reads a --start or --end value: now, RFC 3339, Unix seconds,
// or (when rel is set) a duration before rel such as 7d or 36h.
func parseWhen(s string, now, rel time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" || s == "" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 1e8 {
		return time.UnixMilli(int64(f * 1000)).UTC(), nil
	}
	if !rel.IsZero() {
		d, err := parseDays(strings.TrimPrefix(s, "-"))
		if err == nil && d > 0 {
			return rel.Add(-d), nil
		}
	}
	what := "now, RFC 3339 (2026-03-02T10:00:00Z) or Unix seconds"
	if !rel.IsZero() {
		what = "RFC 3339 (2026-03-02T10:00:00Z), Unix seconds, or a duration before --end (7d, 36h)"
	}
	return time.Time{}, fmt.Errorf("%q is not %s", s, what)
}

// parseDays is time.ParseDuration with a d (24h) unit in front: 7d, 1d12h.
func parseDays(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, err
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

func (o *analyzeOpts) read() ([]detect.Record, error) {
	var r io.Reader
	name := o.input
	if o.input == "-" {
		r, name = os.Stdin, "stdin"
	} else {
		f, err := os.Open(o.input)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	recs, err := detect.ReadCSV(r, name)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no timestamp,value rows", name)
	}
	return recs, nil
}

// write writes the scored rows: timestamp,value,anomaly_score for one
// series (NAB's form, what --input reads), with a leading series column
// when there are several.
func (o *analyzeOpts) write(stdout io.Writer, series []scored) (err error) {
	w := stdout
	var f *os.File
	if o.output != "-" && o.output != "" {
		if f, err = os.Create(o.output); err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	bw := bufio.NewWriter(w)
	many := len(series) > 1
	if many {
		bw.WriteString("series,")
	}
	bw.WriteString("timestamp,value,anomaly_score\n")
	for _, s := range series {
		name := csvField(s.name)
		for i, r := range s.recs {
			if many {
				bw.WriteString(name)
				bw.WriteByte(',')
			}
			bw.WriteString(csvField(r.TimeText))
			bw.WriteByte(',')
			bw.WriteString(csvField(r.ValueText))
			bw.WriteByte(',')
			bw.WriteString(strconv.FormatFloat(s.scores[i], 'f', 6, 64))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// csvField quotes a field that needs it (the input's text is written back
// as read, which may hold a comma inside quotes).
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// maxPlotted bounds the series in one chart: the ones with the highest
// scores are drawn.
const maxPlotted = 8

// drawScores draws each series (alarms marked in red) above its anomaly
// scores (the threshold dashed), one pair of panels per series, and saves
// the chart as PNG or SVG.
func drawScores(path, title string, series []scored, threshold float64) error {
	if len(series) > maxPlotted {
		top := append([]scored(nil), series...)
		peak := func(s scored) float64 {
			m := 0.0
			for _, v := range s.scores {
				m = max(m, v)
			}
			return m
		}
		sort.SliceStable(top, func(i, j int) bool { return peak(top[i]) > peak(top[j]) })
		series = top[:maxPlotted]
		title += fmt.Sprintf(" (the %d of %d series with the highest scores)", maxPlotted, len(top))
	}
	var rows [][]*plot.Plot
	for i, s := range series {
		if len(s.recs) == 0 {
			continue
		}
		name := title
		if s.name != "" {
			name = s.name
			if i == 0 {
				name = title + "\n" + s.name
			}
		}
		v, sc, err := seriesPlots(name, s.recs, s.scores, threshold)
		if err != nil {
			return err
		}
		rows = append(rows, []*plot.Plot{v}, []*plot.Plot{sc})
	}
	if len(rows) == 0 {
		return errors.New("nothing to draw")
	}
	w, h := 11*vg.Inch, vg.Length(max(6, 3.4*float64(len(rows)/2)))*vg.Inch
	var c vg.CanvasWriterTo
	if strings.EqualFold(filepath.Ext(path), ".svg") {
		c = vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(true))
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadX: vg.Points(6), PadY: vg.Points(10)}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seriesPlots are one series' two panels: its values with the alarms
// marked, and its scores with the threshold.
func seriesPlots(title string, recs []detect.Record, scores []float64, threshold float64) (*plot.Plot, *plot.Plot, error) {
	xs := func(i int) float64 { return float64(recs[i].Time.Unix()) }
	ticks := plot.TimeTicks{Format: "01-02\n15:04"}
	if span := recs[len(recs)-1].Time.Sub(recs[0].Time); span < 6*time.Hour {
		ticks.Format = "15:04:05"
	}

	series := plot.New()
	series.Title.Text = title
	series.Y.Label.Text = "value"
	series.X.Tick.Marker = ticks
	line := make(plotter.XYs, 0, len(recs))
	var hot plotter.XYs
	for i, r := range recs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue
		}
		line = append(line, plotter.XY{X: xs(i), Y: r.Value})
		if scores[i] >= threshold {
			hot = append(hot, line[len(line)-1])
		}
	}
	if len(line) == 0 {
		line = append(line, plotter.XY{X: xs(0)})
	}
	l, err := plotter.NewLine(line)
	if err != nil {
		return nil, nil, err
	}
	l.Color = color.RGBA{R: 40, G: 70, B: 140, A: 255}
	series.Add(plotter.NewGrid(), l)
	if len(hot) > 0 {
		s, err := plotter.NewScatter(hot)
		if err != nil {
			return nil, nil, err
		}
		s.Color = color.RGBA{R: 210, G: 30, B: 30, A: 255}
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3.5)
		series.Add(s)
		series.Legend.Add(fmt.Sprintf("score >= %.2f (%d)", threshold, len(hot)), s)
		series.Legend.Top = true
	}

	score := plot.New()
	score.Y.Label.Text = "anomaly score"
	score.Y.Min, score.Y.Max = 0, 1
	score.X.Tick.Marker = ticks
	sl := make(plotter.XYs, len(recs))
	for i := range recs {
		sl[i] = plotter.XY{X: xs(i), Y: scores[i]}
	}
	l2, err := plotter.NewLine(sl)
	if err != nil {
		return nil, nil, err
	}
	l2.Color = color.RGBA{R: 210, G: 30, B: 30, A: 255}
	thr, err := plotter.NewLine(plotter.XYs{{X: xs(0), Y: threshold}, {X: xs(len(recs) - 1), Y: threshold}})
	if err != nil {
		return nil, nil, err
	}
	thr.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	thr.Color = color.Gray{Y: 100}
	score.Add(plotter.NewGrid(), l2, thr)
	return series, score, nil
}
