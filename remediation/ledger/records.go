package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubepatrol/patrol/checks"
)

// Filter selects records for List. Zero fields select everything.
type Filter struct {
	// States keeps records in any of these states.
	States []State
	// Playbook keeps records of this playbook.
	Playbook string
	// Target keeps records about this object: kind, namespace and name
	// must match; the UID is ignored, so a recreated object keeps the
	// history (and cooldown) of its name.
	Target *checks.ObjectRef
	// IncidentKey keeps one incident's records.
	IncidentKey string
	// Fingerprint keeps records whose trigger has this fingerprint.
	Fingerprint string
	// Since and Until bound CreatedAt: Since <= CreatedAt < Until.
	Since, Until time.Time
	// Limit caps the number of records returned (newest kept); 0 means
	// no limit.
	Limit int
	// Acted keeps only records with a step that acted (done, intent or
	// reconciled; see Record.Acted), for rate limits and cooldowns that
	// must hold across a restart.
	Acted bool
}

// Create stores r as a new record. It assigns ID when empty and sets
// Schema, CreatedAt, UpdatedAt (both from the ledger's clock, in UTC) and
// Revision 1. When Create returns nil the record is durable. A taken ID is
// ErrConflict. On error r is left unchanged.
func (l *Ledger) Create(ctx context.Context, r *Record) error {
	defer l.lockWrite()()
	return l.create(ctx, l.db, r)
}

// CreateForAlert creates r and links the alert fingerprint (already
// observed with ObserveAlert) to it, in one transaction: a decision and
// its alert's link are durable together or not at all.
func (l *Ledger) CreateForAlert(ctx context.Context, r *Record, fingerprint string) error {
	c := *r
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		if err := l.create(ctx, tx, &c); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, l.d.rebind(`UPDATE alerts SET record_id = ?, updated_at = ? WHERE fingerprint = ?`),
			c.ID, fmtTime(l.now()), fingerprint)
		if err != nil {
			return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, err)
		} else if n == 0 {
			return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*r = c
	return nil
}

// execer is a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (l *Ledger) create(ctx context.Context, db execer, r *Record) error {
	now := l.now().UTC()
	c := *r
	if c.ID == "" {
		id, err := newID(now)
		if err != nil {
			return err
		}
		c.ID = id
	}
	c.Schema = RecordSchema
	c.CreatedAt = now
	c.UpdatedAt = now
	c.Revision = 1
	body, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("ledger: create %s: encode: %w", c.ID, err)
	}
	res, err := db.ExecContext(ctx, l.d.rebind(`INSERT INTO records (
		id, cluster, created_at, updated_at, state, incident_key, playbook,
		target_kind, target_namespace, target_name, trigger_source, trigger_fingerprint,
		dry_run, acted, trace_id, revision, body
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO NOTHING`),
		c.ID, c.Cluster, fmtTime(c.CreatedAt), fmtTime(c.UpdatedAt), string(c.State), c.IncidentKey, c.Playbook,
		c.Target.Kind, c.Target.Namespace, c.Target.Name, c.Trigger.Source, c.Trigger.Fingerprint,
		boolInt(c.DryRun), boolInt(c.Acted()), c.TraceID, c.Revision, string(body))
	if err != nil {
		return fmt.Errorf("ledger: create %s: %w", c.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("ledger: create %s: %w", c.ID, err)
	} else if n == 0 {
		return fmt.Errorf("ledger: create %s: the ID is taken: %w", c.ID, ErrConflict)
	}
	*r = c
	return nil
}

// Update replaces the stored record r.ID with r, provided the stored
// Revision still equals r.Revision (ErrConflict otherwise, ErrNotFound when
// there is no such record). It bumps Revision and sets UpdatedAt; the write
// is one transaction, durable when Update returns nil. On error r is left
// unchanged.
func (l *Ledger) Update(ctx context.Context, r *Record) error {
	if r.ID == "" {
		return fmt.Errorf("ledger: update: record has no ID: %w", ErrNotFound)
	}
	c := *r
	c.Schema = RecordSchema
	c.UpdatedAt = l.now().UTC()
	c.Revision = r.Revision + 1
	body, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("ledger: update %s: encode: %w", c.ID, err)
	}
	unlock := l.lockWrite()
	defer unlock()
	res, err := l.db.ExecContext(ctx, l.d.rebind(`UPDATE records SET
		cluster = ?, updated_at = ?, state = ?, incident_key = ?, playbook = ?,
		target_kind = ?, target_namespace = ?, target_name = ?, trigger_source = ?, trigger_fingerprint = ?,
		dry_run = ?, acted = ?, trace_id = ?, revision = ?, body = ?
	WHERE id = ? AND revision = ?`),
		c.Cluster, fmtTime(c.UpdatedAt), string(c.State), c.IncidentKey, c.Playbook,
		c.Target.Kind, c.Target.Namespace, c.Target.Name, c.Trigger.Source, c.Trigger.Fingerprint,
		boolInt(c.DryRun), boolInt(c.Acted()), c.TraceID, c.Revision, string(body),
		c.ID, r.Revision)
	if err != nil {
		return fmt.Errorf("ledger: update %s: %w", c.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("ledger: update %s: %w", c.ID, err)
	}
	if n == 0 {
		var stored int64
		err := l.db.QueryRowContext(ctx, l.d.rebind(`SELECT revision FROM records WHERE id = ?`), c.ID).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("ledger: update %s: %w", c.ID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("ledger: update %s: %w", c.ID, err)
		}
		return fmt.Errorf("ledger: update %s: revision %d, stored %d: %w", c.ID, r.Revision, stored, ErrConflict)
	}
	*r = c
	return nil
}

