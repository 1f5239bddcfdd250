package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigGood(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "testdata", "config", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Checks["node.not_ready"].Params["for"]; got != "5m" {
		t.Errorf("params.for = %q", got)
	}
	if e := c.Checks["node.network_unavailable"].Enabled; e == nil || *e {
		t.Errorf("enabled = %v, want false", e)
	}
	exp, err := c.Suppressions[0].ExpiryTime()
	if err != nil || !exp.Equal(time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expiry %s %v", exp, err)
	}
	if p := c.Positions.Pos("suppressions[0].name"); !strings.HasSuffix(p, "good.yaml:14:11") {
		t.Errorf("position of suppressions[0].name = %s", p)
	}
}

// TestParseConfigBad checks each bad fixture's errors against its .err
// file: every error names file:line:col.
func TestParseConfigBad(t *testing.T) {
	for _, name := range []string{"bad-unknown-field", "bad-values", "bad-semantics", "bad-syntax"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "config")
			data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, name+".err"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseConfig(name+".yaml", data)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestEmptyConfigIsDefaults(t *testing.T) {
	c, err := ParseConfig("empty.yaml", []byte("# nothing\n"))
	if err != nil || len(c.Checks) != 0 {
		t.Fatalf("%v %v", c, err)
	}
}
