package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A snapshot of a large cluster is hundreds of megabytes of JSON (150,000
// pods are close to half a gigabyte), and reading it is most of the work of
// `patrol inspect --snapshot`. Write and Read therefore use the codec
// below: encoding/json's format and semantics, byte for byte, but driven
// by per-type plans instead of per-value reflection, with repeated strings
// and maps shared, and the large top-level arrays encoded and decoded on
// every core; Read streams a file rather than holding it whole. Whatever
// the fast path does not handle (an unusual type, a malformed document)
// goes through encoding/json itself, so errors read exactly as they always
// did, with their line and column.
//
// The tests hold the codec to encoding/json: same bytes written, same
// values and same errors read, on generated fleets, odd values, thousands
// of corrupted documents and a fuzz target (FuzzDecode).

// Write encodes s as JSON, exactly as encoding/json's Encoder would
// (same bytes, a trailing newline). On an encoding error, part of the
// output may already have been written to w.
func Write(w io.Writer, s *Snapshot) error {
	if s.Schema == "" {
		s.Schema = SchemaVersion
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := encodeSnapshot(bw, s); err != nil {
		if _, ok := err.(writeError); ok {
			return err.(writeError).err
		}
		// Let encoding/json produce the error it would have produced.
		if _, jerr := json.Marshal(s); jerr != nil {
			return fmt.Errorf("encode snapshot: %w", jerr)
		}
		return fmt.Errorf("encode snapshot: %w", err)
	}
	return bw.Flush()
}

// Read decodes a snapshot written by Write, gzip-compressed or not.
//
// A seekable input (a file) is streamed: the document is never held whole
// in memory, only a window of it and the chunks being decoded. Should the
// document turn out malformed, Read rewinds and decodes it in memory to
// report the error with its line and column, as Decode does.
func Read(r io.Reader) (*Snapshot, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			s, err := readStream(rs)
			if err != errRefused {
				return s, err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
		}
	}
	data, err := readInput(r)
	if err != nil {
		return nil, err
	}
	return Decode(data)
}

// readStream decodes r through a window; errRefused means r must be read
// again in memory.
func readStream(r io.Reader) (*Snapshot, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	if head, _ := br.Peek(2); isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var s Snapshot
	in := &input{r: src, buf: make([]byte, 0, 4*chunkBytes)}
	if err := decodeInput(in, &s); err != nil {
		return nil, err
	}
	if s.Schema != SchemaVersion {
		return nil, fmt.Errorf("not a kubepatrol snapshot (schema %q, want %q)", s.Schema, SchemaVersion)
	}
	return &s, nil
}

// readInput returns the (decompressed) bytes of r.
func readInput(r io.Reader) ([]byte, error) {
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			raw, err := readAll(f, int(st.Size()))
			if err != nil {
				return nil, err
			}
			if !isGzip(raw) {
				return raw, nil
			}
			// The gzip trailer holds the uncompressed size modulo 2^32: a
			// good hint for one exact allocation.
			hint := 0
			if len(raw) >= 18 {
				hint = int(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
			}
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("gzip: %w", err)
			}
			defer zr.Close()
			return readAll(zr, hint)
		}
	}
	hint := 0
	if l, ok := r.(interface{ Len() int }); ok { // bytes.Reader, bytes.Buffer, strings.Reader
		hint = l.Len()
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if head, _ := br.Peek(2); isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		return readAll(zr, 4*hint)
	}
	return readAll(br, hint)
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// readAll reads r to EOF into a buffer sized from hint.
func readAll(r io.Reader, hint int) ([]byte, error) {
	if hint < 0 || hint > 1<<34 {
		hint = 0
	}
	buf := make([]byte, 0, hint+512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Decode parses snapshot JSON. Errors carry the line and column.
func Decode(data []byte) (*Snapshot, error) {
	var s Snapshot
	if err := decodeSnapshot(data, &s); err != nil {
		// The fast path refused the document: let encoding/json decide,
		// and report its error (or its result, should it accept).
		s = Snapshot{}
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, PositionError(data, err)
		}
	}
	if s.Schema != SchemaVersion {
		return nil, fmt.Errorf("not a kubepatrol snapshot (schema %q, want %q)", s.Schema, SchemaVersion)
	}
	return &s, nil
}

// PositionError rewrites a JSON syntax or type error to name line:col.
func PositionError(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		return err
	}
	line, col := LineCol(data, off)
	return fmt.Errorf("%d:%d: %w", line, col, err)
}

// LineCol converts a byte offset into a 1-based line and column.
func LineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// ---------------------------------------------------------------------
// Type plans.
//
// A codec describes how one Go type maps to JSON, following encoding/json's
// rules (field names and promotion through embedded structs, omitempty and
// omitzero, map key order, string escaping). Field access goes through
// offsets, so the hot loops do not pay for reflection per value. Types the
// plans do not cover (anything with its own MarshalJSON/UnmarshalJSON or
// text marshalling other than time.Time, interfaces, floats, arrays, byte
// slices, embedded pointers, the ",string" option) are handed to
// encoding/json as they are met.

type codecOp uint8

const (
	opFallback codecOp = iota
	opString
	opBool
	opInt
	opUint
	opTime
	opPtr
	opSlice
	opMap   // string-kinded keys, any element
	opMapSS // exactly map[string]string (possibly named)
	opMapSI // exactly map[string]int64 (possibly named)
	opStruct
)

type codec struct {
	typ    reflect.Type
	op     codecOp
	size   uintptr
	elem   *codec
	fields []*codecField
	exact  map[string]*codecField
	folded map[string]*codecField
}

type codecField struct {
	name      string
	key       string // `"name":`, HTML-escaped as encoding/json writes it
	offset    uintptr
	omitEmpty bool
	omitZero  bool
	typ       reflect.Type
	c         *codec
}

