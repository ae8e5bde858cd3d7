package templates

import (
	"bytes"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/dave/jennifer/jen"
)

const testPkg = "example.com/p"

// renderDecls renders declarations as a file of package testPkg and returns
// the source after the imports.
func renderDecls(t *testing.T, decls ...jen.Code) string {
	t.Helper()
	f := jen.NewFilePathName(testPkg, "p")
	for _, d := range decls {
		f.Add(d)
	}
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}

func TestGoType(t *testing.T) {
	local := &Name{Path: testPkg, Name: "Level"}
	other := &Name{Path: "example.com/q", Name: "T"}
	for _, c := range []struct {
		t    *Type
		want string
	}{
		{&Type{Kind: Bool}, "bool"},
		{&Type{Kind: Int}, "int"},
		{&Type{Kind: Int8}, "int8"},
		{&Type{Kind: Int16}, "int16"},
		{&Type{Kind: Int32}, "int32"},
		{&Type{Kind: Int64}, "int64"},
		{&Type{Kind: Uint}, "uint"},
		{&Type{Kind: Uint8}, "uint8"},
		{&Type{Kind: Uint16}, "uint16"},
		{&Type{Kind: Uint32}, "uint32"},
		{&Type{Kind: Uint64}, "uint64"},
		{&Type{Kind: Uintptr}, "uintptr"},
		{&Type{Kind: Float32}, "float32"},
		{&Type{Kind: Float64}, "float64"},
		{&Type{Kind: String}, "string"},
		{&Type{Kind: Bytes}, "[]byte"},
		{&Type{Kind: Time}, "time.Time"},
		{&Type{Kind: Duration}, "time.Duration"},
		{&Type{Kind: Int64, Named: local}, "Level"},
		{&Type{Kind: Nested, Named: other}, "q.T"},
		{&Type{Kind: String, Named: &Name{Name: "error"}}, "error"},
		{&Type{Kind: Pointer, Elem: &Type{Kind: Pointer, Elem: &Type{Kind: Nested, Named: local}}}, "**Level"},
		{&Type{Kind: Slice, Elem: &Type{Kind: Bytes}}, "[][]byte"},
		{&Type{Kind: Array, Len: 16, Elem: &Type{Kind: Uint8}}, "[16]uint8"},
		{&Type{Kind: Map, Key: &Type{Kind: String}, Elem: &Type{Kind: Slice, Elem: &Type{Kind: TextMarshaler, Named: other}}},
			"map[string][]q.T"},
	} {
		src := renderDecls(t, jen.Var().Id("x").Add(goType(c.t)))
		if !strings.Contains(src, "var x "+c.want+"\n") {
			t.Errorf("goType(%s) rendered\n%s\nwant var x %s", c.t.Signature(), src, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("goType of a Nested type without a name did not panic")
		}
	}()
	goType(&Type{Kind: Nested})
}

// The signatures are part of the wire format: a change makes every stored
// record unreadable (ErrSchema). These values must never change.
func TestWireSignatureIsStable(t *testing.T) {
	for _, c := range []struct {
		t    *Type
		want uint32
	}{
		{&Type{Kind: Int64}, 0x03d22364},
		{&Type{Kind: Int64, Named: &Name{Path: "x", Name: "Renamed"}}, 0x03d22364},
		{&Type{Kind: String}, 0x17c16538},
		{&Type{Kind: Nested, Named: &Name{Name: "Any"}}, 0x92c2be20},
		{&Type{Kind: Pointer, Elem: &Type{Kind: Nested, Named: &Name{Name: "Any"}}}, 0x3eb9b4d8},
		{&Type{Kind: Slice, Elem: &Type{Kind: String}}, 0xe4060d18},
	} {
		if got := wireSignature(c.t); got != c.want {
			t.Errorf("wireSignature(%s) = %#08x, want %#08x", c.t.Signature(), got, c.want)
		}
		h := fnv.New32a()
		h.Write([]byte(c.t.Signature()))
		if h.Sum32() != c.want {
			t.Errorf("FNV-1a(%q) = %#08x", c.t.Signature(), h.Sum32())
		}
	}
}

func TestMinWireSize(t *testing.T) {
	for _, c := range []struct {
		t    *Type
		want int64
	}{
		{&Type{Kind: Bool}, 1},
		{&Type{Kind: Float32}, 4},
		{&Type{Kind: Float64}, 8},
		{&Type{Kind: Nested, Named: &Name{Name: "S", ID: "S"}}, 1},
		{&Type{Kind: Array, Len: 3, Elem: &Type{Kind: Float64}}, 24},
		{&Type{Kind: Array, Len: 0, Elem: &Type{Kind: Float64}}, 0},
		{&Type{Kind: Array, Len: 5, Elem: &Type{Kind: Array, Len: 0, Elem: &Type{Kind: Int}}}, 0},
		{&Type{Kind: Array, Len: 1 << 40, Elem: &Type{Kind: Float64}}, 1 << 30},
	} {
		if got := minWireSize(c.t); got != c.want {
			t.Errorf("minWireSize(%s) = %d, want %d", c.t.Signature(), got, c.want)
		}
	}
}

func listModel() *File {
	self := &Type{Kind: Nested, Named: &Name{Path: testPkg, Name: "List", ID: "List"}}
	return &File{PkgName: "p", PkgPath: testPkg, Structs: []*Struct{
		{ID: "List", Type: &Name{Path: testPkg, Name: "List"}, Fields: []*Field{
			{Name: "Name", Wire: "name", Type: &Type{Kind: String}},
			{Name: "Next", Wire: "Next", Type: &Type{Kind: Pointer, Elem: self}},
		}},
		{ID: "Empty", Type: &Name{Path: testPkg, Name: "Empty"}},
		{ID: "Flat", Type: &Name{Path: testPkg, Name: "Flat"}, Fields: []*Field{
			{Name: "At", Wire: "At", Type: &Type{Kind: Time}},
			{Name: "Hash", Wire: "Hash", Type: &Type{Kind: Array, Len: 4, Elem: &Type{Kind: Uint8}}},
			{Name: "Ver", Wire: "Ver", Type: &Type{Kind: BinaryMarshaler, Named: &Name{Path: "example.com/q", Name: "V"}}},
		}},
		{ID: "Holder", Type: &Name{Path: testPkg, Name: "Holder"}, Fields: []*Field{
			{Name: "Flat", Wire: "Flat", Type: &Type{Kind: Nested, Named: &Name{Path: testPkg, Name: "Flat", ID: "Flat"}}},
			{Name: "Ext", Wire: "Ext", Type: &Type{Kind: Nested, Named: &Name{Path: testPkg, Name: "Elsewhere", ID: "Elsewhere"}}},
			{Name: "IP", Wire: "IP", Type: &Type{Kind: TextMarshaler, Refs: true, Named: &Name{Path: "net", Name: "IP"}}},
			{Name: "None", Wire: "None", Type: &Type{Kind: Nested, Named: &Name{Path: testPkg, Name: "Empty", ID: "Empty"}}},
		}},
	}}
}

func TestStructCodecShape(t *testing.T) {
	f := listModel()
	src := renderDecls(t, structCodec(f, f.Structs[0])...)
	want := `func livedictAppendList(e *runtime.Encoder, v *List) {
	if !e.BeginStruct(2) {
		return
	}
	f := e.BeginField("name", 0x17c16538) // string
	e.AppendString(v.Name)
	e.EndField(f)
	f = e.BeginField("Next", 0x3eb9b4d8) // *struct
	if v.Next == nil {
		e.AppendBool(false)
	} else {
		e.AppendBool(true)
		livedictAppendList(e, v.Next)
	}
	e.EndField(f)
	e.EndStruct()
}

// livedictDecodeList sets *v to the current struct of d.
func livedictDecodeList(d *runtime.Decoder, v *List) {
	// What *v held: reused where the record has these fields.
	oldNext := v.Next
	*v = List{}
	f := d.BeginStruct()
	for d.NextField(&f) {
		switch string(d.FieldName()) {
		case "name":
			switch d.Signature() {
			case 0xf613ccd0:
				// *string
				if !d.ReadBool() {
					break
				}
				fallthrough
			case 0x17c16538:
				// string
				v.Name = d.ReadString()
			default:
				d.Mismatch("string")
			}
		case "Next":
			switch d.Signature() {
			case 0x3eb9b4d8:
				// *struct
				if !d.ReadBool() {
					break
				}
				fallthrough
			case 0x92c2be20:
				// struct
				v.Next = runtime.NewStruct(d, oldNext)
				livedictDecodeList(d, v.Next)
			default:
				d.Mismatch("*struct")
			}
		default:
			d.Skip()
		}
	}
}
`
	if !strings.Contains(src, want) {
		t.Fatalf("got\n%s\nwant it to contain\n%s", src, want)
	}
	// A struct without fields.
	src = renderDecls(t, structCodec(f, f.Structs[1])...)
	for _, s := range []string{"if !e.BeginStruct(0) {", "e.EndStruct()", "default:\n\t\t\td.Skip()"} {
		if !strings.Contains(src, s) {
			t.Errorf("Empty codec lacks %q:\n%s", s, src)
		}
	}
}

func TestStructClone(t *testing.T) {
	f := listModel()
	for _, c := range []struct {
		s    *Struct
		refs bool
		want []string
	}{
		{f.Structs[0], true, []string{"*p0 = livedictCloneList(*v.Next)"}},
		{f.Structs[1], false, []string{"func livedictCloneEmpty(v Empty) Empty {\n\treturn v\n}"}},
		// Flat has no references, but a time.Time whose monotonic reading
		// the copy drops.
		{f.Structs[2], true, []string{"func livedictCloneFlat(v Flat) Flat {\n\tv.At = v.At.Round(0)\n\treturn v\n}"}},
		// Holder: Flat has a time; Ext is emitted elsewhere (assumed to
		// have some); IP is a marshaler over a slice; Empty needs no copy.
		{f.Structs[3], true, []string{"v.Flat = livedictCloneFlat(v.Flat)", "v.Ext = livedictCloneElsewhere(v.Ext)", "v.IP = runtime.CloneText(v.IP)"}},
	} {
		if got := structHasRefs(f, c.s); got != c.refs {
			t.Errorf("structHasRefs(%s) = %v", c.s.ID, got)
		}
		src := renderDecls(t, structClone(f, c.s)...)
		for _, w := range c.want {
			if !strings.Contains(src, w) {
				t.Errorf("clone of %s lacks %q:\n%s", c.s.ID, w, src)
			}
		}
		if strings.Contains(src, "livedictCloneEmpty(v.None)") {
			t.Errorf("clone of %s copies a reference-free struct with a call:\n%s", c.s.ID, src)
		}
	}
}

func TestDeterministic(t *testing.T) {
	f := listModel()
	var first string
	for i := range 5 {
		var decls []jen.Code
		for _, s := range f.Structs {
			decls = append(decls, structClone(f, s)...)
			decls = append(decls, structCodec(f, s)...)
		}
		src := renderDecls(t, decls...)
		if i == 0 {
			first = src
		} else if src != first {
			t.Fatal("two renders differ")
		}
	}
}
