package catalog_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/file"
)

// realCase is the header of a testdata/real case: broken objects
// reconstructed from a public report (an issue thread, a Q&A page), with
// the findings the catalogue must produce on them.
//
//	# at: 2021-07-14T19:54:00Z
//	# source: https://github.com/…
//	# expect: pod.crash_looping Pod/default/web-1
//	# message: exit code 0        (the preceding expect's message contains it)
//	# quiet: pvc.pending PersistentVolumeClaim/default/data   (must not fire; * = no check)
type realCase struct {
	at      time.Time
	sources []string
	expects []realExpect
	quiet   []realExpect
}

type realExpect struct {
	check, object string
	words         []string
	line          int
}

func readRealCase(t *testing.T, path string) realCase {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var rc realCase
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		key, val, _ := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		switch key {
		case "at":
			if rc.at, err = time.Parse(time.RFC3339, val); err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
		case "source":
			rc.sources = append(rc.sources, val)
		case "expect", "quiet":
			f := strings.Fields(val)
			if len(f) != 2 {
				t.Fatalf("%s:%d: want `# %s: check.id Kind/namespace/name`", path, n, key)
			}
			e := realExpect{check: f[0], object: f[1], line: n}
			if key == "expect" {
				rc.expects = append(rc.expects, e)
			} else {
				rc.quiet = append(rc.quiet, e)
			}
		case "message":
			if len(rc.expects) == 0 {
				t.Fatalf("%s:%d: `# message:` must follow an `# expect:` line", path, n)
			}
			last := &rc.expects[len(rc.expects)-1]
			last.words = append(last.words, val)
		}
	}
	if rc.at.IsZero() || len(rc.sources) == 0 {
		t.Fatalf("%s: a real case needs `# at:` and `# source:` lines", path)
	}
	if len(rc.expects) == 0 && len(rc.quiet) == 0 {
		t.Fatalf("%s: a real case needs `# expect:` or `# quiet:` lines", path)
	}
	return rc
}

// TestRealCases runs the whole catalogue over broken objects taken from
// public reports (testdata/real) and checks that each expected finding
// fires on its object, in the words of the report, that the quiet ones do
// not, and that nothing else critical fires.
func TestRealCases(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "real", "*.yaml"))
	if len(files) < 15 {
		t.Errorf("want at least 15 real cases in testdata/real, found %d", len(files))
	}
	known := catalog.ByID()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			rc := readRealCase(t, f)
			s, err := file.Load(f, file.Options{At: rc.at, Cluster: name})
			if err != nil {
				t.Fatal(err)
			}
			r := checks.Runner{Checks: catalog.All()}
			res := r.Run(context.Background(), s)
			for _, run := range res.Runs {
				if run.Result == checks.ResultError || run.Result == checks.ResultTimeout {
					t.Errorf("%s: %s: %s", run.Check, run.Result, run.Detail)
				}
			}
			byKey := map[string]checks.Finding{}
			for _, fd := range res.Findings {
				if fd.Status == checks.Firing {
					byKey[fd.Check+" "+fd.Object.String()] = fd
				}
			}
			expected := map[string]bool{}
			for _, e := range rc.expects {
				if _, ok := known[e.check]; !ok {
					t.Errorf("line %d: unknown check %s", e.line, e.check)
					continue
				}
				key := e.check + " " + e.object
				expected[key] = true
				fd, ok := byKey[key]
				if !ok {
					t.Errorf("line %d: %s did not fire on %s; findings:\n%s", e.line, e.check, e.object, listFindings(res.Findings))
					continue
				}
				t.Logf("%s %s: %s", fd.Severity, key, fd.Message)
				for _, w := range e.words {
					if !strings.Contains(fd.Message, w) {
						t.Errorf("line %d: %s on %s: message lacks %q:\n  %s", e.line, e.check, e.object, w, fd.Message)
					}
				}
			}
			for _, q := range rc.quiet {
				for key, fd := range byKey {
					if fd.Object.String() == q.object && (q.check == "*" || q.check == fd.Check) {
						t.Errorf("line %d: %s must stay quiet on %s: %s", q.line, key, q.object, fd.Message)
					}
				}
			}
			for key, fd := range byKey {
				if expected[key] {
					continue
				}
				if fd.Severity == checks.Critical {
					t.Errorf("unexpected critical finding %s: %s", key, fd.Message)
				} else {
					t.Logf("also fires (not asserted): %s %s: %s", fd.Severity, key, fd.Message)
				}
			}
		})
	}
}

func listFindings(fs []checks.Finding) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, fmt.Sprintf("  %s %s %s: %s", f.Severity, f.Check, f.Object.String(), f.Message))
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "  (none)"
	}
	return strings.Join(lines, "\n")
}