var (
	codecMu        sync.Mutex
	codecs         sync.Map // reflect.Type → *codec
	timeType       = reflect.TypeFor[time.Time]()
	stringType     = reflect.TypeFor[string]()
	int64Type      = reflect.TypeFor[int64]()
	marshalerT     = reflect.TypeFor[json.Marshaler]()
	unmarshalerT   = reflect.TypeFor[json.Unmarshaler]()
	textMarshalT   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalT = reflect.TypeFor[encoding.TextUnmarshaler]()
	isZeroerT      = reflect.TypeFor[interface{ IsZero() bool }]()
)

func codecFor(t reflect.Type) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	codecMu.Lock()
	defer codecMu.Unlock()
	building := map[reflect.Type]*codec{}
	c := buildCodec(t, building)
	for t, c := range building {
		codecs.Store(t, c)
	}
	return c
}

func hasMethods(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, i := range []reflect.Type{marshalerT, unmarshalerT, textMarshalT, textUnmarshalT} {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return false
}

func buildCodec(t reflect.Type, building map[reflect.Type]*codec) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	if c, ok := building[t]; ok {
		return c
	}
	c := &codec{typ: t, size: t.Size()}
	building[t] = c
	if t == timeType {
		c.op = opTime
		return c
	}
	if t.Kind() == reflect.Pointer && t.Name() == "" {
		// A pointer's methods are its element's: the element decides.
		c.op, c.elem = opPtr, buildCodec(t.Elem(), building)
		return c
	}
	if hasMethods(t) {
		return c // opFallback
	}
	switch t.Kind() {
	case reflect.String:
		c.op = opString
	case reflect.Bool:
		c.op = opBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.op = opInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.op = opUint
	case reflect.Pointer:
		c.op, c.elem = opPtr, buildCodec(t.Elem(), building)
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 { // []byte is base64
			c.op, c.elem = opSlice, buildCodec(t.Elem(), building)
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && !hasMethods(t.Key()) {
			c.op, c.elem = opMap, buildCodec(t.Elem(), building)
			if t.Key() == stringType && t.Elem() == stringType {
				c.op = opMapSS
			} else if t.Key() == stringType && t.Elem() == int64Type {
				c.op = opMapSI
			}
		}
	case reflect.Struct:
		if fs, ok := structFields(t); ok {
			c.op = opStruct
			c.fields = fs
			c.exact = make(map[string]*codecField, len(fs))
			c.folded = make(map[string]*codecField, len(fs))
			for _, f := range fs {
				f.c = buildCodec(f.typ, building)
				c.exact[f.name] = f
				if k := string(foldName([]byte(f.name))); c.folded[k] == nil {
					c.folded[k] = f
				}
			}
		}
	}
	return c
}

type fieldInfo struct {
	name      string
	tagged    bool
	index     []int
	typ       reflect.Type
	omitEmpty bool
	omitZero  bool
	quoted    bool
}

// structFields is encoding/json's typeFields: the visible fields of t in
// encoding order, with Go's rules for embedded fields (a shallower field
// hides a deeper one, a tagged one wins a tie, an untagged tie hides both).
// ok is false when t needs what the plans do not do.
func structFields(t reflect.Type) (out []*codecField, ok bool) {
	type level struct {
		typ   reflect.Type
		index []int
	}
	var current []level
	next := []level{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []fieldInfo
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := 0; i < f.typ.NumField(); i++ {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTag(name) {
					name = ""
				}
				index := append(append([]int(nil), f.index...), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					fi := fieldInfo{name: name, tagged: name != "", index: index, typ: sf.Type,
						omitEmpty: hasOpt(opts, "omitempty"), omitZero: hasOpt(opts, "omitzero"), quoted: hasOpt(opts, "string")}
					if fi.name == "" {
						fi.name = sf.Name
					}
					fields = append(fields, fi)
					if count[f.typ] > 1 {
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, level{typ: ft, index: index})
				}
			}
		}
	}
	sort.SliceStable(fields, func(i, j int) bool {
		a, b := &fields[i], &fields[j]
		if a.name != b.name {
			return a.name < b.name
		}
		if len(a.index) != len(b.index) {
			return len(a.index) < len(b.index)
		}
		if a.tagged != b.tagged {
			return a.tagged
		}
		return lessIndex(a.index, b.index)
	})
	var kept []fieldInfo
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) != len(group[1].index) || group[0].tagged != group[1].tagged {
			kept = append(kept, group[0])
		}
		i = j
	}
	sort.Slice(kept, func(i, j int) bool { return lessIndex(kept[i].index, kept[j].index) })
	for _, fi := range kept {
		if fi.quoted {
			return nil, false
		}
		var off uintptr
		typ := t
		for k, i := range fi.index {
			if typ.Kind() != reflect.Struct {
				return nil, false // through an embedded pointer
			}
			sf := typ.Field(i)
			off += sf.Offset
			typ = sf.Type
			if k < len(fi.index)-1 && typ.Kind() == reflect.Pointer {
				return nil, false
			}
		}
		out = append(out, &codecField{name: fi.name, key: `"` + htmlEscapeName(fi.name) + `":`, offset: off,
			omitEmpty: fi.omitEmpty, omitZero: fi.omitZero, typ: fi.typ})
	}
	return out, true
}

