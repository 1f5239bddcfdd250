package detect

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Record is one row of a timestamp,value CSV file, with its text as read
// so that a writer can reproduce the row exactly.
type Record struct {
	Time      time.Time
	Value     float64
	TimeText  string
	ValueText string
	// Line is the row's line number in the file (1-based).
	Line int
}

// timeLayouts are the timestamp forms ReadCSV accepts: NAB's, with or
// without fractional seconds, and RFC 3339. Times without a zone are UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
}

// ParseTime parses a timestamp in one of the accepted forms (NAB's
// "2006-01-02 15:04:05", with optional fractional seconds, or RFC 3339).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want YYYY-MM-DD HH:MM:SS or RFC 3339", s)
}

// ReadCSV reads a "timestamp,value" CSV file (NAB's format): a header line
// (any first line whose first field is not a timestamp), then one sample
// per row, timestamps never going backwards. Extra columns are ignored.
// Every error names name:line.
func ReadCSV(r io.Reader, name string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []Record
	var prev time.Time
	for row := 0; ; row++ {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %w", name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want timestamp,value, got %d field(s)", name, line, len(fields))
		}
		t, terr := ParseTime(fields[0])
		if terr != nil {
			if row == 0 {
				continue // the header
			}
			return nil, fmt.Errorf("%s:%d: %w", name, line, terr)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(fields[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: value %q is not a number", name, line, fields[1])
		}
		if t.Before(prev) {
			return nil, fmt.Errorf("%s:%d: timestamp %s goes back in time (previous row %s)", name, line, fields[0], prev.Format(time.DateTime))
		}
		prev = t
		out = append(out, Record{Time: t, Value: v, TimeText: fields[0], ValueText: fields[1], Line: line})
	}
	return out, nil
}
