package runtime

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/livedict/livedict/backend"
)

// Schema errors name the two types of a field. The wanted one is the
// canonical shape the generated code passes to Mismatch (the text
// templates.Type.Signature gives); the stored one is known only by its
// signature, a hash, so it is looked up among the shapes a record is likely
// to hold: every basic shape, one level of pointer, slice or map around
// them, and every shape one change away from the wanted one. A signature
// found nowhere is reported as "another type" with its hex.
//
// None of this runs unless a field's type is refused.

// basicShapes are the canonical shapes without elements, as
// templates.Type.Signature writes them.
var basicShapes = []string{
	"bool", "int", "int8", "int16", "int32", "int64",
	"uint", "uint8", "uint16", "uint32", "uint64", "uintptr",
	"float32", "float64", "string", "bytes", "time", "duration",
	"binary", "text", "struct",
}

// goNames are the Go spellings of the basic shapes that differ from them.
var goNames = map[string]string{
	"bytes":    "[]byte",
	"time":     "time.Time",
	"duration": "time.Duration",
	"binary":   "encoding.BinaryMarshaler",
	"text":     "encoding.TextMarshaler",
}

// intWidths are the integer shapes by signedness and width. int, uint and
// uintptr count as 64 bits: their readers check the range on platforms
// where they are narrower.
var intWidths = map[string]struct {
	signed bool
	bits   int
}{
	"int": {true, 64}, "int8": {true, 8}, "int16": {true, 16}, "int32": {true, 32}, "int64": {true, 64},
	"uint": {false, 64}, "uint8": {false, 8}, "uint16": {false, 16}, "uint32": {false, 32}, "uint64": {false, 64},
	"uintptr": {false, 64},
}

func signatureOf(shape string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(shape))
	return h.Sum32()
}

// commonShapes maps the signature of every basic shape, and of one level
// of pointer, slice or map around basic shapes, to its text.
var commonShapes = sync.OnceValue(func() map[uint32]string {
	m := make(map[uint32]string)
	add := func(s string) { m[signatureOf(s)] = s }
	for _, b := range basicShapes {
		add(b)
		for _, pre := range []string{"*", "[]", "*[]", "[]*", "**"} {
			add(pre + b)
		}
		for _, k := range basicShapes {
			add("map[" + k + "]" + b)
			add("map[" + k + "]*" + b)
			add("map[" + k + "][]" + b)
		}
	}
	return m
})

// shape is a parsed canonical shape.
type shape struct {
	op   string // "" (basic), "*", "[]", "[N]" or "map"
	name string // basic: its name
	key  *shape // map
	elem *shape // "*", "[]", "[N]", map
}

// parseShape parses canonical shape text; nil when it is not one.
func parseShape(s string) *shape {
	t, rest := parseShapePrefix(s)
	if t == nil || rest != "" {
		return nil
	}
	return t
}

func parseShapePrefix(s string) (*shape, string) {
	switch {
	case strings.HasPrefix(s, "*"):
		e, rest := parseShapePrefix(s[1:])
		if e == nil {
			return nil, ""
		}
		return &shape{op: "*", elem: e}, rest
	case strings.HasPrefix(s, "map["):
		k, rest := parseShapePrefix(s[4:])
		if k == nil || !strings.HasPrefix(rest, "]") {
			return nil, ""
		}
		e, rest := parseShapePrefix(rest[1:])
		if e == nil {
			return nil, ""
		}
		return &shape{op: "map", key: k, elem: e}, rest
	case strings.HasPrefix(s, "["):
		i := strings.IndexByte(s, ']')
		if i < 0 || strings.Trim(s[1:i], "0123456789") != "" {
			return nil, ""
		}
		e, rest := parseShapePrefix(s[i+1:])
		if e == nil {
			return nil, ""
		}
		return &shape{op: s[:i+1], elem: e}, rest
	}
	i := strings.IndexByte(s, ']')
	if i < 0 {
		i = len(s)
	}
	for _, b := range basicShapes {
		if s[:i] == b {
			return &shape{name: b}, s[i:]
		}
	}
	return nil, ""
}

// text is the canonical text of t, or with goSyntax its Go spelling.
func (t *shape) text(goSyntax bool) string {
	var b strings.Builder
	t.write(&b, goSyntax)
	return b.String()
}

