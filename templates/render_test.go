package templates

import (
	"bytes"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dave/jennifer/jen"
)

// renderOneFile is Render as it was before the file was rendered in
// pieces: one jennifer file, formatted whole. Render must give the same
// bytes.
func renderOneFile(t *testing.T, f *File) []byte {
	t.Helper()
	jf := jen.NewFilePathName(f.PkgPath, f.PkgName)
	jf.HeaderComment(Header)
	paths := make([]string, 0, len(f.Imports))
	for p := range f.Imports {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		jf.ImportName(p, f.Imports[p])
	}
	jf.ImportName(livedictPath, "livedict")
	jf.ImportAlias(runtimePath, "ldruntime")
	jf.Comment("The generated code below and the runtime it links against must agree; the")
	jf.Comment("build fails here when they do not (regenerate, or align the module version).")
	jf.Const().Defs(
		jen.Id("_").Op("=").Add(rt("EnforceVersion")).Call(jen.Lit(runtimeVersion).Op("-").Add(rt("MinVersion"))),
		jen.Id("_").Op("=").Add(rt("EnforceVersion")).Call(rt("Version").Op("-").Lit(runtimeVersion)),
	)
	for _, st := range f.Stores {
		for _, d := range storeDecls(f, st) {
			jf.Add(d)
			jf.Line()
		}
	}
	for _, s := range f.Structs {
		if structHasRefs(f, s) {
			for _, d := range structClone(f, s) {
				jf.Add(d)
				jf.Line()
			}
		}
		for _, d := range structCodec(f, s) {
			jf.Add(d)
			jf.Line()
		}
	}
	var buf bytes.Buffer
	if err := jf.Render(&buf); err != nil {
		t.Fatalf("rendering as one file: %v", err)
	}
	return groupImports(buf.Bytes())
}

// richModel has stores with several key types and TTLs, and structs with
// every kind of field, of this package and of others.
func richModel() *File {
	str := &Type{Kind: String}
	level := &Name{Path: "example.com/units", Name: "Level"}
	addr := &Name{Path: "net/netip", Name: "Addr"}
	cookie := &Name{Path: "net/http", Name: "Cookie", ID: "http_Cookie"}
	part := &Name{Path: testPkg, Name: "Part", ID: "Part"}
	return &File{
		PkgName: "p", PkgPath: testPkg,
		Imports: map[string]string{"example.com/units": "units", "net/netip": "netip", "net/http": "http", "time": "time"},
		Stores: []*Store{
			{TypeName: "Rec", StoreName: "RecStore", Key: str, Bucket: "rec", TTL: time.Minute},
			{TypeName: "Part", StoreName: "PartStore", Key: &Type{Kind: Int64}, Bucket: "part"},
			{TypeName: "Leveled", StoreName: "ByLevel", Key: &Type{Kind: Int32, Named: level}, Bucket: "by_level", TTL: 90 * time.Second},
		},
		Structs: []*Struct{
			{ID: "Rec", Type: &Name{Path: testPkg, Name: "Rec"}, Skipped: []string{"cache"}, Fields: []*Field{
				{Name: "ID", Wire: "id", Type: str},
				{Name: "Tags", Wire: "Tags", Type: &Type{Kind: Slice, Elem: str}},
				{Name: "Attrs", Wire: "Attrs", Type: &Type{Kind: Map, Key: str, Elem: &Type{Kind: Int}}},
				{Name: "At", Wire: "At", Type: &Type{Kind: Time}},
				{Name: "Wait", Wire: "Wait", Type: &Type{Kind: Duration}},
				{Name: "Part", Wire: "Part", Type: &Type{Kind: Pointer, Elem: &Type{Kind: Nested, Named: part}}},
				{Name: "Parts", Wire: "Parts", Type: &Type{Kind: Slice, Elem: &Type{Kind: Nested, Named: part}}},
				{Name: "Sum", Wire: "Sum", Type: &Type{Kind: Array, Len: 32, Elem: &Type{Kind: Uint8}}},
				{Name: "Raw", Wire: "Raw", Type: &Type{Kind: Bytes}},
				{Name: "Score", Wire: "Score", Type: &Type{Kind: Float64}},
				{Name: "On", Wire: "On", Type: &Type{Kind: Bool}},
				{Name: "Level", Wire: "Level", Type: &Type{Kind: Int32, Named: level}},
				{Name: "Addr", Wire: "Addr", Type: &Type{Kind: TextMarshaler, Named: addr}},
				{Name: "Cookie", Wire: "Cookie", Type: &Type{Kind: Nested, Named: cookie}},
			}},
			{ID: "Part", Type: &Name{Path: testPkg, Name: "Part"}, Fields: []*Field{
				{Name: "Name", Wire: "Name", Type: str},
				{Name: "N", Wire: "N", Type: &Type{Kind: Int64}},
			}},
			{ID: "http_Cookie", Type: &Name{Path: "net/http", Name: "Cookie"}, Fields: []*Field{
				{Name: "Name", Wire: "Name", Type: str},
				{Name: "Expires", Wire: "Expires", Type: &Type{Kind: Time}},
				{Name: "Unparsed", Wire: "Unparsed", Type: &Type{Kind: Slice, Elem: str}},
			}},
			{ID: "Leveled", Type: &Name{Path: testPkg, Name: "Leveled"}, Fields: []*Field{
				{Name: "Level", Wire: "Level", Type: &Type{Kind: Int32, Named: level}},
			}},
		},
	}
}

