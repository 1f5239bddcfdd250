package logs

import (
	"fmt"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"connecting with password=hunter2 to db", "connecting with password=**** to db"},
		{`{"user":"api","password":"s3cr3t!"}`, `{"user":"api","password":"****"}`},
		{"Authorization: Bearer abcdef1234567890.xyz", "Authorization: Bearer ****"},
		{"DB_URL=postgres://app:Sup3rS3cret@db.prod:5432/app", "DB_URL=postgres://app:****@db.prod:5432/app"},
		{"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "token ****"},
		{"using key AKIAIOSFODNN7EXAMPLE for s3", "using key **** for s3"},
		{"api_key: 0123456789abcdef", "api_key: ****"},
		{"GITHUB_TOKEN ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GITHUB_TOKEN ****"},
		{"client_secret=abc&grant_type=client_credentials", "client_secret=****&grant_type=client_credentials"},
		{"listening on :8080, no secrets here", "listening on :8080, no secrets here"},
		{"dial tcp 10.0.0.5:5432: connect: connection refused", "dial tcp 10.0.0.5:5432: connect: connection refused"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"42", "<*>"},
		{"3.5s", "<*>"},
		{"1m30s", "<*>"},
		{"512Mi", "<*>"},
		{"10.0.0.5:5432:", "<*>:"},
		{"(10.244.1.7:41234->10.96.0.10:53)", "(<*>)"},
		{"id=7f3a9c2e-1b4d-4e6f-8a9b-0c1d2e3f4a5b", "id=<*>"},
		{"attempt=3", "attempt=<*>"},
		{"0xdeadbeef", "<*>"},
		{"09:55:01.120481", "<*>"},
		{"2026-03-02T09:55:01Z", "<*>"},
		{`"postgres"`, `"postgres"`},
		{"refused", "refused"},
		{"v1.32.2", "v1.32.2"},
		{"deadbeefcafe", "deadbeefcafe"}, // hex-looking word without digits stays
	} {
		if got := maskToken(tc.in); got != tc.want {
			t.Errorf("maskToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, msg, level string }{
		{"E0302 09:55:01.120481       1 proxier.go:1564] Failed to sync iptables rules", "Failed to sync iptables rules", LevelError},
		{"I0302 09:55:01.120481 1 server.go:42] Serving on :8080", "Serving on :8080", LevelInfo},
		{"2026-03-02T09:55:01.123Z ERROR db: connection lost", "db: connection lost", LevelError},
		{"[2026-03-02 09:55:01,123] WARN disk at 91%", "disk at 91%", LevelWarn},
		{`{"level":"error","ts":1709373301.1,"msg":"reconcile failed","error":"context deadline exceeded"}`, "reconcile failed error=context deadline exceeded", LevelError},
		{`{"severity":"INFO","message":"started"}`, "started", LevelInfo},
		{`time=2026-03-02T09:55:01Z level=warn msg="slow query" ms=1200`, `time=2026-03-02T09:55:01Z level=warn msg="slow query" ms=1200`, LevelWarn},
		{"panic: runtime error: invalid memory address or nil pointer dereference", "panic: runtime error: invalid memory address or nil pointer dereference", LevelError},
		{"Mar  2 09:55:01 listening", "listening", ""},
		{"GET /healthz 200 1.2ms", "GET /healthz 200 1.2ms", ""},
	} {
		msg, lv := Normalize(tc.in)
		if msg != tc.msg || lv != tc.level {
			t.Errorf("Normalize(%q) = %q, %q; want %q, %q", tc.in, msg, lv, tc.msg, tc.level)
		}
	}
}

func TestMinerGroupsVariables(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  map[string]int // pattern -> count
	}{
		{"numbers and addresses", []string{
			"dial tcp 10.0.0.5:5432: connect: connection refused",
			"dial tcp 10.0.0.6:5432: connect: connection refused",
			"dial tcp 10.0.0.7:5433: connect: connection refused",
		}, map[string]int{"dial tcp <*>: connect: connection refused": 3}},
		{"differing words become wildcards", []string{
			"session opened for alice from web",
			"session opened for bob from web",
			"session opened for carol from mobile",
		}, map[string]int{"session opened for <*> from <*>": 3}},
		{"leading words route (Drain's fixed-depth tree)", []string{
			"alice logged in",
			"bob logged in",
		}, map[string]int{"alice logged in": 1, "bob logged in": 1}},
		{"different messages stay apart", []string{
			"starting server on port 8080",
			"connection to redis lost",
			"starting server on port 9090",
		}, map[string]int{"starting server on port <*>": 2, "connection to redis lost": 1}},
		{"lengths never merge", []string{
			"cache miss",
			"cache miss for key 7",
		}, map[string]int{"cache miss": 1, "cache miss for key <*>": 1}},
		{"klog prefixes are stripped", []string{
			"E0302 09:55:01.120481 1 proxier.go:1564] Failed to execute iptables-restore: exit status 2",
			"E0302 09:55:31.220481 1 proxier.go:1564] Failed to execute iptables-restore: exit status 1",
		}, map[string]int{"Failed to execute iptables-restore: exit status <*>": 2}},
		{"secrets never reach a pattern", []string{
			"login failed for admin password=hunter2",
			"login failed for root password=letmein",
		}, map[string]int{"login failed for <*> password=****": 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMiner(Options{})
			for _, l := range tc.lines {
				m.Add(l)
			}
			got := map[string]int{}
			for _, tm := range m.Templates() {
				got[tm.Pattern] = tm.Count
				if strings.Contains(tm.Example, "hunter2") || strings.Contains(tm.Example, "letmein") {
					t.Errorf("secret in example %q", tm.Example)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("templates %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var lines []string
	for i := 0; i < 40; i++ {
		lines = append(lines, fmt.Sprintf("2026-03-02T09:%02d:00Z INFO handled request id=%d in %dms", i, 1000+i, 3+i%7))
	}
	for i := 0; i < 5; i++ {
		lines = append(lines, fmt.Sprintf("2026-03-02T09:50:%02dZ ERROR query failed: dial tcp 10.0.0.%d:5432: i/o timeout", i, 5+i))
	}
	lines = append(lines, "", "panic: runtime error: index out of range [3] with length 3")
	s := Summarize(lines, 3, Options{})
	if s.Lines != 46 || s.Errors != 6 {
		t.Errorf("lines %d errors %d, want 46 and 6", s.Lines, s.Errors)
	}
	if len(s.Top) != 3 {
		t.Fatalf("top %d, want 3", len(s.Top))
	}
	if s.Top[0].Pattern != "query failed: dial tcp <*>: i/o timeout" || s.Top[0].Count != 5 || s.Top[0].Level != LevelError {
		t.Errorf("top[0] = %+v, want the error template with 5 lines", s.Top[0])
	}
	if s.Top[2].Pattern != "handled request id=<*> in <*>" || s.Top[2].Count != 40 {
		t.Errorf("top[2] = %+v, want the info template with 40 lines", s.Top[2])
	}
	if !strings.HasPrefix(s.LastError, "panic:") {
		t.Errorf("last error %q", s.LastError)
	}
	if s.Top[0].First != 41 || s.Top[0].Last != 45 {
		t.Errorf("first/last %d/%d, want 41/45", s.Top[0].First, s.Top[0].Last)
	}
}

func TestMinerBounded(t *testing.T) {
	m := NewMiner(Options{MaxTemplates: 10})
	for i := 0; i < 1000; i++ {
		m.Add(fmt.Sprintf("word%c%c distinct message kind %c", 'a'+i%26, 'a'+(i/26)%26, 'a'+i%7))
	}
	if n := len(m.Templates()); n > 11 {
		t.Errorf("%d templates for a bound of 10 (plus one overflow template per line length)", n)
	}
	total := 0
	for _, tm := range m.Templates() {
		total += tm.Count
	}
	if total != 1000 {
		t.Errorf("templates hold %d lines, want 1000", total)
	}
}