func (t *shape) write(b *strings.Builder, goSyntax bool) {
	switch t.op {
	case "":
		if n, ok := goNames[t.name]; ok && goSyntax {
			b.WriteString(n)
		} else {
			b.WriteString(t.name)
		}
		return
	case "map":
		b.WriteString("map[")
		t.key.write(b, goSyntax)
		b.WriteByte(']')
	default:
		b.WriteString(t.op)
	}
	t.elem.write(b, goSyntax)
}

// neighbors calls fn with the text of every shape one change away from t:
// one basic shape replaced by another, or one pointer added or removed.
func (t *shape) neighbors(fn func(string)) {
	t.edits(func(n *shape) { fn(n.text(false)) })
}

// edits calls fn with each shape one change away from t. The shapes it
// passes share structure with t and with each other: use them at once.
func (t *shape) edits(fn func(*shape)) {
	fn(&shape{op: "*", elem: t})
	if t.op == "*" {
		fn(t.elem)
	}
	if t.op == "" {
		for _, b := range basicShapes {
			if b != t.name {
				fn(&shape{name: b})
			}
		}
		return
	}
	if t.key != nil {
		t.key.edits(func(k *shape) { fn(&shape{op: t.op, key: k, elem: t.elem}) })
	}
	t.elem.edits(func(e *shape) { fn(&shape{op: t.op, key: t.key, elem: e}) })
}

// storedShape names the shape of signature sig, looking first among the
// neighbors of want (which may be nil); "" when it is not found.
func storedShape(sig uint32, want *shape) string {
	if s, ok := commonShapes()[sig]; ok {
		return s
	}
	found := ""
	if want != nil {
		want.neighbors(func(s string) {
			if found == "" && signatureOf(s) == sig {
				found = s
			}
		})
	}
	return found
}

// unsafeChange explains why a value stored as shape from does not read as
// shape to, when the first difference between them is a narrowing or a
// change of kind that loses values; "" otherwise.
func unsafeChange(from, to *shape) string {
	switch {
	case from.op == "" && to.op == "":
		f, fok := intWidths[from.name]
		t, tok := intWidths[to.name]
		switch {
		case fok && tok && f.signed != t.signed:
			return "signed and unsigned integers do not convert"
		case fok && tok && f.bits > t.bits,
			from.name == "float64" && to.name == "float32":
			return "narrowing is not safe"
		case fok && (to.name == "float32" || to.name == "float64"),
			tok && (from.name == "float32" || from.name == "float64"):
			return "integers and floats do not convert"
		}
		return ""
	case from.op == to.op:
		if from.key != nil {
			if r := unsafeChange(from.key, to.key); r != "" {
				return r
			}
		}
		if from.elem != nil {
			return unsafeChange(from.elem, to.elem)
		}
		return ""
	case from.op == "*":
		return unsafeChange(from.elem, to)
	case to.op == "*":
		return unsafeChange(from, to.elem)
	}
	return ""
}

// schemaMessage is the message of a schema error: the stored and the
// wanted type, and why they do not convert when that is known. wantShape
// may be "" (then wantSig is looked up).
func schemaMessage(storedSig, wantSig uint32, wantShape string) string {
	if wantShape == "" {
		wantShape = storedShape(wantSig, nil)
	}
	want := parseShape(wantShape)
	wantText := fmt.Sprintf("another type (signature %08x)", wantSig)
	if want != nil {
		wantText = want.text(true)
	}
	stored := parseShape(storedShape(storedSig, want))
	if stored == nil {
		return fmt.Sprintf("stored as another type (signature %08x), this build reads %s", storedSig, wantText)
	}
	msg := fmt.Sprintf("stored as %s, this build reads %s", stored.text(true), wantText)
	if want != nil {
		if why := unsafeChange(stored, want); why != "" {
			msg += " (" + why + ")"
		}
	}
	return msg
}

// Signature is the signature the open field was written with. Generated
// code switches on it: the field's own signature and those of the older
// types it reads safely (a narrower integer of the same signedness,
// float32 for float64, T for *T and *T for T).
func (d *Decoder) Signature() uint32 { return d.sig }

// Mismatch records that the open field was written as a type this build
// cannot read as shape, the canonical shape of the field's type (the text
// templates.Type.Signature gives): an error wrapping backend.ErrSchema that
// names both types.
func (d *Decoder) Mismatch(shape string) {
	if d.err != nil {
		return
	}
	d.setErr(&wireError{
		kind: backend.ErrSchema,
		msg:  schemaMessage(d.sig, signatureOf(shape), shape),
		at:   -1,
	})
}
