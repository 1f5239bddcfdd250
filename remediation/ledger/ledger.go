// Package ledger is the evidence ledger: one durable record per remediation
// decision (refusals and dry runs included), the alert dedup table that makes
// webhook intake idempotent, and a small key-value table for the daemon's own
// state across restarts.
//
// The same schema runs on an embedded SQLite file (the default, pure Go
// through modernc.org/sqlite) and on PostgreSQL (github.com/jackc/pgx/v5),
// for a ledger shared by a fleet of daemons. Migrations are applied at Open.
//
// A record is written before an action runs (its step in StepIntent) and
// again after it (the outcome); each write is one transaction that is
// durable when the call returns, so a daemon that is killed between the two
// finds the intent at start-up (Unfinished) and reconciles it instead of
// repeating or forgetting the action.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx"
	_ "modernc.org/sqlite"             // registers database/sql driver "sqlite"
)

// The drivers Config.Driver accepts.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Errors the ledger returns; test them with errors.Is.
var (
	// ErrNotFound: no record (or alert) has that ID (or fingerprint).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the stored revision differs from the one being
	// updated (someone else wrote first), or Create found the ID taken.
	ErrConflict = errors.New("revision conflict")
	// ErrAmbiguous: an ID prefix matches more than one record.
	ErrAmbiguous = errors.New("ambiguous ID prefix")
)

// MinPrefix is the shortest ID prefix Get accepts in place of a full ID.
const MinPrefix = 8

// sqliteBusyTimeout is how long a SQLite writer waits for another writer
// (another connection of this process, or `patrol evidence` reading from a
// second process) before it gives up with SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// Config says where the ledger lives.
type Config struct {
	// Driver is "sqlite" (the default when empty) or "postgres".
	Driver string
	// Path is the SQLite file; its directory is created when missing.
	Path string
	// DSN is the PostgreSQL connection URL
	// (postgres://user@host:5432/db?sslmode=verify-full).
	DSN string
	// Now is the clock for CreatedAt and UpdatedAt; nil means time.Now.
	Now func() time.Time
}

// Ledger is an open evidence ledger. It is safe for concurrent use.
type Ledger struct {
	db  *sql.DB
	d   dialect
	now func() time.Time
	// stop and stopped end the SQLite checkpointer (nil on PostgreSQL).
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	// wmu queues SQLite writers in Go. SQLite has one writer at a time;
	// left to its busy handler, concurrent writers poll with sleeps of up
	// to 100 ms, which is where a burst's tail latency would come from.
	wmu sync.Mutex
}

// lockWrite serialises writers on SQLite (PostgreSQL needs no help) and
// returns the unlock.
func (l *Ledger) lockWrite() func() {
	if l.d.name != DriverSQLite {
		return func() {}
	}
	l.wmu.Lock()
	return l.wmu.Unlock
}

// dialect holds the few places where SQLite and PostgreSQL differ.
type dialect struct {
	name string
	// jsonType is the column type of a record's body.
	jsonType string
	// blobType is the column type of a state value.
	blobType string
	// forUpdate locks a row read inside a write transaction (PostgreSQL);
	// SQLite needs none because a write transaction holds the database
	// write lock from BEGIN (IMMEDIATE).
	forUpdate string
	// lockMigrations serialises concurrent Opens of one PostgreSQL
	// database by several replicas.
	lockMigrations string
	// numbered placeholders ($1, $2) instead of ?.
	numbered bool
}

var (
	sqliteDialect = dialect{
		name:     DriverSQLite,
		jsonType: "TEXT",
		blobType: "BLOB",
	}
	postgresDialect = dialect{
		name:           DriverPostgres,
		jsonType:       "JSONB",
		blobType:       "BYTEA",
		forUpdate:      " FOR UPDATE",
		lockMigrations: "SELECT pg_advisory_xact_lock(7206604417321580)",
		numbered:       true,
	}
)

// rebind rewrites the ? placeholders of q for the dialect. The ledger's SQL
// never has a ? inside a literal.
func (d dialect) rebind(q string) string {
	if !d.numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Open opens (creating if needed) the ledger cfg names and applies any
// pending schema migrations in one transaction.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	switch cfg.Driver {
	case "", DriverSQLite:
		d = sqliteDialect
		db, err = openSQLite(cfg.Path)
	case DriverPostgres:
		d = postgresDialect
		db, err = openPostgres(cfg.DSN)
	default:
		return nil, fmt.Errorf("ledger: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	l := &Ledger{db: db, d: d, now: cfg.Now}
	if l.now == nil {
		l.now = time.Now
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger: connect %s: %w", d.name, err)
	}
	if err := l.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if d.name == DriverSQLite {
		l.stop, l.stopped = make(chan struct{}), make(chan struct{})
		go l.checkpointer()
	}
	return l, nil
}

// checkpointInterval is how often the SQLite checkpointer copies the WAL
// into the database file.
const checkpointInterval = time.Second

// checkpointer runs passive WAL checkpoints until Close. A passive
// checkpoint never blocks writers; it copies what no reader still needs,
// and the next writer starts the WAL over once all of it was copied.
func (l *Ledger) checkpointer() {
	defer close(l.stopped)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), sqliteBusyTimeout)
		// An error (say, the disk is full) is not lost: the WAL keeps
		// the data, and the next write reports the problem.
		_, _ = l.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		cancel()
	}
}

// openSQLite opens the file at path in WAL mode.
//
// synchronous=NORMAL in WAL mode does not fsync on every commit, only at
// checkpoints (here, once a second): a committed transaction survives a
// crash or kill of the process (the WAL is in the OS page cache), but the
// commits since the last checkpoint may be lost if the whole machine loses
// power. That is the trade the ledger makes for a write that costs a tenth
// of a millisecond instead of an fsync; where a power loss must not lose a
// decision, use PostgreSQL.
func openSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("ledger: sqlite needs a path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("ledger: sqlite path %q: must not contain ? or #", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("ledger: sqlite path %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Checkpoints run in the background (checkpointer), not inside the
	// commit that happens to cross the threshold: a checkpoint syncs the
	// database file, which would add milliseconds to that one write.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// A WAL that was copied in full is started over by the next writer;
	// this trims the file back when a burst made it large.
	q.Add("_pragma", "journal_size_limit(67108864)")
	// Every transaction takes the write lock at BEGIN, so a
	// read-then-write transaction waits on busy_timeout instead of
	// failing with SQLITE_BUSY when it upgrades.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger: open sqlite %s: %w", path, err)
	}
	// One writer at a time is SQLite's model anyway; a few connections
	// let readers run beside it under WAL.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// openPostgres opens a connection pool to dsn through pgx's database/sql
// driver.
func openPostgres(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("ledger: postgres needs a dsn")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Driver names the backend in use: "sqlite" or "postgres".
func (l *Ledger) Driver() string { return l.d.name }

// Close stops the background checkpointer (SQLite) and closes the
// ledger's connections. Every write that returned is already durable;
// Close adds nothing to that.
func (l *Ledger) Close() error {
	if l.stop != nil {
		l.stopOnce.Do(func() { close(l.stop) })
		<-l.stopped
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	return nil
}

// inTx runs fn in one transaction, committing when it returns nil.
func (l *Ledger) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer l.lockWrite()()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// timeLayout is how times are stored: UTC, fixed width, so that text order
// is time order on both backends.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// fmtTime renders t for a time column; the zero time is "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// parseTime reads a time column; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// boolInt stores a flag as 0 or 1 (an INTEGER column on both backends).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
