package ledger

import (
	"strings"
	"testing"
	"time"
)

// TestEncodeID pins the encoding at its extremes and its order.
func TestEncodeID(t *testing.T) {
	var zero, ones, one [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	one[15] = 1
	for _, tc := range []struct {
		in   [16]byte
		want string
	}{
		{zero, strings.Repeat("0", 26)},
		{one, strings.Repeat("0", 25) + "1"},
		{ones, "7" + strings.Repeat("z", 25)},
	} {
		if got := encodeID(tc.in); got != tc.want {
			t.Errorf("encodeID(%x) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestNewID proves the ID format, time order across milliseconds, and
// uniqueness within one millisecond.
func TestNewID(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for range 10000 {
		id, err := newID(t0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
		if len(id) != 30 || !strings.HasPrefix(id, IDPrefix) || strings.Trim(id[4:], idAlphabet) != "" {
			t.Fatalf("malformed ID %q", id)
		}
	}
	prev := ""
	for i := range 50 {
		id, err := newID(t0.Add(time.Duration(i*i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev && i > 0 {
			t.Errorf("ID %s (+%dms) sorts before %s", id, i*i, prev)
		}
		prev = id
	}
}
