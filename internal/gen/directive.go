package gen

import (
	"fmt"
	"go/ast"
	"go/token"
	"sort"
	"strings"
	"time"

	"golang.org/x/tools/go/packages"

	"github.com/livedict/livedict/templates"
)

// isDirective reports whether a comment's text is the directive, with or
// without options.
func isDirective(text string) bool {
	return text == Directive || strings.HasPrefix(text, Directive+" ") || strings.HasPrefix(text, Directive+"\t")
}

// typeSpecDoc is the comment find reads a type's directive from: the spec's
// own doc, or the declaration's when the declaration has that one spec.
func typeSpecDoc(gd *ast.GenDecl, ts *ast.TypeSpec) *ast.CommentGroup {
	if ts.Doc == nil && len(gd.Specs) == 1 {
		return gd.Doc
	}
	return ts.Doc
}

// nearMiss reports whether a comment's text looks like the directive but is
// not it: spaced out (// livedict:store, //livedict: store) or not in lower
// case (//LiveDict:store). It returns what is wrong and the text as it
// should be written.
func nearMiss(text string) (problems []string, fixed string, ok bool) {
	body, isLine := strings.CutPrefix(text, "//")
	if !isLine {
		return nil, "", false
	}
	i := 0
	skip := func() bool {
		start := i
		for i < len(body) && (body[i] == ' ' || body[i] == '\t') {
			i++
		}
		return i > start
	}
	word := func(w string) (string, bool) {
		if len(body)-i < len(w) || !strings.EqualFold(body[i:i+len(w)], w) {
			return "", false
		}
		i += len(w)
		return body[i-len(w) : i], true
	}
	lead := skip()
	name, ok1 := word("livedict")
	spaceBefore := skip()
	if !ok1 || i >= len(body) || body[i] != ':' {
		return nil, "", false
	}
	i++
	spaceAfter := skip()
	verb, ok2 := word("store")
	if !ok2 || i < len(body) && body[i] != ' ' && body[i] != '\t' {
		return nil, "", false
	}
	if lead {
		problems = append(problems, "a space after //")
	}
	if spaceBefore || spaceAfter {
		problems = append(problems, "a space around the colon")
	}
	if name != "livedict" || verb != "store" {
		problems = append(problems, "upper-case letters")
	}
	if len(problems) == 0 {
		return nil, "", false
	}
	return problems, Directive + body[i:], true
}

// directiveWarnings finds, in the package's source files, the directives
// that find does not read, and says why: a near miss (spacing, case), or
// a directive that is not in a type's doc comment (on a function, a
// variable, a type ( ... ) group, or cut off from its type by a blank
// line). These do not stop generation; they are warnings.
func directiveWarnings(pkg *packages.Package) Diagnostics {
	var ws Diagnostics
	for _, f := range pkg.Syntax {
		path := pkg.Fset.Position(f.Package).Filename
		if strings.HasSuffix(path, Suffix) {
			continue
		}
		places := commentPlaces(pkg.Fset, f)
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				problems, fixed, near := nearMiss(c.Text)
				exact := isDirective(c.Text)
				if !near && !exact {
					continue
				}
				p := places[cg]
				var msg string
				switch {
				case p.typeName != "" && near:
					msg = fmt.Sprintf("%q is not a directive (it has %s), so %s gets no store; write it as %s",
						c.Text, strings.Join(problems, " and "), p.typeName, fixed)
				case p.typeName != "":
					continue // find reads it
				case near:
					w, fix := p.describe(pkg.Fset, f, cg)
					msg = fmt.Sprintf("%q is ignored: it is not a directive (it has %s), and %s; write it as %s and %s",
						c.Text, strings.Join(problems, " and "), w, fixed, fix)
				default:
					w, fix := p.describe(pkg.Fset, f, cg)
					msg = fmt.Sprintf("%s is ignored: %s; %s", Directive, w, fix)
				}
				ws = append(ws, Diagnostic{Pos: pkg.Fset.Position(c.Slash), Msg: "livedictgen: " + msg, Warning: true})
			}
		}
	}
	return ws
}

