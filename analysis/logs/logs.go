// Package logs summarises container logs into templates: lines that differ
// only in their variables (numbers, addresses, IDs, durations, quoted
// values) are grouped under one pattern, so a thousand-line crash loop reads
// as "37× dial tcp <*>: connect: connection refused".
//
// The miner follows Drain (He et al., "Drain: An Online Log Parsing Approach
// with Fixed Depth Tree", ICWS 2017): a line's tokens are pre-masked with
// patterns for obvious variables, then routed through a fixed-depth tree
// keyed by token count and the first tokens; in the leaf the line joins the
// most similar template above a similarity threshold (positions that differ
// become <*>) or starts a new one. It is streaming, deterministic and uses
// memory proportional to the number of templates, not of lines.
//
// Secrets are masked before anything is stored: Mask replaces values that
// look like passwords, tokens, keys and credentials in URLs, so templates
// and their examples never carry them.
package logs

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// Wildcard marks a variable position in a template.
const Wildcard = "<*>"

// Levels, most severe first.
const (
	LevelError = "error"
	LevelWarn  = "warning"
	LevelInfo  = "info"
)

func levelRank(l string) int {
	switch l {
	case LevelError:
		return 3
	case LevelWarn:
		return 2
	case LevelInfo:
		return 1
	}
	return 0
}

// Options tune the miner.
type Options struct {
	// Depth is the parse tree's depth (default 4: root, length, two
	// leading tokens).
	Depth int
	// Similarity is the fraction of equal tokens a line needs to join a
	// template (default 0.4).
	Similarity float64
	// MaxChildren bounds a tree node's children (default 100); beyond it
	// tokens route to the wildcard child.
	MaxChildren int
	// MaxTemplates bounds the templates kept (default 1000); a line that
	// would open one more joins the wildcard template of its length.
	MaxTemplates int
}

func (o Options) withDefaults() Options {
	if o.Depth < 3 {
		o.Depth = 4
	}
	if o.Similarity <= 0 {
		o.Similarity = 0.4
	}
	if o.MaxChildren <= 0 {
		o.MaxChildren = 100
	}
	if o.MaxTemplates <= 0 {
		o.MaxTemplates = 1000
	}
	return o
}

// Template is a group of lines that differ only in their variables.
type Template struct {
	// Pattern is the template, variables as <*>.
	Pattern string `json:"pattern"`
	Count   int    `json:"count"`
	// Level is the most severe level seen on its lines (error, warning,
	// info, or empty when none could be told).
	Level string `json:"level,omitempty"`
	// Example is one line of the group as it was logged (secrets masked).
	Example string `json:"example"`
	// First and Last are the 1-based numbers of the first and last lines
	// that matched.
	First int `json:"first"`
	Last  int `json:"last"`

	tokens []string
	id     int
}

type node struct {
	children map[string]*node
	clusters []*Template
}

// Miner groups lines into templates. The zero value is not usable; call
// NewMiner.
type Miner struct {
	opt      Options
	root     *node
	all      []*Template
	overflow map[int]*Template
	lines    int
}

// NewMiner returns an empty miner.
func NewMiner(opt Options) *Miner {
	return &Miner{opt: opt.withDefaults(), root: &node{children: map[string]*node{}}, overflow: map[int]*Template{}}
}

// Add mines one line and returns its template (nil for a blank line).
func (m *Miner) Add(line string) *Template {
	m.lines++
	msg, level := Normalize(line)
	toks := tokenize(Mask(msg))
	if len(toks) == 0 {
		return nil
	}
	masked := make([]string, len(toks))
	for i, t := range toks {
		masked[i] = maskToken(t)
	}
	leaf := m.route(masked)
	best, bestSim, bestParams := (*Template)(nil), -1.0, -1
	for _, c := range leaf.clusters {
		sim, params := similarity(c.tokens, masked)
		if sim > bestSim || sim == bestSim && params > bestParams {
			best, bestSim, bestParams = c, sim, params
		}
	}
	if best == nil && len(m.all) >= m.opt.MaxTemplates {
		// No room for another template and none in this leaf: the line
		// joins the overflow template of its length.
		best = m.overflow[len(masked)]
		if best == nil {
			best = &Template{tokens: masked, Example: Mask(strings.TrimSpace(line)), First: m.lines, id: len(m.all)}
			m.all = append(m.all, best)
			m.overflow[len(masked)] = best
		}
		bestSim = 1
	}
	if best == nil || bestSim < m.opt.Similarity {
		if len(m.all) < m.opt.MaxTemplates {
			t := &Template{tokens: masked, Example: Mask(strings.TrimSpace(line)), First: m.lines, id: len(m.all)}
			leaf.clusters = append(leaf.clusters, t)
			m.all = append(m.all, t)
			best = t
		}
		// else: no room for another template; the line joins the nearest.
	}
	if best.Count > 0 {
		for i := range best.tokens {
			if best.tokens[i] != masked[i] {
				best.tokens[i] = Wildcard
			}
		}
	}
	best.Count++
	best.Last = m.lines
	if levelRank(level) > levelRank(best.Level) {
		best.Level = level
		best.Example = Mask(strings.TrimSpace(line))
	}
	return best
}

