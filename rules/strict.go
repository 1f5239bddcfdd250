// Package rules loads kubepatrol's declarative configuration: the
// inspection config (check thresholds, enabling, severities and
// suppressions) and, as data beside it, alerting rules, runbooks and
// playbooks. YAML is decoded strictly: an unknown field is an error, and
// every error names file:line:col.
package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Positions maps a dotted path in a decoded document (e.g.
// "checks.node.cordoned.params.for", "suppressions[2].expires") to the
// file:line:col of its value.
type Positions map[string]string

// Pos returns the position of path, or of its nearest known parent.
func (p Positions) Pos(path string) string {
	for path != "" {
		if s, ok := p[path]; ok {
			return s
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return p[""]
}

// decodeStrict decodes one YAML document into out (a pointer to a
// struct), rejecting unknown fields and mistyped scalars with file:line:col.
func decodeStrict(file string, data []byte, out any) (Positions, error) {
	var doc yaml.Node
	pos := Positions{"": file + ":1:1"}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return pos, fmt.Errorf("%s: %s", file, yamlErr(err))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return pos, nil // empty file: all defaults
	}
	root := doc.Content[0]
	var errs []error
	walk(file, root, reflect.TypeOf(out).Elem(), "", pos, &errs)
	if len(errs) > 0 {
		return pos, errors.Join(errs...)
	}
	if err := root.Decode(out); err != nil {
		return pos, fmt.Errorf("%s: %s", file, yamlErr(err))
	}
	return pos, nil
}

func yamlErr(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
}

func at(file string, n *yaml.Node) string { return fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column) }

func walk(file string, n *yaml.Node, t reflect.Type, path string, pos Positions, errs *[]error) {
	pos[path] = at(file, n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.PkgPath() == "time" {
			return
		}
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Errorf("%s: %s: want a mapping, got %s", at(file, n), name(path), kindOf(n)))
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = strings.ToLower(f.Name)
			}
			fields[tag] = f
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: unknown field %q in %s (known: %s)", at(file, k), k.Value, name(path), strings.Join(names, ", ")))
				continue
			}
			walk(file, v, f.Type, join(path, k.Value), pos, errs)
			keyPos(file, k, v, join(path, k.Value), pos)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Errorf("%s: %s: want a mapping, got %s", at(file, n), name(path), kindOf(n)))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), pos, errs)
			keyPos(file, n.Content[i], n.Content[i+1], join(path, n.Content[i].Value), pos)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, fmt.Errorf("%s: %s: want a list, got %s", at(file, n), name(path), kindOf(n)))
			return
		}
		for i, c := range n.Content {
			walk(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), pos, errs)
		}
	case reflect.Bool:
		if _, err := strconv.ParseBool(n.Value); n.Kind != yaml.ScalarNode || err != nil || n.Tag == "!!str" {
			*errs = append(*errs, fmt.Errorf("%s: %s: want true or false, got %q", at(file, n), name(path), n.Value))
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(n.Value, 0, 64); n.Kind != yaml.ScalarNode || err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %s: want an integer, got %q", at(file, n), name(path), n.Value))
		}
	case reflect.Float64:
		if _, err := strconv.ParseFloat(n.Value, 64); n.Kind != yaml.ScalarNode || err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %s: want a number, got %q", at(file, n), name(path), n.Value))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, fmt.Errorf("%s: %s: want a string, got %s", at(file, n), name(path), kindOf(n)))
		}
	}
}

// keyPos locates a mapping or list value at its key, where a reader looks
// for it; scalars keep the value's own position.
func keyPos(file string, k, v *yaml.Node, path string, pos Positions) {
	if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
		pos[path] = at(file, k)
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func name(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
