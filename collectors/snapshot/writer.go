package snapshot

import (
	"compress/gzip"
	"io"
)

// Writer wraps w in gzip when compress is set; Close flushes the gzip
// stream (it does not close w).
func Writer(w io.Writer, compress bool) io.WriteCloser {
	if compress {
		return gzip.NewWriter(w)
	}
	return nopCloser{w}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
