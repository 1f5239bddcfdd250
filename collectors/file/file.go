// Package file reads recorded clusters: `kubectl get ... -o json|yaml`
// output (a List of mixed kinds, Events included, or single objects), a
// folder of such files, a `kubectl cluster-info dump --output-directory`
// folder, or kubepatrol's own snapshot JSON.
//
// A recorded dump has no collection time: the snapshot's CollectedAt is the
// newest timestamp found in it, unless the caller sets Options.At.
package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kubepatrol/patrol/collectors/convert"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// Options tune Load.
type Options struct {
	// At overrides the snapshot's time ("now" for every check).
	At time.Time
	// Cluster names the cluster; default: the file or folder name.
	Cluster string
}

// Load reads path (a file or a folder) into a snapshot.
func Load(path string, opt Options) (*snapshot.Snapshot, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isData(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .json or .yaml files found", path)
		}
	} else {
		if own, err := readOwn(path); own != nil || err != nil {
			if err != nil {
				return nil, err
			}
			return finish(own, opt, true), nil
		}
		files = []string{path}
	}

	l := &loader{s: &snapshot.Snapshot{Schema: snapshot.SchemaVersion, Source: snapshot.SourceFile}, seen: map[string]bool{}}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		h.Write(data)
		own, err := l.file(f, data)
		if err != nil {
			return nil, err
		}
		if own != nil {
			if len(files) > 1 {
				return nil, fmt.Errorf("%s: a kubepatrol snapshot must be loaded on its own, not inside a folder of %d files", f, len(files))
			}
			return finish(own, opt, true), nil
		}
	}
	s := l.s
	s.ID = hex.EncodeToString(h.Sum(nil))[:16]
	if s.Cluster == "" {
		s.Cluster = strings.TrimSuffix(filepath.Base(filepath.Clean(path)), filepath.Ext(path))
	}
	for _, k := range snapshot.ObjectKinds {
		if s.Count(k) == 0 && !l.seen[string(k)] {
			s.Coverage = append(s.Coverage, snapshot.Coverage{Kind: k, Reason: snapshot.NotCollected, Message: "not in the recorded files"})
		}
	}
	return finish(s, opt, false), nil
}

// readOwn reads path with the streaming snapshot reader when it is a
// kubepatrol snapshot (plain or gzip); it returns nil, nil for any other
// file. A large snapshot is decoded without holding extra copies.
func readOwn(path string) (*snapshot.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	gz := n >= 2 && head[0] == 0x1f && head[1] == 0x8b
	if !gz && !bytes.Contains(head, []byte(`"schema":"`+snapshot.SchemaVersion+`"`)) {
		return nil, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	s, err := snapshot.Read(f)
	if err != nil {
		if msg := err.Error(); msg != "" && msg[0] >= '0' && msg[0] <= '9' {
			return nil, fmt.Errorf("%s:%w", path, err) // line:col: …
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func finish(s *snapshot.Snapshot, opt Options, own bool) *snapshot.Snapshot {
	// Metric checks are skipped, not silently passed, on recordings
	// without metrics.
	s.CompleteMetricCoverage()
	if opt.Cluster != "" {
		s.Cluster = opt.Cluster
	}
	switch {
	case !opt.At.IsZero():
		s.CollectedAt = opt.At.UTC()
	case !own || s.CollectedAt.IsZero():
		s.CollectedAt = snapshot.LatestTime(s)
	}
	return s
}

func isData(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

type loader struct {
	s    *snapshot.Snapshot
	seen map[string]bool // kinds seen, even as empty typed lists
}

type header struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Schema     string            `json:"schema"`
	Items      []json.RawMessage `json:"items"`
	// ServerVersion is set in `kubectl version -o json|yaml` output.
	ServerVersion *struct {
		GitVersion string `json:"gitVersion"`
	} `json:"serverVersion"`
}

// file loads one file; it returns a snapshot when the file is kubepatrol's
// own snapshot JSON.
func (l *loader) file(name string, data []byte) (*snapshot.Snapshot, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		return l.jsonStream(name, data)
	}
	return nil, l.yamlDocs(name, data)
}

func (l *loader) jsonStream(name string, data []byte) (*snapshot.Snapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var raw json.RawMessage
		start := dec.InputOffset()
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, posErr(name, data, err, start)
		}
		var h header
		if err := json.Unmarshal(raw, &h); err != nil {
			line, col := snapshot.LineCol(data, start)
			return nil, fmt.Errorf("%s:%d:%d: %w", name, line, col, err)
		}
		if h.Schema != "" {
			s, err := snapshot.Decode(data)
			if err != nil {
				return nil, fmt.Errorf("%s:%w", name, err)
			}
			return s, nil
		}
		line, col := snapshot.LineCol(data, start)
		if err := l.object(fmt.Sprintf("%s:%d:%d", name, line, col), nil, h, raw); err != nil {
			return nil, err
		}
	}
}

func posErr(name string, data []byte, err error, start int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte itself.
		line, col := snapshot.LineCol(data, start+se.Offset-1)
		return fmt.Errorf("%s:%d:%d: %s", name, line, col, se.Error())
	}
	line, col := snapshot.LineCol(data, start)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		line, col = snapshot.LineCol(data, int64(len(data)))
		return fmt.Errorf("%s:%d:%d: unexpected end of JSON input", name, line, col)
	}
	return fmt.Errorf("%s:%d:%d: %w", name, line, col, err)
}

