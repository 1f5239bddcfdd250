package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds every YAML file of dirs to f's corpus.
func seedFiles(f *testing.F, dirs ...string) {
	for _, dir := range dirs {
		for _, pattern := range []string{"*.yaml", "*.yml", "*/*.yaml", "*/*.yml"} {
			files, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
}

// FuzzParsePlaybook: no input panics; every error names the file first;
// a playbook that parses validates again, and its check references carry
// positions in the file.
func FuzzParsePlaybook(f *testing.F) {
	seedFiles(f, "playbooks", playbookGood, playbookBad)
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		pbs, err := ParsePlaybooks(file, data)
		if err != nil {
			for _, e := range unjoin(err) {
				if !strings.HasPrefix(e.Error(), file+":") {
					t.Fatalf("error without the file name: %q", e)
				}
			}
			return
		}
		if len(pbs) == 0 {
			t.Fatal("no error and no playbook")
		}
		for _, p := range pbs {
			if p.File != file {
				t.Fatalf("File = %q", p.File)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("a parsed playbook fails Validate: %v", err)
			}
			for _, r := range p.CheckRefs() {
				if !strings.HasPrefix(r.Pos, file+":") {
					t.Fatalf("check reference %+v without a position", r)
				}
			}
			for _, a := range p.Trigger.Alerts {
				if _, err := a.LabelMatchers(); err != nil {
					t.Fatalf("validated matchers do not parse: %v", err)
				}
			}
		}
	})
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// FuzzParseMatcher: no input panics; errors name the matcher; a matcher
// that parses prints in a form that parses back to itself.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{
		`namespace="web"`, `pod!="x"`, `pod=~"web-.*"`, `pod!~"a|b"`, `team=platform`, `a="\"q\""`,
		`pod=~"web-(.*"`, `=x`, `a==b`, `a="b`, `1a="x"`, ` a = b `, `x=~"\\d+"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMatcher(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "matcher ") {
				t.Fatalf("error does not name the matcher: %v", err)
			}
			return
		}
		m.Matches(map[string]string{m.Name: s})
		again, err := ParseMatcher(m.String())
		if err != nil {
			t.Fatalf("%s (from %q) does not parse back: %v", m, s, err)
		}
		if again.Name != m.Name || again.Type != m.Type || again.Value != m.Value {
			t.Fatalf("%q -> %s -> %s", s, m, again)
		}
	})
}
