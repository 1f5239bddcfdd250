package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TestStart proves the whole life cycle: a server starts, the DSN reaches
// the created database, WithSchema isolates tables, and stop takes the
// server down.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, stop, err := Start(ctx)
	if errors.Is(err, ErrNotInstalled) && !Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != Database {
		t.Errorf("current_database() = %q, want %q", name, Database)
	}

	for _, schema := range []string{"one", "two"} {
		sdsn, err := WithSchema(ctx, dsn, schema)
		if err != nil {
			t.Fatal(err)
		}
		sdb, err := sql.Open("pgx", sdsn)
		if err != nil {
			t.Fatal(err)
		}
		// The same table name in both schemas: each is empty.
		if _, err := sdb.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		if _, err := sdb.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		var n int
		if err := sdb.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d rows, want 1", schema, n)
		}
		sdb.Close()
	}
	if _, err := WithSchema(ctx, dsn, "Bad-Name"); err == nil {
		t.Error("WithSchema accepted an invalid name")
	}

	stop()
	stopped = true
	db2, err := sql.Open("pgx", dsn+"&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.PingContext(ctx); err == nil {
		t.Error("server still answers after stop")
	}
}