func lessIndex(a, b []int) bool {
	for k := 0; k < len(a) && k < len(b); k++ {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return len(a) < len(b)
}

func hasOpt(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func htmlEscapeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<', '>', '&', '\u2028', '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// foldName is encoding/json's case folding of field names.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// ---------------------------------------------------------------------
// Decoding.

// errRefused means the fast decoder met something it will not decide on
// (malformed JSON, a type mismatch): Decode then lets encoding/json
// decide, so errors are exactly encoding/json's.
var errRefused = errors.New("snapshot: fast decoder refused the document")

type refusal struct{}

// decoder decodes one stretch of a document. Each goroutine has its own.
type decoder struct {
	data   []byte
	pos    int
	strs   *interner
	kvs    []kv
	mapsSS [mapCache]map[string]string
	mapsSI [mapCache]map[string]int64
}

func newDecoder(data []byte) *decoder {
	return &decoder{data: data, strs: newInterner()}
}

func (d *decoder) refuse() { panic(refusal{}) }

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte.
func (d *decoder) next() byte {
	d.ws()
	if d.pos >= len(d.data) {
		d.refuse()
	}
	return d.data[d.pos]
}

func (d *decoder) expect(b byte) {
	if d.next() != b {
		d.refuse()
	}
	d.pos++
}

func (d *decoder) literal(lit string) {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(lit)) {
		d.refuse()
	}
	d.pos += len(lit)
}

func (d *decoder) value(c *codec, p unsafe.Pointer) {
	b := d.next()
	if b == 'n' {
		switch c.op {
		case opFallback:
			d.fallback(c, p)
			return
		case opPtr, opMap, opMapSS, opMapSI:
			*(*unsafe.Pointer)(p) = nil
		case opSlice:
			*(*sliceHeader)(p) = sliceHeader{}
		}
		d.literal("null")
		return
	}
	switch c.op {
	case opString:
		if b != '"' {
			d.refuse()
		}
		*(*string)(p) = d.str()
	case opBool:
		switch b {
		case 't':
			d.literal("true")
			*(*bool)(p) = true
		case 'f':
			d.literal("false")
			*(*bool)(p) = false
		default:
			d.refuse()
		}
	case opInt:
		v := d.int()
		switch c.size {
		case 1:
			if v != int64(int8(v)) {
				d.refuse()
			}
			*(*int8)(p) = int8(v)
		case 2:
			if v != int64(int16(v)) {
				d.refuse()
			}
			*(*int16)(p) = int16(v)
		case 4:
			if v != int64(int32(v)) {
				d.refuse()
			}
			*(*int32)(p) = int32(v)
		default:
			*(*int64)(p) = v
		}
	case opUint:
		v := d.uint()
		switch c.size {
		case 1:
			if v != uint64(uint8(v)) {
				d.refuse()
			}
			*(*uint8)(p) = uint8(v)
		case 2:
			if v != uint64(uint16(v)) {
				d.refuse()
			}
			*(*uint16)(p) = uint16(v)
		case 4:
			if v != uint64(uint32(v)) {
				d.refuse()
			}
			*(*uint32)(p) = uint32(v)
		default:
			*(*uint64)(p) = v
		}
	case opTime:
		d.time((*time.Time)(p))
	case opPtr:
		pp := (*unsafe.Pointer)(p)
		if *pp == nil {
			if c.elem.op == opTime {
				*pp = unsafe.Pointer(new(time.Time))
			} else {
				*pp = reflect.New(c.elem.typ).UnsafePointer()
			}
		}
		d.value(c.elem, *pp)
	case opSlice:
		d.slice(c, p)
	case opMapSS, opMapSI, opMap:
		d.object(c, p)
	case opStruct:
		d.object(c, p)
	default:
		d.fallback(c, p)
	}
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

func (d *decoder) fallback(c *codec, p unsafe.Pointer) {
	start := d.pos
	d.skip()
	if err := json.Unmarshal(d.data[start:d.pos], reflect.NewAt(c.typ, p).Interface()); err != nil {
		d.refuse()
	}
}

// str decodes the string token at d.pos.
func (d *decoder) str() string {
	data := d.data
	for i := d.pos + 1; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			s := d.strs.get(data[d.pos+1 : i])
			d.pos = i + 1
			return s
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.strSlow()
		}
	}
	d.refuse()
	return ""
}

// strSlow decodes a string with escapes or non-ASCII bytes, as
// encoding/json does (invalid UTF-8 becomes U+FFFD).
func (d *decoder) strSlow() string {
	start := d.pos
	d.skipString()
	out, ok := unquote(d.data[start+1 : d.pos-1])
	if !ok {
		d.refuse()
	}
	return out
}

// key returns an object key's bytes: a slice of the input when it has no
// escapes.
func (d *decoder) key() []byte {
	if d.next() != '"' {
		d.refuse()
	}
	data := d.data
	for i := d.pos + 1; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			k := data[d.pos+1 : i]
			d.pos = i + 1
			return k
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return []byte(d.strSlow())
		}
	}
	d.refuse()
	return nil
}

// number validates the number token at d.pos and reports whether it is an
// integer (no fraction, no exponent).
func (d *decoder) number() (tok []byte, integer bool) {
	data, i := d.data, d.pos
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		d.refuse()
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		d.refuse()
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.refuse()
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			d.refuse()
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return data[start:i], integer
}

func (d *decoder) int() int64 {
	tok, integer := d.number()
	if !integer {
		d.refuse()
	}
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 19 {
		d.refuse()
	}
	var u uint64
	for _, c := range tok {
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			d.refuse()
		}
		return -int64(u)
	}
	if u > 1<<63-1 {
		d.refuse()
	}
	return int64(u)
}

func (d *decoder) uint() uint64 {
	tok, integer := d.number()
	if !integer || tok[0] == '-' {
		d.refuse()
	}
	v, err := strconv.ParseUint(string(tok), 10, 64)
	if err != nil {
		d.refuse()
	}
	return v
}

func (d *decoder) time(t *time.Time) {
	if d.data[d.pos] != '"' {
		d.refuse()
	}
	start := d.pos
	end := start + 1
	for end < len(d.data) && d.data[end] != '"' && d.data[end] != '\\' {
		end++
	}
	if end < len(d.data) && d.data[end] == '"' {
		if v, ok := parseUTC(d.data[start+1 : end]); ok {
			*t = v
			d.pos = end + 1
			return
		}
	}
	d.skipString()
	if err := t.UnmarshalJSON(d.data[start:d.pos]); err != nil {
		d.refuse()
	}
}

