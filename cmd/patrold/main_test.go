package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "daemon")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--config", filepath.Join(dir, "good.yaml"), "--config.check"}, 0, "good.yaml: ok"},
		{[]string{"--config", filepath.Join(dir, "bad-values.yaml"), "--config.check"}, 1, `bad-values.yaml:3:9: jitter: invalid duration "soon"`},
		{[]string{"--config", filepath.Join(dir, "bad-catalog.yaml"), "--config.check"}, 1, `bad-catalog.yaml:11:5: unknown check "node.levitating"`},
		{[]string{"--config", filepath.Join(dir, "missing.yaml"), "--config.check"}, 1, "no such file"},
		{[]string{"--config.check"}, 2, "--config is required"},
		{[]string{"--bogus"}, 2, "unknown flag"},
		{[]string{"--version"}, 0, "patrold "},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.out) {
			t.Errorf("patrold %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errOut.String())
		}
	}
}