// Get returns the record with this ID, or the one record whose ID starts
// with id when id is at least MinPrefix characters (ErrAmbiguous when
// several do). No match is ErrNotFound.
func (l *Ledger) Get(ctx context.Context, id string) (*Record, error) {
	var body []byte
	err := l.db.QueryRowContext(ctx, l.d.rebind(`SELECT body FROM records WHERE id = ?`), id).Scan(&body)
	if err == nil {
		return decodeRecord(id, body)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ledger: get %s: %w", id, err)
	}
	n := utf8.RuneCountInString(id)
	if n < MinPrefix {
		return nil, fmt.Errorf("ledger: get %s: %w", id, ErrNotFound)
	}
	rows, err := l.db.QueryContext(ctx, l.d.rebind(`SELECT id, body FROM records WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 3`), n, id)
	if err != nil {
		return nil, fmt.Errorf("ledger: get %s: %w", id, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var mid string
		if err := rows.Scan(&mid, &body); err != nil {
			return nil, fmt.Errorf("ledger: get %s: %w", id, err)
		}
		ids = append(ids, mid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: get %s: %w", id, err)
	}
	switch len(ids) {
	case 0:
		return nil, fmt.Errorf("ledger: get %s: %w", id, ErrNotFound)
	case 1:
		return decodeRecord(ids[0], body)
	}
	more := ""
	if len(ids) > 2 {
		ids, more = ids[:2], ", …"
	}
	return nil, fmt.Errorf("ledger: get %s: matches %s%s: %w", id, strings.Join(ids, ", "), more, ErrAmbiguous)
}

// List returns the records f selects, newest first.
func (l *Ledger) List(ctx context.Context, f Filter) ([]*Record, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, s := range f.States {
			marks[i] = "?"
			args = append(args, string(s))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if f.Playbook != "" {
		where = append(where, "playbook = ?")
		args = append(args, f.Playbook)
	}
	if f.Target != nil {
		where = append(where, "target_kind = ? AND target_namespace = ? AND target_name = ?")
		args = append(args, f.Target.Kind, f.Target.Namespace, f.Target.Name)
	}
	if f.IncidentKey != "" {
		where = append(where, "incident_key = ?")
		args = append(args, f.IncidentKey)
	}
	if f.Fingerprint != "" {
		where = append(where, "trigger_fingerprint = ?")
		args = append(args, f.Fingerprint)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, fmtTime(f.Until))
	}
	if f.Acted {
		where = append(where, "acted = 1")
	}
	q := "SELECT id, body FROM records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	recs, err := l.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: list: %w", err)
	}
	return recs, nil
}

// Unfinished returns the records a start-up reconciliation must pick up
// (Running, Verifying, AwaitingApproval), oldest first.
func (l *Ledger) Unfinished(ctx context.Context) ([]*Record, error) {
	recs, err := l.query(ctx, `SELECT id, body FROM records WHERE state IN (?, ?, ?) ORDER BY created_at, id`,
		string(Running), string(Verifying), string(AwaitingApproval))
	if err != nil {
		return nil, fmt.Errorf("ledger: unfinished: %w", err)
	}
	return recs, nil
}

// query runs a SELECT id, body query and decodes the records.
func (l *Ledger) query(ctx context.Context, q string, args ...any) ([]*Record, error) {
	rows, err := l.db.QueryContext(ctx, l.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var (
			id   string
			body []byte
		)
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		r, err := decodeRecord(id, body)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// decodeRecord decodes a stored body.
func decodeRecord(id string, body []byte) (*Record, error) {
	r := new(Record)
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("ledger: record %s: decode: %w", id, err)
	}
	return r, nil
}
