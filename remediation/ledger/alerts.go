package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Alert statuses as Alertmanager sends them.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// AlertObservation is the last thing seen of one alert (by fingerprint):
// what the engine needs to tell a new firing from a repeat, and a repeat
// from a resolution, across restarts and replicas.
type AlertObservation struct {
	Fingerprint string
	// Status is firing or resolved.
	Status    string
	Alertname string
	StartsAt  time.Time
	EndsAt    time.Time
	// IncidentKey and RecordID link the alert to its incident and to the
	// record of the decision it started.
	IncidentKey string
	RecordID    string
	// UpdatedAt is when the observation was stored (set by ObserveAlert
	// and SetAlertRecord from the ledger's clock).
	UpdatedAt time.Time
}

// ObserveAlert stores a as the latest observation of its fingerprint and
// returns the one stored before (nil when the fingerprint is new). An empty
// IncidentKey or RecordID keeps the stored value, so a repeat delivery does
// not unlink an alert from its record. Concurrent observations of one
// fingerprint are serialised: exactly one of them sees prev == nil.
func (l *Ledger) ObserveAlert(ctx context.Context, a AlertObservation) (*AlertObservation, error) {
	if a.Fingerprint == "" {
		return nil, fmt.Errorf("ledger: observe alert: empty fingerprint")
	}
	if a.Status != AlertFiring && a.Status != AlertResolved {
		return nil, fmt.Errorf("ledger: observe alert %s: status %q (want firing or resolved)", a.Fingerprint, a.Status)
	}
	now := fmtTime(l.now())
	var prev *AlertObservation
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		prev = nil
		res, err := tx.ExecContext(ctx, l.d.rebind(`INSERT INTO alerts
			(fingerprint, status, alertname, starts_at, ends_at, incident_key, record_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING`),
			a.Fingerprint, a.Status, a.Alertname, fmtTime(a.StartsAt), fmtTime(a.EndsAt), a.IncidentKey, a.RecordID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return nil // new fingerprint
		}
		// The row exists (and, on PostgreSQL, is now locked by this
		// transaction): read it, then overwrite it.
		p, err := l.scanAlert(tx.QueryRowContext(ctx, l.d.rebind(`SELECT fingerprint, status, alertname, starts_at, ends_at,
			incident_key, record_id, updated_at FROM alerts WHERE fingerprint = ?`+l.d.forUpdate), a.Fingerprint))
		if err != nil {
			return err
		}
		prev = p
		_, err = tx.ExecContext(ctx, l.d.rebind(`UPDATE alerts SET status = ?, alertname = ?, starts_at = ?, ends_at = ?,
			incident_key = CASE WHEN ? = '' THEN incident_key ELSE ? END,
			record_id = CASE WHEN ? = '' THEN record_id ELSE ? END,
			updated_at = ? WHERE fingerprint = ?`),
			a.Status, a.Alertname, fmtTime(a.StartsAt), fmtTime(a.EndsAt),
			a.IncidentKey, a.IncidentKey, a.RecordID, a.RecordID, now, a.Fingerprint)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: observe alert %s: %w", a.Fingerprint, err)
	}
	return prev, nil
}

// SetAlertRecord links the alert fingerprint to the record of the decision
// it started (ErrNotFound when the fingerprint was never observed).
func (l *Ledger) SetAlertRecord(ctx context.Context, fingerprint, recordID string) error {
	defer l.lockWrite()()
	res, err := l.db.ExecContext(ctx, l.d.rebind(`UPDATE alerts SET record_id = ?, updated_at = ? WHERE fingerprint = ?`),
		recordID, fmtTime(l.now()), fingerprint)
	if err != nil {
		return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, err)
	}
	if n == 0 {
		return fmt.Errorf("ledger: set alert record %s: %w", fingerprint, ErrNotFound)
	}
	return nil
}

// scanAlert reads one alerts row.
func (l *Ledger) scanAlert(row *sql.Row) (*AlertObservation, error) {
	var (
		a                           AlertObservation
		startsAt, endsAt, updatedAt string
		err                         error
	)
	if err := row.Scan(&a.Fingerprint, &a.Status, &a.Alertname, &startsAt, &endsAt,
		&a.IncidentKey, &a.RecordID, &updatedAt); err != nil {
		return nil, err
	}
	if a.StartsAt, err = parseTime(startsAt); err != nil {
		return nil, err
	}
	if a.EndsAt, err = parseTime(endsAt); err != nil {
		return nil, err
	}
	if a.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	return &a, nil
}