// route walks (and grows) the tree to the leaf for a token sequence.
func (m *Miner) route(toks []string) *node {
	n := m.child(m.root, lengthKey(len(toks)))
	for d := 0; d < m.opt.Depth-2 && d < len(toks); d++ {
		key := toks[d]
		if hasDigit(key) || key == Wildcard {
			key = Wildcard
		}
		if _, ok := n.children[key]; !ok && len(n.children) >= m.opt.MaxChildren {
			key = Wildcard
		}
		n = m.child(n, key)
	}
	return n
}

func (m *Miner) child(n *node, key string) *node {
	c := n.children[key]
	if c == nil {
		c = &node{children: map[string]*node{}}
		n.children[key] = c
	}
	return c
}

func lengthKey(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return "#" + digits[n:n+1]
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return "#" + string(b)
}

// similarity is Drain's: the share of positions where the template's token
// equals the line's, not counting the template's wildcards; params counts
// them (more wildcards wins ties: the more general template).
func similarity(tmpl, toks []string) (float64, int) {
	if len(tmpl) != len(toks) {
		return 0, 0
	}
	eq, params := 0, 0
	for i := range tmpl {
		if tmpl[i] == Wildcard {
			params++
			continue
		}
		if tmpl[i] == toks[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(tmpl)), params
}

// Lines returns how many lines were added.
func (m *Miner) Lines() int { return m.lines }

// Templates returns every template, most frequent first (then by first
// appearance).
func (m *Miner) Templates() []Template {
	out := make([]Template, 0, len(m.all))
	for _, t := range m.all {
		c := *t
		c.Pattern = strings.Join(t.tokens, " ")
		c.tokens = nil
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].id < out[j].id
	})
	return out
}

// Summary is what a block of log lines says.
type Summary struct {
	Lines     int `json:"lines"`
	Templates int `json:"templates"`
	// Errors counts lines at error level, Warnings at warning level.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// Top lists the most telling templates: error templates first, then
	// warnings, then the rest, each by count.
	Top []Template `json:"top"`
	// LastError is the last error-level line (masked): for a crashed
	// container, usually why it exited.
	LastError string `json:"lastError,omitempty"`
}

// Summarize mines lines and keeps the top n templates (default 5).
func Summarize(lines []string, n int, opt Options) Summary {
	if n <= 0 {
		n = 5
	}
	m := NewMiner(opt)
	s := Summary{}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		m.Add(l)
		_, lv := Normalize(l)
		switch lv {
		case LevelError:
			s.Errors++
			s.LastError = Mask(strings.TrimSpace(l))
		case LevelWarn:
			s.Warnings++
		}
	}
	s.Lines = m.Lines()
	ts := m.Templates()
	s.Templates = len(ts)
	sort.SliceStable(ts, func(i, j int) bool { return levelRank(ts[i].Level) > levelRank(ts[j].Level) })
	if len(ts) > n {
		ts = ts[:n]
	}
	s.Top = ts
	return s
}

// ---- normalisation: strip prefixes, read the level ----

var (
	// klog: E0302 09:55:01.120481       1 proxier.go:1564] message
	reKlog = regexp.MustCompile(`^([IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+[^\]]+\]\s*`)
	// RFC 3339 / ISO timestamps, optionally bracketed, at the start.
	reTimestamp = regexp.MustCompile(`^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*`)
	// syslog-like: Mar  2 09:55:01
	reSyslogTime = regexp.MustCompile(`^[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}\s+`)
	// logfmt: level=error
	reLogfmtLevel = regexp.MustCompile(`(?i)\blevel=("?)(\w+)`)
	// A bracketed or bare level word near the start: [ERROR], ERROR:, WARN
	reLevelWord = regexp.MustCompile(`^\[?(?i:(FATAL|CRIT(?:ICAL)?|ERROR|ERR|EROR|WARN(?:ING)?|INFO|DEBUG|TRACE))\]?:?\s+`)
	reErrorHint = regexp.MustCompile(`(?i)\b(panic|fatal|exception|error|failed|failure|refused|denied|unable to|cannot|could not|timed? ?out|oomkilled|segmentation fault)\b`)
)