// place is what a comment group is attached to.
type place struct {
	typeName string // the doc comment find reads, of this package-level type
	kind     string // otherwise: "func", "var", "const", "import", "group", "field", "local", "line"
	name     string // the declaration's name, when it has one
	group    []string
}

// commentPlaces maps each doc (and line) comment group of the file to what
// it is attached to.
func commentPlaces(fset *token.FileSet, f *ast.File) map[*ast.CommentGroup]place {
	places := map[*ast.CommentGroup]place{}
	set := func(cg *ast.CommentGroup, p place) {
		if cg != nil {
			places[cg] = p
		}
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			set(d.Doc, place{kind: "func", name: d.Name.Name})
			if d.Body != nil {
				ast.Inspect(d.Body, func(n ast.Node) bool {
					if ts, ok := n.(*ast.TypeSpec); ok {
						set(ts.Doc, place{kind: "local", name: ts.Name.Name})
						set(ts.Comment, place{kind: "local", name: ts.Name.Name})
					}
					if gd, ok := n.(*ast.GenDecl); ok && gd.Tok == token.TYPE && len(gd.Specs) > 0 {
						set(gd.Doc, place{kind: "local", name: gd.Specs[0].(*ast.TypeSpec).Name.Name})
					}
					return true
				})
			}
		case *ast.GenDecl:
			if d.Tok != token.TYPE {
				name := ""
				if len(d.Specs) > 0 {
					if vs, ok := d.Specs[0].(*ast.ValueSpec); ok && len(vs.Names) > 0 {
						name = vs.Names[0].Name
					}
				}
				set(d.Doc, place{kind: d.Tok.String(), name: name})
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok && len(vs.Names) > 0 {
						set(vs.Doc, place{kind: d.Tok.String(), name: vs.Names[0].Name})
					}
				}
				continue
			}
			var names []string
			for _, s := range d.Specs {
				names = append(names, s.(*ast.TypeSpec).Name.Name)
			}
			if len(d.Specs) != 1 {
				set(d.Doc, place{kind: "group", group: names})
			}
			for _, s := range d.Specs {
				ts := s.(*ast.TypeSpec)
				set(typeSpecDoc(d, ts), place{typeName: ts.Name.Name})
				set(ts.Comment, place{kind: "line", name: ts.Name.Name})
				ast.Inspect(ts.Type, func(n ast.Node) bool {
					if fl, ok := n.(*ast.Field); ok {
						name := ""
						if len(fl.Names) > 0 {
							name = fl.Names[0].Name
						}
						set(fl.Doc, place{kind: "field", name: ts.Name.Name + "." + name})
						set(fl.Comment, place{kind: "field", name: ts.Name.Name + "." + name})
					}
					return true
				})
			}
		}
	}
	set(f.Doc, place{kind: "package", name: f.Name.Name})
	return places
}

