package checks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params are a check's resolved parameters: defaults from Meta.Params with
// the configured overrides applied and parsed.
type Params struct {
	values map[string]any
}

// ResolveParams parses the defaults of m and applies overrides. Unknown
// names and unparsable values are errors naming the check and parameter.
func ResolveParams(m Meta, overrides map[string]string) (Params, error) {
	p := Params{values: make(map[string]any, len(m.Params))}
	known := make(map[string]Param, len(m.Params))
	for _, d := range m.Params {
		known[d.Name] = d
		v, err := parseParam(d.Type, d.Default)
		if err != nil {
			return p, fmt.Errorf("check %s: default of %s: %w", m.ID, d.Name, err)
		}
		p.values[d.Name] = v
	}
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := known[k]
		if !ok {
			return p, fmt.Errorf("check %s has no parameter %q (has: %s)", m.ID, k, paramNames(m))
		}
		v, err := parseParam(d.Type, overrides[k])
		if err != nil {
			return p, fmt.Errorf("check %s: parameter %s: %w", m.ID, k, err)
		}
		p.values[k] = v
	}
	return p, nil
}

func paramNames(m Meta) string {
	if len(m.Params) == 0 {
		return "none"
	}
	var ns []string
	for _, p := range m.Params {
		ns = append(ns, p.Name)
	}
	return strings.Join(ns, ", ")
}

func parseParam(t ParamType, s string) (any, error) {
	switch t {
	case Duration:
		return ParseDuration(s)
	case Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %q", s)
		}
		return n, nil
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("want a number, got %q", s)
		}
		return f, nil
	case String:
		return s, nil
	}
	return nil, fmt.Errorf("unknown parameter type %q", t)
}

// ParseDuration parses a Go duration and also the d (day) and w (week)
// units, e.g. "7d", "1w2d", "36h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 36h, 7d)", s)
		}
		num, unit := rest[:i], rest[i:j]
		var mult time.Duration
		switch unit {
		case "d":
			mult = 24 * time.Hour
		case "w":
			mult = 7 * 24 * time.Hour
		default:
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 36h, 7d)", s)
			}
			total += d
			rest = rest[j:]
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += time.Duration(f * float64(mult))
		rest = rest[j:]
	}
	return total, nil
}

// Duration returns a duration parameter.
func (p Params) Duration(name string) time.Duration { return get[time.Duration](p, name) }

// Int returns an integer parameter.
func (p Params) Int(name string) int { return get[int](p, name) }

// Float returns a number parameter.
func (p Params) Float(name string) float64 { return get[float64](p, name) }

// String returns a string parameter.
func (p Params) String(name string) string { return get[string](p, name) }

func get[T any](p Params, name string) T {
	v, ok := p.values[name].(T)
	if !ok {
		// A check asked for a parameter its Meta does not declare with
		// that type: a programming error the runner recovers and reports.
		panic(fmt.Sprintf("parameter %q is not declared with this type", name))
	}
	return v
}
