package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MatchType is a label matcher's operator.
type MatchType int

// The four operators of Alertmanager's matcher syntax.
const (
	MatchEqual     MatchType = iota // name="value"
	MatchNotEqual                   // name!="value"
	MatchRegexp                     // name=~"regex"
	MatchNotRegexp                  // name!~"regex"
)

// String is the operator as written.
func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return fmt.Sprintf("MatchType(%d)", int(t))
}

// Matcher is one Alertmanager-style label matcher. Regular expressions
// are fully anchored, as in Alertmanager: `pod=~"web-.*"` matches
// "web-0" but not "api-web-0".
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseMatcher parses `name="value"`, `name!="value"`, `name=~"regex"` or
// `name!~"regex"`. Spaces around the name, the operator and the value are
// allowed. A value may be unquoted (`severity=critical`); a quoted value
// takes Go string escapes (`\"`, `\\`, `\n`).
func ParseMatcher(s string) (*Matcher, error) {
	in := strings.TrimSpace(s)
	i := strings.IndexAny(in, "=!")
	if i < 0 {
		return nil, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"", s)
	}
	m := &Matcher{Name: strings.TrimSpace(in[:i])}
	if m.Name == "" {
		return nil, fmt.Errorf("matcher %q: no label name before the operator", s)
	}
	if !labelName.MatchString(m.Name) {
		return nil, fmt.Errorf("matcher %q: invalid label name %q (want [a-zA-Z_][a-zA-Z0-9_]*)", s, m.Name)
	}
	rest := in[i:]
	switch {
	case strings.HasPrefix(rest, "=~"):
		m.Type, rest = MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		m.Type, rest = MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		m.Type, rest = MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		m.Type, rest = MatchEqual, rest[1:]
	default:
		return nil, fmt.Errorf("matcher %q: unknown operator after %q (want =, !=, =~ or !~)", s, m.Name)
	}
	v, err := matcherValue(strings.TrimSpace(rest))
	if err != nil {
		return nil, fmt.Errorf("matcher %q: %w", s, err)
	}
	m.Value = v
	if m.Type == MatchRegexp || m.Type == MatchNotRegexp {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return nil, fmt.Errorf("matcher %q: invalid regular expression %q: %w", s, v, err)
		}
		m.re = re
	}
	return m, nil
}

// matcherValue unquotes a quoted value or checks an unquoted one.
func matcherValue(v string) (string, error) {
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", fmt.Errorf("unterminated quoted value %s", v)
		}
		u, err := strconv.Unquote(v)
		if err != nil {
			return "", fmt.Errorf("invalid quoted value %s (quotes inside must be escaped as \\\")", v)
		}
		return u, nil
	}
	if strings.IndexAny(v, "=!~") == 0 {
		return "", fmt.Errorf("unquoted value %q starts with %q: a mistyped operator? (want =, !=, =~ or !~; quote the value if it is meant)", v, v[:1])
	}
	if strings.ContainsAny(v, "\"'`") {
		return "", fmt.Errorf("unquoted value %s contains a quote (quote the whole value)", v)
	}
	return v, nil
}

// Matches reports whether labels satisfy the matcher; a missing label
// has the value "" (so `team=""` matches alerts without a team label).
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	re := m.re
	if re == nil && (m.Type == MatchRegexp || m.Type == MatchNotRegexp) {
		// A Matcher built as a literal rather than by ParseMatcher.
		var err error
		if re, err = regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
			return false
		}
	}
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return re.MatchString(v)
	case MatchNotRegexp:
		return !re.MatchString(v)
	}
	return false
}

// String writes the matcher back in its canonical, quoted form.
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}
