package actions

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// boolParam reads a boolean parameter ("true", "false", "1", "0", ...).
func boolParam(params map[string]string, key string, def bool) (bool, error) {
	s, ok := params[key]
	if !ok || strings.TrimSpace(s) == "" {
		return def, nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("param %s: %q is not a boolean", key, s)
	}
	return v, nil
}

// intParam reads an integer parameter; ok is false when it is absent.
func intParam(params map[string]string, key string) (v int64, ok bool, err error) {
	s, present := params[key]
	if !present || strings.TrimSpace(s) == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("param %s: %q is not an integer", key, s)
	}
	return v, true, nil
}

// durationParam reads a duration parameter: a Go duration ("90s", "5m"),
// one with d (day) and w (week) units as the playbooks allow ("7d",
// "1w2d12h"), or a whole number of seconds ("30").
func durationParam(params map[string]string, key string, def time.Duration) (time.Duration, error) {
	s, ok := params[key]
	s = strings.TrimSpace(s)
	if !ok || s == "" {
		return def, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("param %s: %q is negative", key, s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("param %s: %q is not a duration (e.g. 30s, 5m) or a number of seconds", key, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("param %s: %q is negative", key, s)
	}
	return d, nil
}

// parseDuration is time.ParseDuration plus leading w and d units.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, u.unit)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		total += time.Duration(n) * u.d
		rest = rest[i+1:]
	}
	if rest == "" {
		if total == 0 && s == "" {
			return 0, fmt.Errorf("empty duration")
		}
		return total, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return total + d, nil
}