// describe says where a directive that find does not read is, and how to
// move it where find reads it.
func (p place) describe(fset *token.FileSet, f *ast.File, cg *ast.CommentGroup) (where, fix string) {
	const toType = "move it to the doc comment of the struct type to store"
	switch p.kind {
	case "func":
		return fmt.Sprintf("it is on the function %s, and a directive annotates a struct type", p.name), toType
	case "var", "const", "import":
		what := map[string]string{"var": "variable", "const": "constant", "import": "import"}[p.kind]
		if p.name != "" {
			what = "the " + what + " " + p.name
		} else {
			what = "an " + what + " declaration"
		}
		return fmt.Sprintf("it is on %s, and a directive annotates a struct type", what), toType
	case "group":
		return fmt.Sprintf("it is in the doc comment of a type ( ... ) group, not of one of its types (%s)", strings.Join(p.group, ", ")),
			"move it into the group, to the doc comment directly above the type it annotates"
	case "local":
		return fmt.Sprintf("%s is declared inside a function, and livedictgen reads package-level types only", p.name),
			"declare the type at package level"
	case "line":
		return fmt.Sprintf("it is a comment after the type %s, not its doc comment", p.name), "move it to the line above the type declaration"
	case "field":
		return fmt.Sprintf("it is on the field %s", p.name), toType
	case "package":
		return "it is on the package clause", toType
	}
	// A free-standing comment: is it cut off from a type by a blank line?
	end := fset.Position(cg.End()).Line
	for _, decl := range f.Decls {
		if decl.Pos() <= cg.Pos() && cg.End() <= decl.End() {
			break // inside a declaration: a function body, say
		}
		if decl.Pos() < cg.End() {
			continue
		}
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE || len(gd.Specs) == 0 {
			break
		}
		ts := gd.Specs[0].(*ast.TypeSpec)
		if doc := typeSpecDoc(gd, ts); doc != nil && doc.Pos() > cg.End() {
			return fmt.Sprintf("a blank line separates it from the doc comment of the type %s", ts.Name.Name),
				"move it into that comment (as its last line, by convention)"
		}
		if gd.Lparen.IsValid() && len(gd.Specs) > 1 {
			break
		}
		if fset.Position(decl.Pos()).Line > end+1 {
			return fmt.Sprintf("a blank line separates it from the type %s, so it is not the type's doc comment", ts.Name.Name),
				"remove the blank line"
		}
		break
	}
	return "it is not in the doc comment of a type declaration",
		"put it in the doc comment directly above the struct type to store, with no blank line between"
}

// checkOptionRepeated reports an option given twice in one directive, at
// its second occurrence.
func (b *builder) checkOptionRepeated(typeName, word string, pos token.Pos, seen map[string]token.Pos) bool {
	key, _, _ := strings.Cut(word, "=")
	if prev, dup := seen[key]; dup {
		b.errorf(pos, "%s: the option %s= is given twice (first at %s); keep one", typeName, key, b.pkg.Fset.Position(prev))
		return true
	}
	seen[key] = pos
	return false
}

// checkBucket reports a store whose bucket another store of the package
// already uses: their records would share one namespace in the backend.
func (b *builder) checkBucket(st *templates.Store, a annotated, buckets map[string]annotated) {
	prev, dup := buckets[st.Bucket]
	if !dup {
		buckets[st.Bucket] = a
		return
	}
	how := "bucket=" + st.Bucket
	if !explicitBucket(a.options) {
		how = "the default bucket " + st.Bucket + " (the type name in snake_case)"
	}
	b.errorf(a.dirPos, "%s: %s is also the bucket of %s's store, at %s: the two stores would read and overwrite each other's records; give one of them its own bucket with bucket=NAME",
		a.spec.Name.Name, how, prev.spec.Name.Name, b.pkg.Fset.Position(prev.dirPos))
}

func explicitBucket(options string) bool {
	for _, w := range splitOptions(options) {
		if strings.HasPrefix(w.text, "bucket=") {
			return true
		}
	}
	return false
}

// StoreInfo describes one generated store, for livedictgen -v.
type StoreInfo struct {
	Type   string // the annotated type, qualified by its package path
	Store  string // the generated store type
	Key    string // the key type
	Bucket string
	TTL    time.Duration // 0: none
	Idle   time.Duration // 0: none (idle=)
	Output string        // the generated file, absolute
}

func storeInfos(f outFile) []StoreInfo {
	out := make([]StoreInfo, 0, len(f.model.Stores))
	for _, st := range f.model.Stores {
		key := st.Key.Signature()
		if st.Key.Named != nil {
			key = st.Key.Named.Name + " (" + key + ")"
		}
		out = append(out, StoreInfo{
			Type: f.model.PkgPath + "." + st.TypeName, Store: st.StoreName, Key: key,
			Bucket: st.Bucket, TTL: st.TTL, Idle: st.Idle, Output: f.path,
		})
	}
	return out
}

func sortDiagnostics(ds Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool { return posLess(ds[i].Pos, ds[j].Pos) })
}
