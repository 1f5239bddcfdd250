package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migration is one schema version. Statements may use {json} and {blob}
// for the dialect's column types. Shipped migrations are never edited: a
// change is a new version.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the schema history, oldest first.
var migrations = []migration{
	{
		version: 1,
		name:    "records, alerts, state",
		stmts: []string{
			`CREATE TABLE records (
				id TEXT PRIMARY KEY,
				cluster TEXT NOT NULL DEFAULT '',
				created_at TEXT NOT NULL,
				updated_at TEXT NOT NULL,
				state TEXT NOT NULL,
				incident_key TEXT NOT NULL DEFAULT '',
				playbook TEXT NOT NULL DEFAULT '',
				target_kind TEXT NOT NULL DEFAULT '',
				target_namespace TEXT NOT NULL DEFAULT '',
				target_name TEXT NOT NULL DEFAULT '',
				trigger_source TEXT NOT NULL DEFAULT '',
				trigger_fingerprint TEXT NOT NULL DEFAULT '',
				dry_run INTEGER NOT NULL DEFAULT 0,
				acted INTEGER NOT NULL DEFAULT 0,
				trace_id TEXT NOT NULL DEFAULT '',
				revision BIGINT NOT NULL,
				body {json} NOT NULL
			)`,
			`CREATE INDEX records_created ON records (created_at)`,
			`CREATE INDEX records_state ON records (state, created_at)`,
			`CREATE INDEX records_playbook ON records (playbook, created_at)`,
			`CREATE INDEX records_target ON records (target_kind, target_namespace, target_name, created_at)`,
			`CREATE INDEX records_incident ON records (incident_key, created_at)`,
			`CREATE INDEX records_fingerprint ON records (trigger_fingerprint, created_at)`,
			`CREATE INDEX records_acted ON records (acted, created_at)`,
			`CREATE TABLE alerts (
				fingerprint TEXT PRIMARY KEY,
				status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
				alertname TEXT NOT NULL DEFAULT '',
				starts_at TEXT NOT NULL DEFAULT '',
				ends_at TEXT NOT NULL DEFAULT '',
				incident_key TEXT NOT NULL DEFAULT '',
				record_id TEXT NOT NULL DEFAULT '',
				updated_at TEXT NOT NULL
			)`,
			`CREATE INDEX alerts_updated ON alerts (updated_at)`,
			`CREATE TABLE state (
				key TEXT PRIMARY KEY,
				value {blob} NOT NULL,
				updated_at TEXT NOT NULL
			)`,
		},
	},
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies the pending migrations in one transaction. A database
// whose schema is newer than this build is refused rather than written to.
func (l *Ledger) migrate(ctx context.Context) error {
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		if l.d.lockMigrations != "" {
			if _, err := tx.ExecContext(ctx, l.d.lockMigrations); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if int(current.Int64) > SchemaVersion() {
			return fmt.Errorf("schema version %d is newer than this build's %d: upgrade patrol", current.Int64, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= int(current.Int64) {
				continue
			}
			for _, s := range m.stmts {
				s = strings.NewReplacer("{json}", l.d.jsonType, "{blob}", l.d.blobType).Replace(s)
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, l.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, fmtTime(l.now())); err != nil {
				return fmt.Errorf("migration %d (%s): record: %w", m.version, m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: migrate %s: %w", l.d.name, err)
	}
	return nil
}
