package ledger

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepatrol/patrol/checks"
)

// TestMigrationsIdempotent proves that opening a ledger again applies
// nothing twice and keeps the data, and that a schema newer than this
// build is refused.
func TestMigrationsIdempotent(t *testing.T) {
	forEachConfig(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		l, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := mustCreate(t, l, &Record{State: Planned})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			l, err = Open(ctx, cfg)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			var n, max int
			if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
				t.Fatal(err)
			}
			if n != len(migrations) || max != SchemaVersion() {
				t.Errorf("schema_migrations: %d rows, max %d; want %d, %d", n, max, len(migrations), SchemaVersion())
			}
			if _, err := l.Get(ctx, r.ID); err != nil {
				t.Errorf("record lost on reopen: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}

		l, err = Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.db.ExecContext(ctx, l.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			SchemaVersion()+1, "from the future", "x"); err != nil {
			t.Fatal(err)
		}
		_ = l.Close()
		if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "newer than this build") {
			t.Errorf("Open of a newer schema: %v, want a refusal", err)
		}
	})
}

// TestOpenErrors proves that a bad Config is refused with a reason.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Driver: "mysql"}, `unknown driver "mysql"`},
		{Config{}, "sqlite needs a path"},
		{Config{Driver: DriverPostgres}, "postgres needs a dsn"},
		{Config{Path: filepath.Join(t.TempDir(), "a?b.db")}, "must not contain"},
		{Config{Driver: DriverPostgres, DSN: "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}, "connect postgres"},
	} {
		l, err := Open(ctx, tc.cfg)
		if err == nil {
			_ = l.Close()
			t.Errorf("Open(%+v) succeeded", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// A missing directory is created.
	p := filepath.Join(t.TempDir(), "a", "b", "ledger.db")
	l, err := Open(ctx, Config{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Driver() != DriverSQLite {
		t.Errorf("Driver() = %q", l.Driver())
	}
	var mode string
	if err := l.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
	var sync, fk, busy int
	for _, p := range []struct {
		pragma string
		dst    *int
		want   int
	}{{"synchronous", &sync, 1}, {"foreign_keys", &fk, 1}, {"busy_timeout", &busy, int(sqliteBusyTimeout.Milliseconds())}} {
		if err := l.db.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.dst); err != nil || *p.dst != p.want {
			t.Errorf("PRAGMA %s = %d (%v), want %d", p.pragma, *p.dst, err, p.want)
		}
	}
}

// TestCheckpointer proves that the background checkpointer copies the WAL
// into the database file (automatic checkpoints are off), and that Close
// stops it.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for range 50 {
		mustCreate(t, l, sampleRecord())
	}
	if after := size(); after != before {
		t.Logf("database file grew on commit (%d → %d): a checkpoint ran in a writer", before, after)
	}
	deadline := time.Now().Add(5 * checkpointInterval)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after %v: no checkpoint", size(), 5*checkpointInterval)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.stopped:
	default:
		t.Error("checkpointer still running after Close")
	}
	_ = l.Close() // a second Close neither blocks nor panics
}

// intentRecord is a record stopped mid-playbook: step 1 done, step 2's
// intent written, its outcome not.
func intentRecord() *Record {
	node := checks.ObjectRef{Kind: "Node", Name: "worker-7"}
	return &Record{
		Cluster: "prod-eu", State: Running, IncidentKey: "inc-crash", Target: node, Playbook: "node-not-ready",
		Trigger: Trigger{Source: "alertmanager", Fingerprint: "fp-crash", Alertname: "KubeNodeNotReady", Status: "firing"},
		Steps: []Step{
			{Name: "cordon", Action: "cordon", Target: node, Status: StepDone, Calls: []Call{{Verb: "patch", Resource: "nodes", Name: "worker-7", ResourceVersionBefore: "1", ResourceVersionAfter: "2", At: at(time.Second)}}},
			{Name: "drain", Action: "drain", Target: node, Status: StepPending, Params: map[string]string{"timeout": "5m"}},
		},
	}
}

// writeIntent creates the record and writes step 2's intent, as the engine
// does just before an action.
func writeIntent(ctx context.Context, l *Ledger) (*Record, error) {
	r := intentRecord()
	if err := l.Create(ctx, r); err != nil {
		return nil, err
	}
	r.Steps[1].Status = StepIntent
	r.Steps[1].StartedAt = atp(2 * time.Second)
	r.Steps[1].Attempts = 1
	return r, l.Update(ctx, r)
}

// TestCrashSafety proves that an intent written before an action survives
// the process stopping before the outcome: first by closing the ledger
// without the outcome, then by a real SIGKILL of a child process in the
// middle of its work.
func TestCrashSafety(t *testing.T) {
	forEachConfig(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		t.Run("close", func(t *testing.T) {
			l, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := writeIntent(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			_ = l.Close() // the "kill": no outcome written
			l = openT(t, cfg)
			un, err := l.Unfinished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(un) != 1 {
				t.Fatalf("Unfinished returned %d records, want 1", len(un))
			}
			if d := cmp.Diff(r, un[0]); d != "" {
				t.Errorf("reopened record differs (-written +read):\n%s", d)
			}
		})
		t.Run("sigkill", func(t *testing.T) {
			l := openT(t, cfg)
			before, err := l.Unfinished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnv+"=1", "LEDGER_DRIVER="+cfg.Driver, "LEDGER_PATH="+cfg.Path, "LEDGER_DSN="+cfg.DSN)
			out, err := cmd.Output()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("helper did not die by SIGKILL: %v, output %q", err, out)
			}
			id := strings.TrimSpace(string(out))
			after, err := l.Unfinished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got *Record
			for _, r := range after {
				if r.ID == id {
					got = r
				}
			}
			if len(after) != len(before)+1 || got == nil {
				t.Fatalf("Unfinished after the kill: %v, want %v + %s", ids(after), ids(before), id)
			}
			if got.Revision != 2 || got.Steps[0].Status != StepDone || got.Steps[1].Status != StepIntent || got.Steps[1].Attempts != 1 {
				t.Errorf("killed record: rev %d, steps %s/%s attempts %d; want rev 2, done/intent, 1",
					got.Revision, got.Steps[0].Status, got.Steps[1].Status, got.Steps[1].Attempts)
			}
		})
	})
}

// crashEnv makes the test binary act as the crash helper (see TestMain).
const crashEnv = "LEDGER_CRASH_HELPER"

// crashHelper writes an intent, prints the record ID and kills itself with
// SIGKILL: no Close, no deferred function, no WAL checkpoint.
func crashHelper() int {
	ctx := context.Background()
	l, err := Open(ctx, Config{Driver: os.Getenv("LEDGER_DRIVER"), Path: os.Getenv("LEDGER_PATH"), DSN: os.Getenv("LEDGER_DSN")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r, err := writeIntent(ctx, l)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(r.ID)
	_ = os.Stdout.Sync()
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // not reached
}
