package catalog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/collectors/file"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCatalogIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range catalog.All() {
		m := c.Meta()
		if !checks.ValidID(m.ID) {
			t.Errorf("%q: ID is not <area>.<condition> in lower snake case", m.ID)
		}
		if seen[m.ID] {
			t.Errorf("%s: duplicate ID", m.ID)
		}
		seen[m.ID] = true
		if m.Title == "" || len(m.Description) < 20 || m.Remedy == "" {
			t.Errorf("%s: title, description and remedy must be documented", m.ID)
		}
		if m.Severity.Rank() == 0 {
			t.Errorf("%s: bad severity %q", m.ID, m.Severity)
		}
		if len(m.Requires) == 0 {
			t.Errorf("%s: Requires must name the kinds the check reads", m.ID)
		}
		if _, err := checks.ResolveParams(m, nil); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		for _, p := range m.Params {
			if p.Description == "" {
				t.Errorf("%s: parameter %s is undocumented", m.ID, p.Name)
			}
		}
	}
}

// TestDocsInSync keeps docs/checks.md equal to the generated reference.
func TestDocsInSync(t *testing.T) {
	var b bytes.Buffer
	if err := catalog.WriteMarkdown(&b, catalog.All()); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("..", "..", "docs", "checks.md"), b.Bytes())
}

// TestGolden runs the whole catalogue over every fixture under
// testdata/checks and compares the findings with the .golden.json beside it.
// A fixture's first lines may set the snapshot time (`# at: RFC3339`) and
// parameters (`# param: check.id name=value`).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "checks", "*", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, filepath.Join("..", "..", "testdata", "checks")+string(filepath.Separator)), ".yaml")
		t.Run(name, func(t *testing.T) {
			at, params := header(t, f)
			s, err := file.Load(f, file.Options{At: at, Cluster: "test"})
			if err != nil {
				t.Fatal(err)
			}
			r := checks.Runner{Checks: catalog.All(), Params: map[string]checks.Params{}}
			for id, ov := range params {
				c, ok := catalog.ByID()[id]
				if !ok {
					t.Fatalf("param for unknown check %s", id)
				}
				p, err := checks.ResolveParams(c.Meta(), ov)
				if err != nil {
					t.Fatal(err)
				}
				r.Params[id] = p
			}
			res := r.Run(context.Background(), s)
			for _, run := range res.Runs {
				if run.Result == checks.ResultError || run.Result == checks.ResultTimeout {
					t.Errorf("%s: %s: %s", run.Check, run.Result, run.Detail)
				}
			}
			fs := res.Findings
			if fs == nil {
				fs = []checks.Finding{}
			}
			got, _ := json.MarshalIndent(fs, "", "  ")
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden.json", append(got, '\n'))
		})
	}
}

func header(t *testing.T, path string) (time.Time, map[string]map[string]string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var at time.Time
	params := map[string]map[string]string{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(line, "at:"):
			at, err = time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(line, "at:")))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		case strings.HasPrefix(line, "param:"):
			f := strings.Fields(strings.TrimPrefix(line, "param:"))
			if len(f) != 2 || !strings.Contains(f[1], "=") {
				t.Fatalf("%s: want `# param: check.id name=value`", path)
			}
			kv := strings.SplitN(f[1], "=", 2)
			if params[f[0]] == nil {
				params[f[0]] = map[string]string{}
			}
			params[f[0]][kv[0]] = kv[1]
		}
	}
	return at, params
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./checks/catalog -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got), rerun with -update if intended:\n%s", path, d)
	}
}
