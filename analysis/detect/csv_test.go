package detect

import (
	"strings"
	"testing"
	"time"
)

func TestReadCSV(t *testing.T) {
	in := "timestamp,value,label\n" +
		"2026-03-02 10:00:00,1.5,x\n" +
		"2026-03-02 10:05:00.250000,-2e3\n" +
		"2026-03-02T10:10:00Z, 7 \n" +
		"\"2026-03-02 10:15:00\",\"8\"\n" +
		"2026-03-02 10:15:00,NaN\n"
	recs, err := ReadCSV(strings.NewReader(in), "in.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		at    time.Time
		v     float64
		vtext string
		line  int
	}{
		{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), 1.5, "1.5", 2},
		{time.Date(2026, 3, 2, 10, 5, 0, 250e6, time.UTC), -2000, "-2e3", 3},
		{time.Date(2026, 3, 2, 10, 10, 0, 0, time.UTC), 7, " 7 ", 4},
		{time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC), 8, "8", 5},
	}
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	for i, w := range want {
		r := recs[i]
		if !r.Time.Equal(w.at) || r.Value != w.v || r.ValueText != w.vtext || r.Line != w.line {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
	if v := recs[4].Value; v == v {
		t.Errorf("NaN read as %v", v)
	}
	// Without a header the first row is data.
	recs, err = ReadCSV(strings.NewReader("2026-03-02 10:00:00,1\n"), "x")
	if err != nil || len(recs) != 1 {
		t.Errorf("headerless: %v %v", recs, err)
	}
}
