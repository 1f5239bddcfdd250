package rules

import (
	"strings"
	"testing"
)

func TestParseMatcher(t *testing.T) {
	labels := map[string]string{"alertname": "KubePodCrashLooping", "namespace": "web", "pod": "web-0", "empty": ""}
	for _, tc := range []struct {
		in    string
		name  string
		typ   MatchType
		value string
		str   string
		match bool
	}{
		{`namespace="web"`, "namespace", MatchEqual, "web", `namespace="web"`, true},
		{`namespace="api"`, "namespace", MatchEqual, "api", `namespace="api"`, false},
		{`namespace!="api"`, "namespace", MatchNotEqual, "api", `namespace!="api"`, true},
		{`namespace!="web"`, "namespace", MatchNotEqual, "web", `namespace!="web"`, false},
		{`pod=~"web-.*"`, "pod", MatchRegexp, "web-.*", `pod=~"web-.*"`, true},
		// Anchored: a regex matches the whole value, not a substring.
		{`pod=~"eb-0"`, "pod", MatchRegexp, "eb-0", `pod=~"eb-0"`, false},
		{`pod=~"web"`, "pod", MatchRegexp, "web", `pod=~"web"`, false},
		{`pod=~"web-0|api-0"`, "pod", MatchRegexp, "web-0|api-0", `pod=~"web-0|api-0"`, true},
		{`pod!~"web-.*"`, "pod", MatchNotRegexp, "web-.*", `pod!~"web-.*"`, false},
		{`pod!~"api-.*"`, "pod", MatchNotRegexp, "api-.*", `pod!~"api-.*"`, true},
		// A missing label is "".
		{`team=""`, "team", MatchEqual, "", `team=""`, true},
		{`team!=""`, "team", MatchNotEqual, "", `team!=""`, false},
		{`team=~".*"`, "team", MatchRegexp, ".*", `team=~".*"`, true},
		{`team=~".+"`, "team", MatchRegexp, ".+", `team=~".+"`, false},
		{`empty=""`, "empty", MatchEqual, "", `empty=""`, true},
		// Unquoted values and spaces.
		{`namespace=web`, "namespace", MatchEqual, "web", `namespace="web"`, true},
		{`  namespace  =  web  `, "namespace", MatchEqual, "web", `namespace="web"`, true},
		{`pod =~ web-\d+`, "pod", MatchRegexp, `web-\d+`, `pod=~"web-\\d+"`, true},
		{`namespace=`, "namespace", MatchEqual, "", `namespace=""`, false},
		// Escapes in quoted values.
		{`msg="say \"hi\""`, "msg", MatchEqual, `say "hi"`, `msg="say \"hi\""`, false},
		{`alertname=~"Kube(Pod|Node).*"`, "alertname", MatchRegexp, "Kube(Pod|Node).*", `alertname=~"Kube(Pod|Node).*"`, true},
		{`_x="1"`, "_x", MatchEqual, "1", `_x="1"`, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseMatcher(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != tc.name || m.Type != tc.typ || m.Value != tc.value {
				t.Errorf("parsed %q %s %q, want %q %s %q", m.Name, m.Type, m.Value, tc.name, tc.typ, tc.value)
			}
			if got := m.String(); got != tc.str {
				t.Errorf("String() = %s, want %s", got, tc.str)
			}
			if got := m.Matches(labels); got != tc.match {
				t.Errorf("Matches = %v, want %v", got, tc.match)
			}
			// The canonical form parses back to the same matcher.
			again, err := ParseMatcher(m.String())
			if err != nil || again.Name != m.Name || again.Type != m.Type || again.Value != m.Value {
				t.Errorf("round trip of %s: %+v, %v", m, again, err)
			}
		})
	}
}

func TestParseMatcherErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `matcher "": want name="value", name!="value", name=~"regex" or name!~"regex"`},
		{`namespace`, `matcher "namespace": want name="value"`},
		{`="web"`, `matcher "=\"web\"": no label name before the operator`},
		{`1abc="x"`, `matcher "1abc=\"x\"": invalid label name "1abc"`},
		{`name-with-dash="x"`, `invalid label name "name-with-dash"`},
		{`a!b`, `matcher "a!b": unknown operator after "a" (want =, !=, =~ or !~)`},
		{`a~="x"`, `invalid label name "a~"`},
		{`pod=~"web-(.*"`, "matcher \"pod=~\\\"web-(.*\\\"\": invalid regular expression \"web-(.*\": error parsing regexp: missing closing ): `^(?:web-(.*)$`"},
		{`pod!~"[z-a]"`, `invalid regular expression "[z-a]"`},
		{`team="platform`, `matcher "team=\"platform": unterminated quoted value "platform`},
		{`team="`, `unterminated quoted value "`},
		{`team="a"b"`, `invalid quoted value "a"b" (quotes inside must be escaped as \")`},
		{`team=pla"tform`, `unquoted value pla"tform contains a quote (quote the whole value)`},
		{`team=="x"`, `unquoted value "=\"x\"" starts with "=": a mistyped operator?`},
		{`team=!x`, `starts with "!": a mistyped operator?`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseMatcher(tc.in)
			if err == nil {
				t.Fatalf("parsed %s, want an error", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestMatcherLiteral: a Matcher built without ParseMatcher still matches
// regexes anchored, and an invalid literal regex matches nothing.
func TestMatcherLiteral(t *testing.T) {
	l := map[string]string{"pod": "web-0"}
	if !(&Matcher{Name: "pod", Type: MatchRegexp, Value: "web-.*"}).Matches(l) {
		t.Error("literal regexp matcher does not match")
	}
	if (&Matcher{Name: "pod", Type: MatchRegexp, Value: "eb"}).Matches(l) {
		t.Error("literal regexp matcher is not anchored")
	}
	if (&Matcher{Name: "pod", Type: MatchRegexp, Value: "("}).Matches(l) {
		t.Error("invalid literal regexp matches")
	}
	if MatchType(9).String() != "MatchType(9)" || (&Matcher{Type: MatchType(9)}).Matches(l) {
		t.Error("unknown match type")
	}
}