// parseUTC parses the canonical form Write produces,
// YYYY-MM-DDTHH:MM:SS[.fraction]Z, into exactly the value time.Parse
// returns; anything else goes through time.Time.UnmarshalJSON.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	if day > daysIn(month, year) {
		return time.Time{}, false
	}
	nsec := 0
	if len(b) > 20 {
		frac := b[19 : len(b)-1]
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for k := len(frac) - 1; k < 9; k++ {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// slice decodes an array into a slice of exactly its length, counted by a
// quick pass over the array first.
func (d *decoder) slice(c *codec, p unsafe.Pointer) {
	if d.data[d.pos] != '[' {
		d.refuse()
	}
	if (*sliceHeader)(p).data != nil {
		// A repeated key: encoding/json decodes into the old elements.
		d.refuse()
	}
	n := countElems(d.data, d.pos)
	if n < 0 {
		d.refuse()
	}
	d.pos++
	if n == 0 {
		if d.next() != ']' {
			d.refuse()
		}
		d.pos++
		reflect.NewAt(c.typ, p).Elem().Set(reflect.MakeSlice(c.typ, 0, 0))
		return
	}
	out := reflect.MakeSlice(c.typ, n, n).UnsafePointer()
	size := c.elem.size
	for i := 0; i < n; i++ {
		if i > 0 {
			d.expect(',')
		}
		d.value(c.elem, unsafe.Add(out, uintptr(i)*size))
	}
	d.expect(']')
	*(*sliceHeader)(p) = sliceHeader{data: out, len: n, cap: n}
}

// countElems counts the elements of the array at i ('['), or returns -1
// if it does not end in data. Like skipFast it does not validate: the
// decoder that follows does.
func countElems(data []byte, i int) int {
	depth, n, empty := 0, 0, true
	for i < len(data) {
		switch data[i] {
		case '"':
			i = skipFastString(data, i)
			if i < 0 {
				return -1
			}
			empty = false
			continue
		case '{', '[':
			if depth == 1 {
				empty = false
			}
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				if empty {
					return 0
				}
				return n + 1
			}
		case ',':
			if depth == 1 {
				n++
			}
		case ' ', '\t', '\n', '\r':
		default:
			if depth == 1 {
				empty = false
			}
		}
		i++
	}
	return -1
}

// object decodes a JSON object into a struct or a map.
func (d *decoder) object(c *codec, p unsafe.Pointer) {
	if d.data[d.pos] != '{' {
		d.refuse()
	}
	d.pos++
	var mv reflect.Value
	switch c.op {
	case opMapSS, opMapSI:
		// Entries are gathered first and the map built (or shared) at the
		// end; see finishMap.
		mark := len(d.kvs)
		defer func() { d.finishMap(c, p, mark) }()
	case opMap:
		mv = reflect.NewAt(c.typ, p).Elem()
		if mv.IsNil() {
			mv.Set(reflect.MakeMap(c.typ))
		}
	}
	if d.next() == '}' {
		d.pos++
		return
	}
	for {
		k := d.key()
		d.expect(':')
		switch c.op {
		case opStruct:
			f := c.exact[string(k)]
			if f == nil {
				f = c.folded[string(foldName(k))]
			}
			if f == nil {
				d.next()
				d.skip()
			} else {
				d.value(f.c, unsafe.Add(p, f.offset))
			}
		case opMapSS:
			var v string
			d.value(c.elem, unsafe.Pointer(&v))
			d.kvs = append(d.kvs, kv{k: d.strs.get(k), s: v})
		case opMapSI:
			var v int64
			d.value(c.elem, unsafe.Pointer(&v))
			d.kvs = append(d.kvs, kv{k: d.strs.get(k), i: v})
		default:
			ev := reflect.New(c.elem.typ)
			d.value(c.elem, ev.UnsafePointer())
			mv.SetMapIndex(reflect.ValueOf(string(k)).Convert(c.typ.Key()), ev.Elem())
		}
		b := d.next()
		d.pos++
		if b == '}' {
			return
		}
		if b != ',' {
			d.refuse()
		}
	}
}

// kv is one decoded entry of a map[string]string or map[string]int64.
type kv struct {
	k, s string
	i    int64
}

// finishMap turns the entries gathered since mark into the map at p.
//
// Label sets and resource lists repeat across objects (every pod of a
// ReplicaSet has the same labels and requests), so a decoder hands out one
// map for equal contents, remembered by a hash of the entries: this alone
// saves a third of a large snapshot's memory. The snapshot is read-only,
// as documented; a map is never shared with one that pre-existed in the
// destination (a duplicate key is merged into a fresh copy, as
// encoding/json would merge it in place).
func (d *decoder) finishMap(c *codec, p unsafe.Pointer, mark int) {
	if r := recover(); r != nil {
		d.kvs = d.kvs[:mark]
		panic(r)
	}
	kvs := d.kvs[mark:]
	defer func() { d.kvs = d.kvs[:mark] }()
	if c.op == opMapSS {
		old := *(*map[string]string)(p)
		if old == nil && shareable(kvs) {
			h := maphash.Hash{}
			h.SetSeed(d.strs.seed)
			for _, e := range kvs {
				h.WriteString(e.k)
				h.WriteByte(0)
				h.WriteString(e.s)
				h.WriteByte(0)
			}
			slot := &d.mapsSS[h.Sum64()&(mapCache-1)]
			if m := *slot; m != nil && sameSS(m, kvs) {
				*(*map[string]string)(p) = m
				return
			}
			m := make(map[string]string, len(kvs))
			for _, e := range kvs {
				m[e.k] = e.s
			}
			*slot = m
			*(*map[string]string)(p) = m
			return
		}
		m := make(map[string]string, len(old)+len(kvs))
		for k, v := range old {
			m[k] = v
		}
		for _, e := range kvs {
			m[e.k] = e.s
		}
		*(*map[string]string)(p) = m
		return
	}
	old := *(*map[string]int64)(p)
	if old == nil && shareable(kvs) {
		h := maphash.Hash{}
		h.SetSeed(d.strs.seed)
		var n [8]byte
		for _, e := range kvs {
			h.WriteString(e.k)
			h.WriteByte(0)
			binary.LittleEndian.PutUint64(n[:], uint64(e.i))
			h.Write(n[:])
		}
		slot := &d.mapsSI[h.Sum64()&(mapCache-1)]
		if m := *slot; m != nil && sameSI(m, kvs) {
			*(*map[string]int64)(p) = m
			return
		}
		m := make(map[string]int64, len(kvs))
		for _, e := range kvs {
			m[e.k] = e.i
		}
		*slot = m
		*(*map[string]int64)(p) = m
		return
	}
	m := make(map[string]int64, len(old)+len(kvs))
	for k, v := range old {
		m[k] = v
	}
	for _, e := range kvs {
		m[e.k] = e.i
	}
	*(*map[string]int64)(p) = m
}

const mapCache = 1 << 12

// shareable reports whether kvs may be matched against a cached map: small
// and without repeated keys.
func shareable(kvs []kv) bool {
	if len(kvs) > 16 {
		return false
	}
	for i := range kvs {
		for j := i + 1; j < len(kvs); j++ {
			if kvs[i].k == kvs[j].k {
				return false
			}
		}
	}
	return true
}

func sameSS(m map[string]string, kvs []kv) bool {
	if len(m) != len(kvs) {
		return false
	}
	for _, e := range kvs {
		if v, ok := m[e.k]; !ok || v != e.s {
			return false
		}
	}
	return true
}

func sameSI(m map[string]int64, kvs []kv) bool {
	if len(m) != len(kvs) {
		return false
	}
	for _, e := range kvs {
		if v, ok := m[e.k]; !ok || v != e.i {
			return false
		}
	}
	return true
}

// skip validates and passes over the value at d.pos (after whitespace).
func (d *decoder) skip() {
	switch d.next() {
	case '{':
		d.pos++
		if d.next() == '}' {
			d.pos++
			return
		}
		for {
			if d.next() != '"' {
				d.refuse()
			}
			d.skipString()
			d.expect(':')
			d.skip()
			b := d.next()
			d.pos++
			if b == '}' {
				return
			}
			if b != ',' {
				d.refuse()
			}
		}
	case '[':
		d.pos++
		if d.next() == ']' {
			d.pos++
			return
		}
		for {
			d.skip()
			b := d.next()
			d.pos++
			if b == ']' {
				return
			}
			if b != ',' {
				d.refuse()
			}
		}
	case '"':
		d.skipString()
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		d.number()
	}
}

// skipString validates the string token at d.pos and moves past it.
func (d *decoder) skipString() {
	data := d.data
	i := d.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return
		case c < 0x20:
			d.refuse()
		case c == '\\':
			i++
			if i >= len(data) {
				d.refuse()
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(data) {
					d.refuse()
				}
				for _, h := range data[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						d.refuse()
					}
				}
				i += 5
			default:
				d.refuse()
			}
		default:
			i++
		}
	}
	d.refuse()
}

