package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/rules"
)

func TestConfigureAppliesConfig(t *testing.T) {
	st, err := LoadSettings(filepath.Join("..", "..", "..", "testdata", "config", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]checks.Meta{}
	for _, c := range st.Checks {
		ids[c.Meta().ID] = c.Meta()
	}
	if _, ok := ids["node.network_unavailable"]; ok {
		t.Error("disabled check still enabled")
	}
	if ids["node.memory_pressure"].Severity != checks.Critical {
		t.Errorf("severity override not applied: %s", ids["node.memory_pressure"].Severity)
	}
	if d := st.Params["node.not_ready"].Duration("for"); d.Minutes() != 5 {
		t.Errorf("for = %s", d)
	}
	if len(st.Suppressions) != 1 || st.Suppressions[0].Where == "" {
		t.Errorf("suppressions %+v", st.Suppressions)
	}
}

func TestConfigureRejectsUnknownChecksAndParams(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "testdata", "config")
	data, err := os.ReadFile(filepath.Join(dir, "bad-catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "bad-catalog.err"))
	cfg, err := rules.ParseConfig("bad-catalog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Configure(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	if got := err.Error() + "\n"; got != string(want) {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
}