// TestRenderInPieces: the file rendered in pieces is the file rendered
// whole, byte for byte, and it is rendered in pieces when the imports'
// names allow it.
func TestRenderInPieces(t *testing.T) {
	// Two imports of one name: jennifer renames the second it meets.
	twoV1 := richModel()
	twoV1.Imports["example.com/a/v1"] = "v1"
	twoV1.Imports["example.com/b/v1"] = "v1"
	meta := &Type{Kind: String, Named: &Name{Path: "example.com/a/v1", Name: "Meta"}}
	spec := &Type{Kind: String, Named: &Name{Path: "example.com/b/v1", Name: "Spec"}}
	twoV1.Structs[0].Fields = append(twoV1.Structs[0].Fields,
		&Field{Name: "Spec", Wire: "Spec", Type: spec}, &Field{Name: "Meta", Wire: "Meta", Type: meta})
	twoV1.Structs[3].Fields = append(twoV1.Structs[3].Fields, &Field{Name: "Meta", Wire: "Meta", Type: meta})

	// A package of the model named as a package the emitters import.
	context := richModel()
	context.Imports["example.com/context"] = "context"
	context.Structs[1].Fields = append(context.Structs[1].Fields,
		&Field{Name: "Ctx", Wire: "Ctx", Type: &Type{Kind: String, Named: &Name{Path: "example.com/context", Name: "ID"}}})

	// The model names no import: jennifer guesses the name from the path.
	unnamed := richModel()
	unnamed.Imports = nil

	oneStruct := richModel()
	oneStruct.Stores = nil
	oneStruct.Structs = oneStruct.Structs[1:2]

	cases := []struct {
		name   string
		f      *File
		pieces bool
	}{
		{"rich", richModel(), true},
		{"one struct", oneStruct, true},
		{"two imports named v1", twoV1, false},
		{"a package named context", context, false},
		{"imports without names", unnamed, false},
		{"no imports of the model", listModel(), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := renderOneFile(t, c.f)
			got, pieces, err := render(c.f)
			if err != nil {
				t.Fatal(err)
			}
			if pieces != c.pieces {
				t.Errorf("rendered in pieces: %v, want %v", pieces, c.pieces)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from the file rendered whole:\n%s", firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return "line " + itoa(int64(i+1)) + ":\n-" + w[i] + "\n+" + g[i]
		}
	}
	return "one is a prefix of the other: " + itoa(int64(len(w))) + " lines against " + itoa(int64(len(g)))
}

func TestRenderAllKeepsOrder(t *testing.T) {
	files := []*File{richModel(), listModel(), richModel()}
	files[2].PkgName, files[2].PkgPath = "q", "example.com/q"
	out, err := RenderAll(files)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if want := renderOneFile(t, f); !bytes.Equal(out[i], want) {
			t.Errorf("file %d: differs from its own render", i)
		}
	}
}

// TestStdImportNames: the names stdImports gives are those jennifer gives
// the packages by itself, so the hints change no output.
func TestStdImportNames(t *testing.T) {
	for p, name := range stdImports {
		jf := jen.NewFile("p")
		jf.Var().Id("_").Op("=").Qual(p, "X")
		got := jf.GoString()
		if !strings.Contains(got, "import "+`"`+p+`"`) || !strings.Contains(got, name+".X") {
			t.Errorf("%s: jennifer imports it otherwise than as %s:\n%s", p, name, got)
		}
	}
}