// unquote is encoding/json's unquoteBytes for a validated string body.
func unquote(s []byte) (string, bool) {
	b := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			r++
			if r >= len(s) {
				return "", false
			}
			switch s[r] {
			case '"', '\\', '/', '\'':
				b = append(b, s[r])
				r++
			case 'b':
				b = append(b, '\b')
				r++
			case 'f':
				b = append(b, '\f')
				r++
			case 'n':
				b = append(b, '\n')
				r++
			case 'r':
				b = append(b, '\r')
				r++
			case 't':
				b = append(b, '\t')
				r++
			case 'u':
				rr := getu4(s[r-1:])
				if rr < 0 {
					return "", false
				}
				r += 5
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default:
				return "", false
			}
		case c == '"', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// uniqueLooking spots the strings that never repeat, UIDs and resource
// versions, so they do not evict the ones that do.
func uniqueLooking(b []byte) bool {
	if len(b) == 36 && b[8] == '-' && b[13] == '-' && b[18] == '-' && b[23] == '-' {
		return true
	}
	if len(b) >= 5 && b[0] >= '1' && b[0] <= '9' && b[len(b)-1] >= '0' && b[len(b)-1] <= '9' && b[len(b)/2] >= '0' && b[len(b)/2] <= '9' {
		return true
	}
	return false
}

// interner shares the memory of repeated short strings (namespaces, label
// keys and values, node names, images, condition types) within one
// decoder: a direct-mapped cache, so unique strings (UIDs) cost a slot
// each but never grow it.
type interner struct {
	seed maphash.Seed
	tab  [1 << 14]string
}

func newInterner() *interner { return &interner{seed: maphash.MakeSeed()} }

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 96 || uniqueLooking(b) {
		return string(b)
	}
	h := maphash.Bytes(in.seed, b) & (1<<14 - 1)
	if s := in.tab[h]; s == string(b) {
		return s
	}
	s := string(b)
	in.tab[h] = s
	return s
}

// ---------------------------------------------------------------------
// The document: the top-level object is read in order; each large array
// of objects (pods, events, ReplicaSets...) is cut into chunks of whole
// elements as it is scanned, and the chunks are decoded by one worker per
// core while the scan goes on. The input is either all in memory (Decode)
// or streamed through a window (Read of a seekable input), so that a
// large file never has to be held whole.

const chunkBytes = 1 << 20

type chunkJob struct {
	arr        *arrayResult
	i          int    // chunk number
	data       []byte // the document, or a copy of the chunk's elements
	start, end int    // byte range of whole elements, separated by commas
	n          int    // elements
	copied     bool   // data is a pooled copy, to recycle once decoded
}

// chunkBufs recycles the copies a streamed document's chunks are made in.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkBytes+chunkBytes/4); return &b }}

