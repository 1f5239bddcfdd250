package ledger

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// tableWidth is the width WriteTable fits its rows into.
const tableWidth = 80

// shortID is the shortest ID WriteTable shows: IDPrefix and MinPrefix more
// characters, which Get accepts.
const shortID = len(IDPrefix) + MinPrefix

// WriteTable writes recs as an 80-column table for `patrol evidence list`:
// ID, AGE, STATE, PLAYBOOK, TARGET, TRIGGER, DRY-RUN. IDs are shortened, like
// git's, to the shortest prefix (at least 12 characters) that tells the
// listed records apart, and never cut further; PLAYBOOK, TARGET and TRIGGER
// are cut with … (down to 8 characters) to fit. IDs the ledger assigned are
// at most 17 characters wide here unless several share a millisecond and
// their first random characters, so rows fit 80 columns.
func WriteTable(w io.Writer, recs []*Record) error {
	return writeTable(w, recs, time.Now())
}

// writeTable is WriteTable with the clock for AGE.
func writeTable(w io.Writer, recs []*Record, now time.Time) error {
	header := []string{"ID", "AGE", "STATE", "PLAYBOOK", "TARGET", "TRIGGER", "DRY-RUN"}
	// The columns that give way when the row is too wide.
	flexible := []int{3, 4, 5}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	ids = abbreviate(ids, shortID)
	rows := [][]string{header}
	for i, r := range recs {
		dry := "no"
		if r.DryRun {
			dry = "yes"
		}
		rows = append(rows, []string{
			ids[i],
			age(now.Sub(r.CreatedAt)),
			string(r.State),
			orDash(r.Playbook),
			orDash(targetString(r)),
			orDash(triggerName(&r.Trigger)),
			dry,
		})
	}
	widths := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	fit(widths, flexible, tableWidth-2*(len(header)-1))
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, c := range row {
			if i == 4 {
				c = cutMiddle(c, widths[i]) // a target's name ends it
			} else {
				c = cut(c, widths[i])
			}
			if i == len(row)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("ledger: write table: %w", err)
		}
	}
	return nil
}

// fit narrows the flexible columns, widest first, until the widths add up
// to at most total; no flexible column goes below 8 characters.
func fit(widths, flexible []int, total int) {
	const minWidth = 8
	sum := 0
	for _, w := range widths {
		sum += w
	}
	for sum > total {
		widest := -1
		for _, i := range flexible {
			if widths[i] > minWidth && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			return
		}
		widths[widest]--
		sum--
	}
}

// cut shortens s to n characters, ending it with … when cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// cutMiddle shortens s to n characters by replacing its middle with ….
func cutMiddle(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	head := (n - 1) / 2
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// abbreviate shortens each ID to its shortest prefix of at least minLen
// characters that no other listed ID shares. In sorted order an ID shares
// its longest prefix with a neighbour, so only neighbours are compared.
func abbreviate(ids []string, minLen int) []string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	need := make(map[string]int, len(sorted))
	for i, id := range sorted {
		n := minLen
		if i > 0 {
			n = max(n, commonPrefix(id, sorted[i-1])+1)
		}
		if i+1 < len(sorted) {
			n = max(n, commonPrefix(id, sorted[i+1])+1)
		}
		need[id] = n
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		n := min(need[id], len(id))
		for n < len(id) && !utf8.RuneStart(id[n]) {
			n++ // never cut a character in two
		}
		out[i] = id[:n]
	}
	return out
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// age renders d the way kubectl does: 45s, 12m, 5h, 3d, 2y.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%dy", int(d/(365*24*time.Hour)))
}

// targetString renders the record's target, or "" when it has none.
func targetString(r *Record) string {
	if r.Target.Kind == "" && r.Target.Name == "" {
		return ""
	}
	return r.Target.String()
}

// triggerName names the rule that fired: the alert name or the check ID.
func triggerName(t *Trigger) string {
	switch {
	case t.Alertname != "":
		return t.Alertname
	case t.Check != "":
		return t.Check
	}
	return t.Source
}

// orDash renders an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
