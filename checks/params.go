package checks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/rules"
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

// ParseDuration parses a check parameter's duration: rules.ParseDuration
// (a Go duration, also with d and w units, e.g. "7d", "1w2d", "36h"), but
// a parameter may not be empty.
func ParseDuration(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return 0, fmt.Errorf("empty duration")
	}
	return rules.ParseDuration(s)
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
