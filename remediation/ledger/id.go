package ledger

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// IDPrefix starts every ID the ledger assigns.
const IDPrefix = "rec-"

// idAlphabet is Crockford's base32 in lower case: no i, l, o or u, so an ID
// read aloud or copied from a terminal is not misread.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns IDPrefix and 26 characters encoding 128 bits: 48 bits of
// Unix milliseconds, then 80 random bits from crypto/rand. IDs sort by
// creation time to the millisecond, and two replicas creating records in the
// same millisecond collide with probability 2^-80.
func newID(now time.Time) (string, error) {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("ledger: new ID: %w", err)
	}
	return IDPrefix + encodeID(b), nil
}

// encodeID renders 128 bits as 26 base32 characters, most significant
// first (the top character carries the 3 high bits, so the text order is the
// numeric order).
func encodeID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