type arrayResult struct {
	f      *codecField
	chunks []reflect.Value
	empty  bool
}

// input is the document being decoded: buf is all of it (r == nil) or a
// window onto r.
type input struct {
	r   io.Reader
	buf []byte
	pos int
	eof bool
}

type readError struct{ err error }

// more reads into the window; false at the end of the input.
func (in *input) more() bool {
	if in.r == nil || in.eof {
		return false
	}
	if in.pos > 0 && in.pos >= len(in.buf)/2 {
		n := copy(in.buf, in.buf[in.pos:])
		in.buf, in.pos = in.buf[:n], 0
	}
	if len(in.buf) == cap(in.buf) {
		nb := make([]byte, len(in.buf), 2*cap(in.buf)+chunkBytes)
		copy(nb, in.buf)
		in.buf = nb
	}
	n, err := in.r.Read(in.buf[len(in.buf):cap(in.buf)])
	in.buf = in.buf[:len(in.buf)+n]
	if err == io.EOF {
		in.eof = true
	} else if err != nil {
		panic(readError{err})
	}
	return true
}

// peek returns the next byte that is not whitespace.
func (in *input) peek() byte {
	for {
		for in.pos < len(in.buf) {
			switch in.buf[in.pos] {
			case ' ', '\t', '\n', '\r':
				in.pos++
			default:
				return in.buf[in.pos]
			}
		}
		if !in.more() {
			panic(refusal{})
		}
	}
}

// value makes sure the whole value at in.pos (after whitespace) is in the
// window and returns its end.
func (in *input) value() int {
	for {
		in.peek()
		if end := skipFast(in.buf, in.pos); end >= 0 && (end < len(in.buf) || in.r == nil || in.eof) {
			return end
		}
		if !in.more() {
			panic(refusal{})
		}
	}
}

// at points d at the window, positioned at in.pos and ending at end.
func (in *input) at(d *decoder, end int) {
	d.data, d.pos = in.buf[:end], in.pos
}

func decodeSnapshot(data []byte, s *Snapshot) error {
	return decodeInput(&input{buf: data}, s)
}

func decodeInput(in *input, s *Snapshot) (err error) {
	c := codecFor(reflect.TypeFor[Snapshot]())
	if c.op != opStruct {
		return errRefused
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan chunkJob, 4*workers)
	var failed atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	work := func(d *decoder, j chunkJob) {
		if failed.Load() {
			return
		}
		v := reflect.MakeSlice(j.arr.f.typ, j.n, j.n)
		ok := d.elements(j, v)
		if j.copied {
			b := j.data[:0]
			chunkBufs.Put(&b)
		}
		if !ok {
			failed.Store(true)
			return
		}
		mu.Lock()
		j.arr.chunks[j.i] = v
		mu.Unlock()
	}
	if workers > 1 {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := newDecoder(nil)
				for j := range jobs {
					work(d, j)
				}
			}()
		}
	}
	main, inline := newDecoder(nil), newDecoder(nil)
	var arrays []*arrayResult
	pending := map[*codecField]bool{}
	ok := main.run(func() {
		defer func() {
			if r := recover(); r != nil {
				if re, is := r.(readError); is {
					err = re.err
					panic(refusal{})
				}
				panic(r)
			}
		}()
		if in.peek() != '{' {
			main.refuse()
		}
		in.pos++
		empty := in.peek() == '}'
		if empty {
			in.pos++
		}
		for !empty {
			if in.peek() != '"' {
				main.refuse()
			}
			in.at(main, in.value())
			k := main.key()
			in.pos = main.pos
			f := c.exact[string(k)] // k is only valid until the window moves
			if f == nil {
				f = c.folded[string(foldName(k))]
			}
			if in.peek() != ':' {
				main.refuse()
			}
			in.pos++
			if f != nil && pending[f] {
				// encoding/json decodes a repeated array into the
				// elements of the first: leave such oddities to it.
				main.refuse()
			}
			switch {
			case f != nil && f.c.op == opSlice && f.c.elem.op == opStruct && in.peek() == '[':
				a := &arrayResult{f: f}
				pending[f] = true
				arrays = append(arrays, a)
				in.scanArray(a, func(j chunkJob) {
					if failed.Load() {
						main.refuse()
					}
					mu.Lock()
					a.chunks = append(a.chunks, reflect.Value{})
					mu.Unlock()
					if workers > 1 {
						jobs <- j
					} else {
						work(inline, j)
					}
				})
			default:
				end := in.value()
				in.at(main, end)
				if f == nil {
					main.skip()
				} else {
					main.value(f.c, unsafe.Add(unsafe.Pointer(s), f.offset))
				}
				if main.pos != end {
					main.refuse()
				}
				in.pos = end
			}
			b := in.peek()
			in.pos++
			if b == '}' {
				break
			}
			if b != ',' {
				main.refuse()
			}
		}
		for {
			for in.pos < len(in.buf) {
				switch in.buf[in.pos] {
				case ' ', '\t', '\n', '\r':
					in.pos++
				default:
					main.refuse()
				}
			}
			if !in.more() {
				break
			}
		}
	})
	close(jobs)
	wg.Wait()
	if err != nil {
		return err
	}
	if !ok || failed.Load() {
		return errRefused
	}
	for _, a := range arrays {
		fv := reflect.NewAt(a.f.typ, unsafe.Add(unsafe.Pointer(s), a.f.offset)).Elem()
		switch {
		case a.empty:
			fv.Set(reflect.MakeSlice(a.f.typ, 0, 0))
		case len(a.chunks) == 1:
			fv.Set(a.chunks[0])
		default:
			total := 0
			for _, ch := range a.chunks {
				total += ch.Len()
			}
			out := reflect.MakeSlice(a.f.typ, total, total)
			at := 0
			for i, ch := range a.chunks {
				reflect.Copy(out.Slice(at, at+ch.Len()), ch)
				at += ch.Len()
				a.chunks[i] = reflect.Value{}
			}
			fv.Set(out)
		}
	}
	return nil
}

