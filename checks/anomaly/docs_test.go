package anomaly

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDocs keeps the table of anomaly.Signals in docs/detectors.md equal to
// the code (go test ./checks/anomaly -run TestDocs -update rewrites it).
func TestDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "detectors.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- anomaly-signals:begin -->\n", "<!-- anomaly-signals:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q section", path, begin, end)
	}
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| series | kind | step | PromQL (a week) | what for |\n|---|---|---|---|---|\n")
	for _, s := range Signals {
		var ms []string
		for _, m := range s.Match {
			ms = append(ms, m.Name+m.Op+strconv.Quote(m.Value))
		}
		if s.JobScoped {
			ms = append(ms, `job=~"<the component's job>"`)
		}
		expr := strings.ReplaceAll(s.Expr, "{}", "{"+strings.Join(ms, ",")+"}")
		kind := string(s.Kind)
		if s.FallbackFor != "" {
			kind += ", fallback"
		}
		b.WriteString("| `" + s.Name + "` | " + kind + " | " + shortDur(s.Step) + " | `" + esc(expr) + "` | " + esc(s.Doc) + " |\n")
	}
	got := string(doc[:i+len(begin)]) + b.String() + string(doc[j:])
	if got == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date: go test ./checks/anomaly -run TestDocs -update", path)
}
