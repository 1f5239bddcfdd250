package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/analysis/report"
)

// requireChromium, when set (CI sets it), turns a missing browser into a
// failure instead of a skip.
const requireChromium = "KUBEPATROL_REQUIRE_CHROMIUM"

// chromium finds the headless browser: $CHROMIUM, then the Debian and
// upstream binary names.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireChromium) != "" {
		t.Fatalf("chromium is not installed and %s is set (install it: apt-get install -y chromium)", requireChromium)
	}
	t.Skipf("chromium is not installed (apt-get install -y chromium); set %s=1 to make this a failure", requireChromium)
	return ""
}

// headless runs the browser once over page with extra flags and returns
// its standard output.
func headless(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	// A browser that dies of a signal (a crash under memory pressure on a
	// busy machine) is tried again, twice; any other failure is the test's.
	for attempt := 1; ; attempt++ {
		out, crashed, err := runHeadless(t, bin, page, extra...)
		if err == nil {
			return out
		}
		if !crashed || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("chromium crashed (attempt %d), trying again: %v", attempt, strings.SplitN(err.Error(), "\n", 2)[0])
	}
}

func runHeadless(t *testing.T, bin, page string, extra ...string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}
	args = append(args, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, false, fmt.Errorf("chromium did not finish within 60s\nstderr:\n%s", tail(stderr.String()))
		}
		var ee *exec.ExitError
		crashed := errors.As(err, &ee) && ee.ProcessState != nil && !ee.Exited()
		return nil, crashed, fmt.Errorf("chromium %v: %v\nstderr:\n%s", extra, err, tail(stderr.String()))
	}
	return stdout.Bytes(), false, nil
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func writePage(t *testing.T, r *report.Report) string {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t, r), 0o644); err != nil {
		t.Fatal(err)
	}
	return page
}

// TestBrowserRendersReport loads the HTML report in headless Chromium and
// checks that the rendered DOM shows the findings and that a screenshot of
// it is a real picture, not a blank page.
func TestBrowserRendersReport(t *testing.T) {
	if testing.Short() && os.Getenv(requireChromium) == "" {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	r := sampleReport()
	page := writePage(t, r)

	dom := string(headless(t, bin, page, "--dump-dom"))
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("chromium dumped no document:\n%s", tail(dom))
	}
	want := []string{
		r.Cluster, r.SnapshotID, `<div class="letter" title="grade">` + r.Grade + `</div>`,
		"Coverage incomplete", "Unknown: health not claimed",
	}
	for _, f := range r.Findings {
		want = append(want, f.Check, f.Object.Name, f.Reason)
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("rendered DOM lacks %q", w)
		}
	}
	// Messages arrive HTML-escaped in the DOM dump; compare a plain one.
	if !strings.Contains(dom, "Kubelet stopped posting node status.") {
		t.Error("rendered DOM lacks the node's condition message")
	}
	// The markup inside a message must have stayed text: no element made
	// from it, and the inline filter script must have run.
	if strings.Contains(dom, "<script>alert(1)</script>") {
		t.Error("a message's <script> became an element")
	}
	if strings.Contains(dom, `id="filterbar" hidden`) {
		t.Error("the inline script did not run (the filter bar is still hidden)")
	}

	shot := filepath.Join(filepath.Dir(page), "shot.png")
	headless(t, bin, page, "--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
	checkScreenshot(t, shot, 1280, 2000)
	if dir := os.Getenv("KUBEPATROL_SCREENSHOT_DIR"); dir != "" {
		// Keep the picture for a human to look at.
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join(dir, "report-full.png"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestBrowserRendersEmptyReport checks the "no findings" page and a phone
// width.
func TestBrowserRendersEmptyReport(t *testing.T) {
	if testing.Short() && os.Getenv(requireChromium) == "" {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	page := writePage(t, emptyReport())
	dom := string(headless(t, bin, page, "--dump-dom"))
	for _, w := range []string{"No findings", "prod-eu-1", `title="grade">A</div>`} {
		if !strings.Contains(dom, w) {
			t.Errorf("rendered DOM lacks %q", w)
		}
	}
	shot := filepath.Join(filepath.Dir(page), "phone.png")
	headless(t, bin, page, "--screenshot="+shot, "--window-size=390,1400", "--hide-scrollbars")
	checkScreenshot(t, shot, 390, 1400)
	if dir := os.Getenv("KUBEPATROL_SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join(dir, "report-empty-phone.png"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// checkScreenshot decodes the PNG and insists on the requested size and on
// more than one colour: a blank page is a single colour.
func checkScreenshot(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	if n := colours(img, 64); n < 8 {
		t.Errorf("screenshot has %d distinct colours: the page looks blank", n)
	}
}

// colours counts distinct colours in img, stopping at max.
func colours(img image.Image, max int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= max {
				return len(seen)
			}
		}
	}
	return len(seen)
}
