package prom

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// response is a decoded Prometheus HTTP API response.
type response struct {
	Status     string
	ErrorType  string
	Error      string
	Warnings   []string
	ResultType string
	// Series holds matrix and vector results (one sample per series for
	// a vector); a scalar result is one series without labels.
	Series []snapshot.Series
}

// decodeResponse parses a /api/v1/query or /api/v1/query_range body.
//
// It is a hand-written scanner for the one JSON shape the API returns,
// about five times faster than encoding/json into model.Matrix: range
// results of a few hundred thousand points are common for fleet-wide
// queries. Sample timestamps (seconds with up to millisecond decimals)
// become Unix milliseconds; values (strings such as "0.25", "NaN",
// "+Inf") become float64. Native-histogram samples are skipped. hint is
// the expected number of samples per series (0 when unknown).
func decodeResponse(body []byte, hint int) (*response, error) {
	d := &decoder{b: body, hint: hint}
	r := &response{}
	if err := d.object(func(key []byte) error {
		switch string(key) {
		case "status":
			s, err := d.str()
			r.Status = s
			return err
		case "errorType":
			s, err := d.str()
			r.ErrorType = s
			return err
		case "error":
			s, err := d.str()
			r.Error = s
			return err
		case "warnings":
			return d.array(func() error {
				s, err := d.str()
				r.Warnings = append(r.Warnings, s)
				return err
			})
		case "data":
			if d.peek() == 'n' {
				return d.skip()
			}
			return d.object(func(key []byte) error {
				switch string(key) {
				case "resultType":
					s, err := d.str()
					r.ResultType = s
					return err
				case "result":
					return d.result(r)
				}
				return d.skip()
			})
		}
		return d.skip()
	}); err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, d.errorf("trailing data")
	}
	return r, nil
}

type decoder struct {
	b    []byte
	i    int
	hint int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("prometheus response: offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != c {
		if d.i >= len(d.b) {
			return d.errorf("unexpected end, want %q", c)
		}
		return d.errorf("want %q, got %q", c, d.b[d.i])
	}
	d.i++
	return nil
}

// object calls field for each key, positioned at the value.
func (d *decoder) object(field func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.rawStr()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or '}' in object")
		}
	}
}

// array calls elem for each element, positioned at it.
func (d *decoder) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or ']' in array")
		}
	}
}

// rawStr returns the bytes of a string without escapes, aliasing the
// input; a string with escapes is unescaped into a new slice.
func (d *decoder) rawStr() ([]byte, error) {
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			return d.escaped(start - 1)
		case c < 0x20:
			return nil, d.errorf("control character in string")
		}
		d.i++
	}
	return nil, d.errorf("unterminated string")
}

// escaped finishes a string that starts at the quote at q and contains
// escapes, with encoding/json.
func (d *decoder) escaped(q int) ([]byte, error) {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '\\':
			d.i += 2
			continue
		case '"':
			d.i++
			var s string
			if err := json.Unmarshal(d.b[q:d.i], &s); err != nil {
				return nil, d.errorf("bad string: %v", err)
			}
			return []byte(s), nil
		}
		d.i++
	}
	return nil, d.errorf("unterminated string")
}

func (d *decoder) str() (string, error) {
	b, err := d.rawStr()
	return string(b), err
}

// skip skips any JSON value.
func (d *decoder) skip() error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.rawStr()
		return err
	case c == '{':
		return d.object(func([]byte) error { return d.skip() })
	case c == '[':
		return d.array(d.skip)
	case c == 't' || c == 'f' || c == 'n' || c == '-' || (c >= '0' && c <= '9'):
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			d.i++
		}
		return nil
	}
	return d.errorf("unexpected value")
}

func (d *decoder) result(r *response) error {
	switch d.peek() {
	case 'n':
		return d.skip()
	case '[':
	default:
		return d.errorf("result is not an array")
	}
	// A scalar or string result is a bare [t, "v"] pair.
	save := d.i
	d.i++
	if c := d.peek(); c != '{' && c != ']' {
		d.i = save
		s, ok, err := d.sample()
		if err != nil {
			return err
		}
		if ok {
			r.Series = append(r.Series, snapshot.Series{Samples: snapshot.Samples{s}})
		}
		return nil
	}
	d.i = save
	return d.array(func() error {
		var s snapshot.Series
		if err := d.object(func(key []byte) error {
			switch string(key) {
			case "metric":
				return d.labels(&s)
			case "values":
				n := d.hint
				if n <= 0 && len(r.Series) > 0 {
					n = cap(r.Series[len(r.Series)-1].Samples)
				}
				if n > 0 {
					s.Samples = make(snapshot.Samples, 0, n)
				}
				return d.values(&s)
			case "value":
				x, ok, err := d.sample()
				if ok {
					s.Samples = snapshot.Samples{x}
				}
				return err
			}
			return d.skip() // histogram(s): native histograms are not used
		}); err != nil {
			return err
		}
		if len(s.Samples) > 0 {
			r.Series = append(r.Series, s)
		}
		return nil
	})
}

