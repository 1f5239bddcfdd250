package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PutState stores value under key in the daemon's key-value state
// (finding lifecycle, last sweep), replacing what was there.
func (l *Ledger) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	defer l.lockWrite()()
	_, err := l.db.ExecContext(ctx, l.d.rebind(`INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		key, value, fmtTime(l.now()))
	if err != nil {
		return fmt.Errorf("ledger: put state %s: %w", key, err)
	}
	return nil
}

// GetState returns the value stored under key and whether there is one.
func (l *Ledger) GetState(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := l.db.QueryRowContext(ctx, l.d.rebind(`SELECT value FROM state WHERE key = ?`), key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("ledger: get state %s: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}