func (l *loader) yamlDocs(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return fmt.Errorf("%s:%d:%d: %w", name, node.Line, node.Column, err)
		}
		if v == nil {
			continue
		}
		raw, err := json.Marshal(jsonable(v))
		if err != nil {
			return fmt.Errorf("%s:%d:%d: %w", name, node.Line, node.Column, err)
		}
		var h header
		if err := json.Unmarshal(raw, &h); err != nil {
			return fmt.Errorf("%s:%d:%d: not a Kubernetes object: %w", name, node.Line, node.Column, err)
		}
		line, col := node.Line, node.Column
		root := &node
		if len(node.Content) > 0 {
			root = node.Content[0]
			line, col = root.Line, root.Column
		}
		itemAt := func(i int) string {
			for k := 0; root.Kind == yaml.MappingNode && k+1 < len(root.Content); k += 2 {
				if root.Content[k].Value == "items" && i < len(root.Content[k+1].Content) {
					it := root.Content[k+1].Content[i]
					return fmt.Sprintf("%s:%d:%d", name, it.Line, it.Column)
				}
			}
			return fmt.Sprintf("%s:%d:%d", name, line, col)
		}
		if err := l.object(fmt.Sprintf("%s:%d:%d", name, line, col), itemAt, h, raw); err != nil {
			return err
		}
	}
}

// jsonable converts YAML's map[string]any trees (with possible
// map[any]any) into JSON-encodable values.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	}
	return v
}

// object adds one object or every item of a List; itemAt, when set, gives
// an item's position in the file.
func (l *loader) object(where string, itemAt func(int) string, h header, raw []byte) error {
	if h.Kind == "" && h.ServerVersion != nil {
		l.s.Version = h.ServerVersion.GitVersion
		return nil
	}
	if h.Kind == "" {
		return fmt.Errorf("%s: object has no kind", where)
	}
	if h.Kind == "List" || strings.HasSuffix(h.Kind, "List") {
		if k := strings.TrimSuffix(h.Kind, "List"); k != "" {
			l.seen[k] = true
		}
		for i, item := range h.Items {
			at := where
			if itemAt != nil {
				at = itemAt(i)
			}
			var ih header
			if err := json.Unmarshal(item, &ih); err != nil {
				return fmt.Errorf("%s: items[%d]: %w", where, i, err)
			}
			if ih.Kind == "" {
				// Typed lists (PodList) may omit the items' kind.
				ih.Kind = strings.TrimSuffix(h.Kind, "List")
				ih.APIVersion = h.APIVersion
			}
			if strings.HasSuffix(ih.Kind, "List") {
				// A list inside a list (kubectl get -o json of several
				// resource types with --show-kind, or hand-made dumps).
				if err := l.object(fmt.Sprintf("%s: items[%d]", at, i), nil, ih, item); err != nil {
					return err
				}
				continue
			}
			if err := l.one(fmt.Sprintf("%s: items[%d]", at, i), ih, item); err != nil {
				return err
			}
		}
		return nil
	}
	return l.one(where, h, raw)
}

func (l *loader) one(where string, h header, raw []byte) error {
	l.seen[h.Kind] = true
	if _, err := convert.AddJSON(l.s, h.APIVersion, h.Kind, raw); err != nil {
		var meta struct {
			Metadata struct{ Namespace, Name string } `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &meta)
		obj := h.Kind + " " + meta.Metadata.Name
		if meta.Metadata.Namespace != "" {
			obj = h.Kind + " " + meta.Metadata.Namespace + "/" + meta.Metadata.Name
		}
		return fmt.Errorf("%s (%s): %w", where, obj, err)
	}
	return nil
}