// values parses a "values" array: the hot loop, written for the compact
// form Prometheus writes ([[t,"v"],[t,"v"]]) and falling back to the
// general sample parser on whitespace or anything unusual.
func (d *decoder) values(s *snapshot.Series) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	b := d.b
	for {
		// fast path: [digits(.digits)?,"value"]
		i := d.i
		if i < len(b) && b[i] == '[' {
			j := i + 1
			var sec int64
			k := j
			for k < len(b) && b[k] >= '0' && b[k] <= '9' {
				sec = sec*10 + int64(b[k]-'0')
				k++
			}
			ms := sec * 1000
			ok := k > j && k-j <= 15
			if ok && k < len(b) && b[k] == '.' {
				k++
				f := k
				mult := int64(100)
				for k < len(b) && b[k] >= '0' && b[k] <= '9' {
					if k-f < 3 {
						ms += int64(b[k]-'0') * mult
						mult /= 10
					}
					k++
				}
				ok = k > f
			}
			if ok && k+1 < len(b) && b[k] == ',' && b[k+1] == '"' {
				k += 2
				vs := k
				for k < len(b) && b[k] != '"' {
					k++
				}
				if k+1 < len(b) && b[k+1] == ']' {
					v, err := parseFloat(b[vs:k])
					if err != nil {
						d.i = vs
						return d.errorf("bad sample value %q", b[vs:k])
					}
					s.Samples = append(s.Samples, snapshot.Sample{T: ms, V: v})
					d.i = k + 2
					goto next
				}
			}
		}
		{
			x, ok, err := d.sample()
			if err != nil {
				return err
			}
			if ok {
				s.Samples = append(s.Samples, x)
			}
		}
	next:
		if d.i < len(b) && b[d.i] == ',' {
			d.i++
			continue
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or ']' in values")
		}
	}
}

func (d *decoder) labels(s *snapshot.Series) error {
	return d.object(func(key []byte) error {
		v, err := d.rawStr()
		if err != nil {
			return err
		}
		if string(key) == "__name__" {
			s.Name = string(v)
			return nil
		}
		if s.Labels == nil {
			s.Labels = make(map[string]string, 8)
		}
		s.Labels[string(key)] = string(v)
		return nil
	})
}

// sample parses [1700000000.123,"0.25"]. ok is false for a value that is
// not a string (never sent by Prometheus).
func (d *decoder) sample() (snapshot.Sample, bool, error) {
	var s snapshot.Sample
	if err := d.expect('['); err != nil {
		return s, false, err
	}
	d.ws()
	t, err := d.timestamp()
	if err != nil {
		return s, false, err
	}
	s.T = t
	if err := d.expect(','); err != nil {
		return s, false, err
	}
	if d.peek() != '"' {
		if err := d.skip(); err != nil {
			return s, false, err
		}
		return s, false, d.expect(']')
	}
	d.i++
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != '"' {
		d.i++
	}
	if d.i >= len(d.b) {
		return s, false, d.errorf("unterminated value")
	}
	v, err := parseFloat(d.b[start:d.i])
	if err != nil {
		return s, false, d.errorf("bad sample value %q", d.b[start:d.i])
	}
	d.i++
	s.V = v
	// the closing bracket, fast path first
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return s, true, nil
	}
	return s, true, d.expect(']')
}

// timestamp parses seconds with up to three decimals into milliseconds.
func (d *decoder) timestamp() (int64, error) {
	start := d.i
	var sec int64
	n := 0
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c < '0' || c > '9' {
			break
		}
		sec = sec*10 + int64(c-'0')
		d.i++
		n++
	}
	if n == 0 || n > 15 {
		return d.slowTimestamp(start)
	}
	ms := sec * 1000
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		mult := int64(100)
		k := 0
		for d.i < len(d.b) {
			c := d.b[d.i]
			if c < '0' || c > '9' {
				break
			}
			if k < 3 {
				ms += int64(c-'0') * mult
				mult /= 10
			}
			k++
			d.i++
		}
		if k == 0 {
			return d.slowTimestamp(start)
		}
	}
	if d.i < len(d.b) {
		if c := d.b[d.i]; c == 'e' || c == 'E' {
			return d.slowTimestamp(start)
		}
	}
	return ms, nil
}

func (d *decoder) slowTimestamp(start int) (int64, error) {
	d.i = start
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == ',' || c == ']' || c == ' ' {
			break
		}
		d.i++
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(d.b[start:d.i]), d.i-start), 64)
	if err != nil {
		return 0, d.errorf("bad timestamp %q", d.b[start:d.i])
	}
	return int64(math.Round(f * 1000)), nil
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

var errSyntax = errors.New("invalid number")

// parseFloat parses a Prometheus sample value. Plain decimals with at most
// 15 significant digits take Clinger's fast path (exact: one correctly
// rounded division of two exactly representable numbers); everything else
// (exponents, long mantissas, NaN, ±Inf) goes to strconv.ParseFloat.
func parseFloat(b []byte) (float64, error) {
	i := 0
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	seenDot := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 0 && c == '0' && !seenDot {
				continue // leading zero
			}
			mant = mant*10 + uint64(c-'0')
			digits++
			if seenDot {
				frac++
			}
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return slowFloat(b)
		}
	}
	if digits > 15 || (i == 0) || (neg && len(b) == 1) || (seenDot && len(b) == 1) {
		return slowFloat(b)
	}
	f := float64(mant)
	if frac > 0 {
		if frac > 22 {
			return slowFloat(b)
		}
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, nil
}

func slowFloat(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	switch string(b) {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
}