// run calls f and reports whether it finished without a refusal.
func (d *decoder) run(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(refusal); !is {
				panic(r)
			}
			ok = false
		}
	}()
	f()
	return true
}

// elements decodes chunk j into v.
func (d *decoder) elements(j chunkJob, v reflect.Value) bool {
	return d.run(func() {
		d.data, d.pos = j.data, j.start
		elem := j.arr.f.c.elem
		base := v.UnsafePointer()
		for i := 0; i < j.n; i++ {
			if i > 0 {
				d.expect(',')
			}
			d.value(elem, unsafe.Add(base, uintptr(i)*elem.size))
		}
		if d.pos != j.end {
			d.refuse()
		}
	})
}

// scanArray passes over the array at in.pos, handing out chunks of about
// chunkBytes of whole elements (slices of the document, or copies when
// streaming). It checks the commas and brackets between elements; the
// elements themselves are validated by whoever decodes them.
func (in *input) scanArray(a *arrayResult, emit func(chunkJob)) {
	in.pos++ // '['
	if in.peek() == ']' {
		in.pos++
		a.empty = true
		return
	}
	stream := in.r != nil
	job := chunkJob{arr: a, start: -1}
	for {
		end := in.value()
		if stream {
			if job.data == nil {
				job.data, job.copied = (*chunkBufs.Get().(*[]byte))[:0], true
			}
			if job.n > 0 {
				job.data = append(job.data, ',')
			}
			job.data = append(job.data, in.buf[in.pos:end]...)
		} else if job.start < 0 {
			job.data, job.start = in.buf, in.pos
		}
		job.n++
		in.pos = end
		b := in.peek()
		if b != ',' && b != ']' {
			panic(refusal{})
		}
		size := end - job.start
		if stream {
			size = len(job.data)
		}
		if b == ']' || size >= chunkBytes {
			if stream {
				job.start, job.end = 0, len(job.data)
			} else {
				job.end = end
			}
			emit(job)
			job = chunkJob{arr: a, i: job.i + 1, start: -1}
		}
		in.pos++
		if b == ']' {
			return
		}
	}
}

// skipFast returns the end of the value starting at i without validating
// it (-1 if the input ends first): strings are jumped over with
// IndexByte, brackets counted.
func skipFast(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipFastString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipFastString(data, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(data) {
			switch data[i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

func skipFastString(data []byte, i int) int {
	i++
	for {
		k := bytes.IndexByte(data[i:], '"')
		if k < 0 {
			return -1
		}
		i += k
		bs := 0
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			return i
		}
	}
}

// ---------------------------------------------------------------------
// Encoding: the bytes encoding/json's Encoder writes (HTML-safe escaping,
// sorted map keys, RFC 3339 times), with the large top-level arrays
// encoded in chunks on every core and written in order.

// writeError is a failure of the destination, not of encoding.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

type encoder struct{ buf []byte }

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes encoding/json writes as they are.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

func appendString(dst []byte, src string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		if b := src[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(src[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}

func (e *encoder) value(c *codec, p unsafe.Pointer) {
	switch c.op {
	case opString:
		e.buf = appendString(e.buf, *(*string)(p))
	case opBool:
		if *(*bool)(p) {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case opInt:
		var v int64
		switch c.size {
		case 1:
			v = int64(*(*int8)(p))
		case 2:
			v = int64(*(*int16)(p))
		case 4:
			v = int64(*(*int32)(p))
		default:
			v = *(*int64)(p)
		}
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case opUint:
		var v uint64
		switch c.size {
		case 1:
			v = uint64(*(*uint8)(p))
		case 2:
			v = uint64(*(*uint16)(p))
		case 4:
			v = uint64(*(*uint32)(p))
		default:
			v = *(*uint64)(p)
		}
		e.buf = strconv.AppendUint(e.buf, v, 10)
	case opTime:
		e.buf = append(e.buf, '"')
		b, err := (*time.Time)(p).AppendText(e.buf)
		if err != nil {
			panic(refusal{})
		}
		e.buf = append(b, '"')
	case opPtr:
		if pp := *(*unsafe.Pointer)(p); pp == nil {
			e.buf = append(e.buf, "null"...)
		} else {
			e.value(c.elem, pp)
		}
	case opSlice:
		h := (*sliceHeader)(p)
		if h.data == nil {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.buf = append(e.buf, '[')
		for i := 0; i < h.len; i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.value(c.elem, unsafe.Add(h.data, uintptr(i)*c.elem.size))
		}
		e.buf = append(e.buf, ']')
	case opMapSS:
		m := *(*map[string]string)(p)
		if m == nil {
			e.buf = append(e.buf, "null"...)
			return
		}
		keys := sortedKeys(m)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			e.buf = appendString(e.buf, m[k])
		}
		e.buf = append(e.buf, '}')
	case opMapSI:
		m := *(*map[string]int64)(p)
		if m == nil {
			e.buf = append(e.buf, "null"...)
			return
		}
		keys := sortedKeys(m)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			e.buf = strconv.AppendInt(e.buf, m[k], 10)
		}
		e.buf = append(e.buf, '}')
	case opMap:
		mv := reflect.NewAt(c.typ, p).Elem()
		if mv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return
		}
		keys := mv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		tmp := reflect.New(c.elem.typ)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k.String())
			e.buf = append(e.buf, ':')
			tmp.Elem().Set(mv.MapIndex(k))
			e.value(c.elem, tmp.UnsafePointer())
		}
		e.buf = append(e.buf, '}')
	case opStruct:
		next := byte('{')
		for _, f := range c.fields {
			fp := unsafe.Add(p, f.offset)
			if omitted(f, fp) {
				continue
			}
			e.buf = append(e.buf, next)
			next = ','
			e.buf = append(e.buf, f.key...)
			e.value(f.c, fp)
		}
		if next == '{' {
			e.buf = append(e.buf, '{', '}')
		} else {
			e.buf = append(e.buf, '}')
		}
	default:
		b, err := json.Marshal(reflect.NewAt(c.typ, p).Interface())
		if err != nil {
			panic(refusal{})
		}
		e.buf = append(e.buf, b...)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// omitted applies omitempty and omitzero as encoding/json does.
func omitted(f *codecField, p unsafe.Pointer) bool {
	if f.omitEmpty && emptyValue(f, p) {
		return true
	}
	if !f.omitZero {
		return false
	}
	if f.typ == timeType {
		return (*time.Time)(p).IsZero()
	}
	v := reflect.NewAt(f.typ, p).Elem()
	t := f.typ
	type zeroer interface{ IsZero() bool }
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerT):
		return v.IsNil() || (v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) || v.Interface().(zeroer).IsZero()
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerT):
		return v.IsNil() || v.Interface().(zeroer).IsZero()
	case t.Implements(isZeroerT):
		return v.Interface().(zeroer).IsZero()
	case reflect.PointerTo(t).Implements(isZeroerT):
		return v.Addr().Interface().(zeroer).IsZero()
	}
	return v.IsZero()
}

// emptyValue is encoding/json's isEmptyValue.
func emptyValue(f *codecField, p unsafe.Pointer) bool {
	switch f.typ.Kind() {
	case reflect.String:
		return len(*(*string)(p)) == 0
	case reflect.Slice:
		return (*sliceHeader)(p).len == 0
	case reflect.Bool:
		return !*(*bool)(p)
	case reflect.Pointer:
		return *(*unsafe.Pointer)(p) == nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		switch f.typ.Size() {
		case 1:
			return *(*uint8)(p) == 0
		case 2:
			return *(*uint16)(p) == 0
		case 4:
			return *(*uint32)(p) == 0
		default:
			return *(*uint64)(p) == 0
		}
	case reflect.Map, reflect.Array:
		return reflect.NewAt(f.typ, p).Elem().Len() == 0
	case reflect.Float32, reflect.Float64, reflect.Interface:
		return reflect.NewAt(f.typ, p).Elem().IsZero()
	}
	return false
}

const chunkElems = 512

var bufPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 1<<20)} }}

