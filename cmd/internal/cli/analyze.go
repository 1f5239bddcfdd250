package cli

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
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
)

// analyzeOpts are the flags of `patrol analyze`. The series comes from one
// source: --input (a recorded CSV file) today; a Prometheus query
// (--query with --start, --end and --step) is the planned second source,
// which is why the source is validated as "exactly one of".
type analyzeOpts struct {
	input     string
	output    string
	detector  string
	plot      string
	threshold float64
	window    int
	period    string
	cooldown  int
}

func analyzeCmd(g *globals) *cobra.Command {
	o := &analyzeOpts{}
	var names []string
	for _, i := range detect.Describe() {
		names = append(names, fmt.Sprintf("  %-9s %s", i.Name, i.Summary))
	}
	cmd := &cobra.Command{
		Use:   "analyze --input FILE",
		Short: "Score a metric series for anomalies (CSV in, CSV and an optional chart out)",
		Long: `analyze reads a series as timestamp,value rows (NAB's CSV format: a header line,
timestamps like 2026-03-02 10:00:00 or RFC 3339) and writes the same rows with an
anomaly_score column in [0,1]. Each row is scored from the rows up to and including
it, exactly as a live stream would be.

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
  patrol analyze --input mem.csv --window 600 --period none`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVarP(&o.input, "input", "i", "", "CSV file of timestamp,value rows (- for stdin)")
	f.StringVarP(&o.output, "output", "o", "-", "CSV file to write timestamp,value,anomaly_score to (- for stdout)")
	f.StringVarP(&o.detector, "detector", "d", detect.DefaultName, "detector: "+strings.Join(detect.Names(), "|"))
	f.StringVar(&o.plot, "plot", "", "also draw the series, its scores and the points at or above --threshold to FILE.png or FILE.svg")
	f.Float64Var(&o.threshold, "threshold", detect.AlarmScore, "score that counts as an alarm: marked on the chart, and where combined starts its cooldown")
	f.IntVar(&o.window, "window", 0, "trailing window in samples (robustz, combined); 0: the default, a day of 5-minute samples (288)")
	f.StringVar(&o.period, "period", "auto", "seasonal period: auto (a day or a week, if either explains the series), none, or a duration such as 24h")
	f.IntVar(&o.cooldown, "cooldown", 0, "samples combined stays quiet after an alarm; 0: a quarter of the window; -1: none")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.run(g)
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

func (o *analyzeOpts) run(g *globals) error {
	if o.input == "" {
		return errors.New("--input is required: a CSV file of timestamp,value rows")
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
	d, err := detect.New(o.detector, opts)
	if err != nil {
		return fmt.Errorf("--detector: %w", err)
	}
	recs, err := o.read()
	if err != nil {
		return err
	}
	scores := make([]float64, len(recs))
	for i, r := range recs {
		scores[i] = d.Update(r.Time, r.Value)
	}
	alarms := 0
	for _, s := range scores {
		if s >= o.threshold {
			alarms++
		}
	}
	g.logger().Info("series analysed", "input", o.input, "detector", o.detector, "rows", len(recs), "alarms", alarms, "threshold", o.threshold)
	if err := o.write(g.stdout, recs, scores); err != nil {
		return err
	}
	if o.plot != "" {
		if err := drawScores(o.plot, filepath.Base(o.input)+" · "+o.detector, recs, scores, o.threshold); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
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

func (o *analyzeOpts) write(stdout io.Writer, recs []detect.Record, scores []float64) (err error) {
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
	bw.WriteString("timestamp,value,anomaly_score\n")
	for i, r := range recs {
		bw.WriteString(csvField(r.TimeText))
		bw.WriteByte(',')
		bw.WriteString(csvField(r.ValueText))
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatFloat(scores[i], 'f', 6, 64))
		bw.WriteByte('\n')
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

// drawScores draws the series (alarms marked in red) above its anomaly
// scores (the threshold dashed) and saves the chart as PNG or SVG.
func drawScores(path, title string, recs []detect.Record, scores []float64, threshold float64) error {
	xs := func(i int) float64 { return float64(recs[i].Time.Unix()) }
	ticks := plot.TimeTicks{Format: "01-02\n15:04"}
	if span := recs[len(recs)-1].Time.Sub(recs[0].Time); span < 6*time.Hour {
		ticks.Format = "15:04:05"
	}

	series := plot.New()
	series.Title.Text = title
	series.Y.Label.Text = "value"
	series.X.Tick.Marker = ticks
	line := make(plotter.XYs, len(recs))
	var hot plotter.XYs
	for i, r := range recs {
		line[i] = plotter.XY{X: xs(i), Y: r.Value}
		if scores[i] >= threshold {
			hot = append(hot, line[i])
		}
	}
	l, err := plotter.NewLine(line)
	if err != nil {
		return err
	}
	l.Color = color.RGBA{R: 40, G: 70, B: 140, A: 255}
	series.Add(plotter.NewGrid(), l)
	if len(hot) > 0 {
		s, err := plotter.NewScatter(hot)
		if err != nil {
			return err
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
		return err
	}
	l2.Color = color.RGBA{R: 210, G: 30, B: 30, A: 255}
	thr, err := plotter.NewLine(plotter.XYs{{X: xs(0), Y: threshold}, {X: xs(len(recs) - 1), Y: threshold}})
	if err != nil {
		return err
	}
	thr.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	thr.Color = color.Gray{Y: 100}
	score.Add(plotter.NewGrid(), l2, thr)

	w, h := 11*vg.Inch, 6*vg.Inch
	var c vg.CanvasWriterTo
	if strings.EqualFold(filepath.Ext(path), ".svg") {
		c = vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(true))
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadX: vg.Points(6), PadY: vg.Points(10)}
	canvases := plot.Align([][]*plot.Plot{{series}, {score}}, tiles, dc)
	series.Draw(canvases[0][0])
	score.Draw(canvases[1][0])

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