// Normalize strips a line's timestamp and logger prefix and returns the
// message and its level (error, warning, info or "").
func Normalize(line string) (string, string) {
	s := strings.TrimSpace(line)
	if strings.HasPrefix(s, "{") {
		if msg, lv, ok := jsonLine(s); ok {
			return msg, lv
		}
	}
	level := ""
	if m := reKlog.FindStringSubmatch(s); m != nil {
		level = map[string]string{"I": LevelInfo, "W": LevelWarn, "E": LevelError, "F": LevelError}[m[1]]
		s = s[len(m[0]):]
	}
	for i := 0; i < 2; i++ {
		if m := reTimestamp.FindString(s); m != "" {
			s = s[len(m):]
		}
		if m := reSyslogTime.FindString(s); m != "" {
			s = s[len(m):]
		}
	}
	if m := reLevelWord.FindStringSubmatch(s); m != nil {
		if level == "" {
			level = levelOf(m[1])
		}
		s = s[len(m[0]):]
	}
	if level == "" {
		if m := reLogfmtLevel.FindStringSubmatch(s); m != nil {
			level = levelOf(m[2])
		}
	}
	if level == "" && reErrorHint.MatchString(s) {
		level = LevelError
	}
	return s, level
}

func levelOf(w string) string {
	switch strings.ToUpper(w) {
	case "FATAL", "PANIC", "CRIT", "CRITICAL", "ERROR", "ERR", "EROR", "E", "F":
		return LevelError
	case "WARN", "WARNING", "W":
		return LevelWarn
	case "INFO", "DEBUG", "TRACE", "I", "D":
		return LevelInfo
	}
	return ""
}

// jsonLine reads a structured (JSON) log line: its message and level, plus
// an error field when there is one.
func jsonLine(s string) (string, string, bool) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return "", "", false
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := m[k].(string); ok && v != "" {
				return v
			}
		}
		return ""
	}
	msg := str("msg", "message", "MESSAGE", "log")
	if msg == "" {
		return "", "", false
	}
	if e := str("error", "err", "exception"); e != "" {
		msg += " error=" + e
	}
	lv := levelOf(str("level", "severity", "lvl", "levelname"))
	if lv == "" && reErrorHint.MatchString(msg) {
		lv = LevelError
	}
	return msg, lv, true
}

func tokenize(s string) []string { return strings.Fields(s) }

// ---- variable masking ----

var (
	reUUID     = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reIPv4     = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}(:\d+)?$`)
	reIPPort   = regexp.MustCompile(`^\[?[0-9a-f:]+\]?:\d+$`)
	reHex      = regexp.MustCompile(`(?i)^(0x)?[0-9a-f]{8,}$`)
	reNumber   = regexp.MustCompile(`^[-+]?\d+([.,]\d+)*(%|[a-zA-Zµ]{1,3})?$`)
	reDuration = regexp.MustCompile(`^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$`)
	reTime     = regexp.MustCompile(`^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$`)
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}([T ]\S*)?$`)
)

// maskToken replaces a token that is a variable (number, address, ID,
// duration, time) with the wildcard, keeping its key for key=value tokens
// and its surrounding punctuation.
func maskToken(t string) string {
	if k, v, ok := strings.Cut(t, "="); ok && k != "" && !strings.Contains(k, "/") {
		if mv := maskToken(v); mv != v {
			return k + "=" + mv
		}
		return t
	}
	core := strings.TrimRight(strings.TrimLeft(t, `"'([{<`), `"')]}>,;.:`)
	if core == "" {
		return t
	}
	if isVariable(core) {
		return strings.Replace(t, core, Wildcard, 1)
	}
	return t
}

func isVariable(s string) bool {
	switch {
	case reNumber.MatchString(s), reDuration.MatchString(s), reTime.MatchString(s), reDate.MatchString(s),
		reUUID.MatchString(s), reIPv4.MatchString(s), reHex.MatchString(s) && hasDigit(s):
		return true
	case reIPPort.MatchString(s) && strings.Count(s, ":") >= 1 && hasDigit(s):
		return true
	}
	// host:port and ip:port->ip:port pairs
	if strings.Contains(s, "->") {
		a, b, _ := strings.Cut(s, "->")
		return isVariable(a) && isVariable(b)
	}
	return false
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// ---- secrets ----

var secretPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Authorization headers and bearer tokens.
	{regexp.MustCompile(`(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}`), "$1 ****"},
	// JSON Web Tokens.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), "****"},
	// Credentials in URLs: scheme://user:password@host.
	{regexp.MustCompile(`(://[^/\s:@]+):[^@\s/]+@`), "$1:****@"},
	// key=value and key: value where the key names a secret.
	{regexp.MustCompile(`(?i)("?(?:[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth))"?\s*[=:]\s*"?)([^\s"',;&}]{3,})`), "$1****"},
	// Cloud and SaaS key formats.
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "****"},
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{30,}\b`), "****"},
	{regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}\b`), "****"},
	{regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}\b`), "****"},
	{regexp.MustCompile(`\bsk_(live|test)_[A-Za-z0-9]{16,}\b`), "****"},
	// PEM private keys.
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?`), "-----BEGIN PRIVATE KEY----- ****"},
}

// Mask replaces values that look like secrets with ****.
func Mask(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}