func encodeSnapshot(w *bufio.Writer, s *Snapshot) error {
	c := codecFor(reflect.TypeFor[Snapshot]())
	if c.op != opStruct {
		return errRefused
	}
	workers := runtime.GOMAXPROCS(0)
	e := &encoder{buf: make([]byte, 0, 64<<10)}
	flush := func() {
		if _, err := w.Write(e.buf); err != nil {
			panic(writeError{err})
		}
		e.buf = e.buf[:0]
	}
	var werr error
	ok := func() (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				switch x := r.(type) {
				case refusal:
					ok = false
				case writeError:
					werr, ok = x, false
				default:
					panic(r)
				}
			}
		}()
		next := byte('{')
		for _, f := range c.fields {
			p := unsafe.Add(unsafe.Pointer(s), f.offset)
			if omitted(f, p) {
				continue
			}
			e.buf = append(e.buf, next)
			next = ','
			e.buf = append(e.buf, f.key...)
			if h := (*sliceHeader)(p); f.c.op == opSlice && f.c.elem.op == opStruct && workers > 1 && h.len > 2*chunkElems {
				flush()
				encodeParallel(w, f.c.elem, h, workers)
				continue
			}
			e.value(f.c, p)
			if len(e.buf) > 1<<20 {
				flush()
			}
		}
		if next == '{' {
			e.buf = append(e.buf, '{', '}')
		} else {
			e.buf = append(e.buf, '}')
		}
		e.buf = append(e.buf, '\n')
		flush()
		return true
	}()
	if werr != nil {
		return werr
	}
	if !ok {
		return errRefused
	}
	return nil
}

// encodeParallel writes the array h of elem, encoded in chunks by workers
// and written in order.
func encodeParallel(w *bufio.Writer, elem *codec, h *sliceHeader, workers int) {
	type chunk struct {
		from, to int
		out      chan *encoder
	}
	jobs := make(chan chunk)
	order := make(chan chunk, 2*workers)
	var failed atomic.Bool
	go func() {
		for i := 0; i < h.len; i += chunkElems {
			ch := chunk{from: i, to: min(i+chunkElems, h.len), out: make(chan *encoder, 1)}
			order <- ch
			jobs <- ch
		}
		close(jobs)
		close(order)
	}()
	for k := 0; k < workers; k++ {
		go func() {
			for ch := range jobs {
				if failed.Load() {
					ch.out <- nil
					continue
				}
				e := bufPool.Get().(*encoder)
				e.buf = e.buf[:0]
				ok := func() (ok bool) {
					defer func() {
						if r := recover(); r != nil {
							if _, is := r.(refusal); !is {
								panic(r)
							}
							ok = false
						}
					}()
					for i := ch.from; i < ch.to; i++ {
						if i > ch.from {
							e.buf = append(e.buf, ',')
						}
						e.value(elem, unsafe.Add(h.data, uintptr(i)*elem.size))
					}
					return true
				}()
				if !ok {
					failed.Store(true)
					bufPool.Put(e)
					e = nil
				}
				ch.out <- e
			}
		}()
	}
	var werr error
	first := true
	write := func(b []byte) {
		if werr == nil && !failed.Load() {
			_, werr = w.Write(b)
		}
	}
	write([]byte{'['})
	for ch := range order {
		e := <-ch.out
		if e == nil {
			continue
		}
		if !first {
			write([]byte{','})
		}
		first = false
		write(e.buf)
		if cap(e.buf) <= 4<<20 {
			bufPool.Put(e)
		}
	}
	write([]byte{']'})
	if werr != nil {
		panic(writeError{werr})
	}
	if failed.Load() {
		panic(refusal{})
	}
}
