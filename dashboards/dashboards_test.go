package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// dashboard is one parsed dashboard file, kept both typed (the fields the
// tests read) and as a generic tree (to walk every key).
type dashboard struct {
	File string
	Raw  map[string]any
	UID  string
	// Title, SchemaVersion and Templating are the typed fields.
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource json.RawMessage `json:"datasource"`
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards (*.json) in dashboards/")
	}
	var out []dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{File: f}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := json.Unmarshal(data, &d.Raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.UID, _ = d.Raw["uid"].(string)
		out = append(out, d)
	}
	return out
}

var uidPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)

// TestDashboardsShape: every dashboard parses, has a unique well-formed
// UID and title, a current schema version, the kubepatrol tag, unique panel
// IDs, and panels that lie inside the 24-column grid.
func TestDashboardsShape(t *testing.T) {
	uids, titles := map[string]string{}, map[string]string{}
	for _, d := range loadDashboards(t) {
		if !uidPattern.MatchString(d.UID) {
			t.Errorf("%s: uid %q: want 1-40 characters of [a-zA-Z0-9_-]", d.File, d.UID)
		}
		if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q already used by %s", d.File, d.UID, prev)
		}
		uids[d.UID] = d.File
		if d.Title == "" {
			t.Errorf("%s: no title", d.File)
		}
		if prev, dup := titles[d.Title]; dup {
			t.Errorf("%s: title %q already used by %s", d.File, d.Title, prev)
		}
		titles[d.Title] = d.File
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d: want 36 or later (Grafana 9+)", d.File, d.SchemaVersion)
		}
		if id, ok := d.Raw["id"]; ok && id != nil {
			t.Errorf("%s: id %v: exported dashboards carry \"id\": null, Grafana assigns it", d.File, id)
		}
		if tags, _ := d.Raw["tags"].([]any); !slices.Contains(tags, any("kubepatrol")) {
			t.Errorf("%s: want the tag kubepatrol (the dashboards link to each other by it)", d.File)
		}
		ids := map[float64]string{}
		for _, p := range panels(d.Raw) {
			title, _ := p["title"].(string)
			id, _ := p["id"].(float64)
			if prev, dup := ids[id]; dup || id == 0 {
				t.Errorf("%s: panel %q: id %v missing or already used by %q", d.File, title, id, prev)
			}
			ids[id] = title
			if title == "" {
				t.Errorf("%s: panel %v has no title", d.File, id)
			}
			g, _ := p["gridPos"].(map[string]any)
			x, _ := g["x"].(float64)
			w, _ := g["w"].(float64)
			h, _ := g["h"].(float64)
			if g == nil || w <= 0 || h <= 0 || x < 0 || x+w > 24 {
				t.Errorf("%s: panel %q: gridPos %v outside the 24-column grid", d.File, title, g)
			}
			if p["type"] != "row" {
				if targets, _ := p["targets"].([]any); len(targets) == 0 {
					t.Errorf("%s: panel %q has no queries", d.File, title)
				}
			}
		}
	}
}

// panels returns every panel, including those nested in collapsed rows.
func panels(raw map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(list []any)
	walk = func(list []any) {
		for _, p := range list {
			if m, ok := p.(map[string]any); ok {
				out = append(out, m)
				if nested, ok := m["panels"].([]any); ok {
					walk(nested)
				}
			}
		}
	}
	list, _ := raw["panels"].([]any)
	walk(list)
	return out
}

// TestDatasourceIsTheVariable: the dashboards declare a Prometheus data
// source variable named datasource, and every datasource reference
// anywhere (panels, targets, template variables, annotations) is that
// variable: no data source UID of one Grafana is hard-coded.
func TestDatasourceIsTheVariable(t *testing.T) {
	for _, d := range loadDashboards(t) {
		var dsVar *variable
		for i, v := range d.Templating.List {
			if v.Name == "datasource" {
				dsVar = &d.Templating.List[i]
			}
		}
		if dsVar == nil || dsVar.Type != "datasource" || string(dsVar.Query) != `"prometheus"` {
			t.Errorf("%s: want a template variable datasource of type datasource with query prometheus, got %+v", d.File, dsVar)
		}
		if _, ok := d.Raw["__inputs"]; ok {
			t.Errorf("%s: __inputs (\"export for sharing externally\") hard-codes an import-time data source: export without it", d.File)
		}
		walkJSON(d.Raw, "", func(path string, key string, v any) {
			if key != "datasource" {
				return
			}
			switch ds := v.(type) {
			case map[string]any:
				if ds["uid"] != "${datasource}" || ds["type"] != "prometheus" {
					t.Errorf("%s: %s.datasource = %v: want {\"type\": \"prometheus\", \"uid\": \"${datasource}\"}", d.File, path, ds)
				}
			case string:
				if ds != "${datasource}" && ds != "$datasource" {
					t.Errorf("%s: %s.datasource = %q: want ${datasource}", d.File, path, ds)
				}
			case nil:
				// inherits the panel's
			default:
				t.Errorf("%s: %s.datasource = %v (%T)", d.File, path, v, v)
			}
		})
	}
}

// walkJSON calls f for every key of every object in the tree, with the
// path of the object holding it.
func walkJSON(v any, path string, f func(path, key string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f(path, k, x[k])
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkJSON(x[k], p, f)
		}
	case []any:
		for i, e := range x {
			walkJSON(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

var varRef = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))`)

// TestTemplateVariables: every dashboard has a cluster variable from
// label_values, fleet.json a namespace one too; every $variable a query
// uses is defined (or a Grafana built-in), and every defined variable is
// used.
func TestTemplateVariables(t *testing.T) {
	builtin := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true, "__range_s": true, "__interval_ms": true}
	for _, d := range loadDashboards(t) {
		defined := map[string]bool{}
		for _, v := range d.Templating.List {
			defined[v.Name] = true
			if v.Type == "query" && !strings.HasPrefix(v.Definition, "label_values(") {
				t.Errorf("%s: variable %s: want a label_values(...) query, got %q", d.File, v.Name, v.Definition)
			}
		}
		want := []string{"datasource", "cluster"}
		if d.File == "fleet.json" {
			want = append(want, "namespace")
		}
		for _, w := range want {
			if !defined[w] {
				t.Errorf("%s: template variable %s is missing", d.File, w)
			}
		}
		used := map[string]bool{"datasource": true}
		for _, q := range expressions(t, d) {
			for _, m := range varRef.FindAllStringSubmatch(q.Expr, -1) {
				name := m[1] + m[2]
				used[name] = true
				if !defined[name] && !builtin[name] {
					t.Errorf("%s: %s uses $%s, which is not defined", d.File, q.Where, name)
				}
			}
		}
		for name := range defined {
			if !used[name] {
				t.Errorf("%s: template variable %s is never used", d.File, name)
			}
		}
	}
}
