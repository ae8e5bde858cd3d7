package gen

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// FuzzSplitOptions: any directive text splits into non-empty words without
// blanks, each found at its offset, in order, covering every non-blank
// byte: so an error always points at the word it is about.
func FuzzSplitOptions(f *testing.F) {
	for _, s := range []string{"", " key=int64 ttl=30m", "\tname=X\t bucket=a b", "ttl=", "=", "  ", "key=int ttl=1h30m name=Foo bucket=x_y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, opts string) {
		words := splitOptions(opts)
		next, kept := 0, 0
		for _, w := range words {
			if w.text == "" || strings.ContainsAny(w.text, " \t") {
				t.Fatalf("word %q is empty or holds a blank", w.text)
			}
			if w.offset < next || w.offset+len(w.text) > len(opts) || opts[w.offset:w.offset+len(w.text)] != w.text {
				t.Fatalf("word %q is not at offset %d of %q", w.text, w.offset, opts)
			}
			next = w.offset + len(w.text)
			kept += len(w.text)
		}
		if blanks := strings.Count(opts, " ") + strings.Count(opts, "\t"); kept+blanks != len(opts) {
			t.Fatalf("%q: words cover %d bytes and blanks %d, of %d", opts, kept, blanks, len(opts))
		}
	})
}

// directiveSrc is the package the directive fuzzer annotates: a struct and
// key types of every kind the key= option meets; %s is the options.
const directiveSrc = `package p

type ID string
type Num uint32
type Bad float64

//livedict:store%s
type T struct{ A int }
`

// FuzzDirective puts arbitrary options in the directive of a real,
// type-checked package: parsing them never panics; a bad option is a
// diagnostic inside the directive comment; a clean parse gives a store with
// an exported name, a non-negative TTL, a bucket and a key type.
func FuzzDirective(f *testing.F) {
	for _, s := range []string{"", " key=int64 ttl=30m", " key=ID name=Sessions bucket=s", " key=Bad", " ttl=-1s", " name=lower",
		" key=Num ttl=1h30m", " unknown=1", " ttl", " key=chan", " bucket=" + strings.Repeat("b", 300), "\tkey=int\t\tttl=1ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, opts string) {
		if strings.ContainsAny(opts, "\n\r") || opts != "" && opts[0] != ' ' && opts[0] != '\t' {
			return // not the options of a one-line directive
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, "p.go", fmt.Sprintf(directiveSrc, opts), parser.ParseComments)
		if err != nil {
			return // the options ended the comment (a NUL byte, say)
		}
		info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
		tpkg, err := (&types.Config{Importer: importer.Default()}).Check("p", fset, []*ast.File{file}, info)
		if err != nil {
			t.Fatal(err)
		}
		pkg := &packages.Package{Name: "p", PkgPath: "p", Fset: fset, Types: tpkg, TypesInfo: info, Syntax: []*ast.File{file}}
		b := newBuilder(pkg)
		targets := b.find(nil)
		if len(targets) != 1 {
			t.Fatalf("options %q: found %d annotated types, want 1", opts, len(targets))
		}
		st := b.store(targets[0])
		if st == nil {
			t.Fatal("no store model for a struct type")
		}
		dir := fset.Position(targets[0].dirPos)
		for _, d := range b.diags {
			if d.Pos.Line != dir.Line || d.Pos.Column <= dir.Column+len(Directive) || d.Pos.Column > dir.Column+len(Directive)+len(opts) {
				t.Fatalf("options %q: diagnostic %q is not on an option of the directive", opts, d)
			}
		}
		if len(b.diags) == 0 && (!token.IsExported(st.StoreName) || st.TTL < 0 || st.Bucket == "" || st.Key == nil) {
			t.Fatalf("options %q: accepted a bad store %+v", opts, st)
		}
	})
}
