package prom

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

var update = flag.Bool("update", false, "rewrite the signal table in docs/metrics.md")

// TestDocs keeps the signal table of docs/metrics.md equal to
// snapshot.Signals and the PromQL they become.
func TestDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "metrics.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- signals:begin -->\n", "<!-- signals:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q section", path, begin, end)
	}
	var b strings.Builder
	b.WriteString("| signal | kind | type | PromQL | what for |\n|---|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, s := range snapshot.Signals {
		typ := string(s.Type)
		if s.History {
			typ += ", history"
		}
		if s.FallbackFor != "" {
			typ += ", fallback"
		}
		b.WriteString("| `" + s.Name + "` | " + string(s.Kind) + " | " + typ + " | `" + esc(Expr(s, "", nil)) + "` | " + esc(s.Doc) + " |\n")
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
	t.Errorf("%s is out of date: go test ./collectors/prom -run TestDocs -update", path)
}
