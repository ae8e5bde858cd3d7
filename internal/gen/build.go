package gen

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/livedict/livedict/templates"
)

// Directive is the comment that marks a type for livedictgen.
const Directive = "//livedict:store"

type outFile struct {
	path  string
	model *templates.File
}

// annotated is one type to generate a store for, before its model is built.
type annotated struct {
	spec    *ast.TypeSpec
	file    string // source file path
	dirPos  token.Pos
	options string // the directive's text after its name
	dirText string
}

// builder turns one loaded package into models, collecting diagnostics.
type builder struct {
	pkg     *packages.Package
	diags   Diagnostics
	structs map[string]*templates.Struct // by Struct.ID
	order   []string                     // struct IDs in the order first needed
	imports map[string]string
	ids     typeutil.Map      // struct type -> its Struct.ID
	failed  map[string]string // Struct.ID -> why a struct of another package cannot be stored
	// errorsOf returns the errors of the package at a path (nil: unknown).
	errorsOf func(path string) []packages.Error
}

func newBuilder(pkg *packages.Package) *builder {
	return &builder{pkg: pkg, structs: map[string]*templates.Struct{}, imports: map[string]string{}, failed: map[string]string{}}
}

func buildPackage(pkg *packages.Package, only []string, errorsOf func(string) []packages.Error) ([]outFile, Diagnostics) {
	b := newBuilder(pkg)
	b.errorsOf = errorsOf
	targets := b.find(only)
	if len(b.diags) > 0 || len(targets) == 0 {
		return nil, b.diags
	}
	b.compileErrors(targets)
	if len(b.diags) > 0 {
		return nil, b.diags
	}
	type storeAt struct {
		store *templates.Store
		file  string
		needs []string
	}
	var stores []storeAt
	names := map[string]token.Pos{}
	buckets := map[string]annotated{}
	for _, a := range targets {
		st := b.store(a)
		if st == nil {
			continue
		}
		b.checkBucket(st, a, buckets)
		for _, n := range append(templates.DeclaredNames(st), helperNames(st.TypeName)...) {
			if prev, dup := names[n]; dup {
				b.errorf(a.dirPos, "%s: the generated name %s is also generated for the type at %s; set name= to tell the stores apart",
					a.spec.Name.Name, n, b.pkg.Fset.Position(prev))
				continue
			}
			names[n] = a.dirPos
			if obj := pkg.Types.Scope().Lookup(n); obj != nil {
				b.errorf(a.dirPos, "%s: the generated name %s collides with the %s declared at %s; choose another store name with name=",
					a.spec.Name.Name, n, objKind(obj), b.pkg.Fset.Position(obj.Pos()))
			}
		}
		before := len(b.order)
		b.structOf(a.spec.Name.Name, a.spec.Name.Pos())
		stores = append(stores, storeAt{st, a.file, append([]string{}, b.order[before:]...)})
	}
	if len(b.diags) > 0 {
		return nil, b.diags
	}
	byFile := map[string]*templates.File{}
	var paths []string
	for _, s := range stores {
		f := byFile[s.file]
		if f == nil {
			f = &templates.File{PkgName: pkg.Name, PkgPath: pkg.PkgPath, Imports: b.imports}
			byFile[s.file] = f
			paths = append(paths, s.file)
		}
		f.Stores = append(f.Stores, s.store)
		for _, name := range s.needs {
			f.Structs = append(f.Structs, b.structs[name])
		}
	}
	for n := range b.structs {
		for _, h := range helperNames(n) {
			if obj := pkg.Types.Scope().Lookup(h); obj != nil {
				b.errorf(obj.Pos(), "%s collides with a function livedictgen generates for %s; rename it", h, n)
			}
		}
	}
	if len(b.diags) > 0 {
		return nil, b.diags
	}
	sort.Strings(paths)
	out := make([]outFile, 0, len(paths))
	for _, p := range paths {
		out = append(out, outFile{path: outputPath(p), model: byFile[p]})
	}
	return out, nil
}

func helperNames(typeName string) []string {
	return []string{"livedictAppend" + typeName, "livedictDecode" + typeName, "livedictClone" + typeName}
}

func objKind(obj types.Object) string {
	switch obj.(type) {
	case *types.TypeName:
		return "type"
	case *types.Func:
		return "function"
	case *types.Var:
		return "variable"
	case *types.Const:
		return "constant"
	}
	return "name"
}

func (b *builder) errorf(pos token.Pos, format string, args ...any) {
	b.diags = append(b.diags, Diagnostic{Pos: b.pkg.Fset.Position(pos), Msg: "livedictgen: " + fmt.Sprintf(format, args...)})
}

// find returns the annotated types in source order, or those named by -type.
func (b *builder) find(only []string) []annotated {
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var out []annotated
	for _, f := range b.pkg.Syntax {
		path := b.pkg.Fset.Position(f.Package).Filename
		if strings.HasSuffix(path, Suffix) {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := typeSpecDoc(gd, ts)
				a := annotated{spec: ts, file: path}
				found := false
				// The directive is directive-shaped, so CommentGroup.Text
				// drops it: read the raw list.
				if doc != nil {
					for _, c := range doc.List {
						if isDirective(c.Text) {
							if found {
								b.errorf(c.Slash, "%s has two %s directives; keep one", ts.Name.Name, Directive)
							}
							found = true
							a.dirPos, a.dirText = c.Slash, c.Text
							a.options = c.Text[len(Directive):]
						} else if _, _, near := nearMiss(c.Text); !near && strings.HasPrefix(c.Text, "//livedict:") {
							// A near miss (//livedict: store) is a warning: see directiveWarnings.
							b.errorf(c.Slash, "unknown directive %q; the directive is %s", strings.Fields(c.Text)[0], Directive)
						}
					}
				}
				if len(only) > 0 {
					if !want[ts.Name.Name] {
						continue
					}
					delete(want, ts.Name.Name)
					if !found {
						a.dirPos = ts.Name.Pos()
					}
				} else if !found {
					continue
				}
				out = append(out, a)
			}
		}
	}
	for n := range want {
		b.diags = append(b.diags, Diagnostic{Msg: fmt.Sprintf("livedictgen: -type %s: no such type in package %s", n, b.pkg.PkgPath)})
	}
	return out
}

// compileErrors reports the package's type errors that fall inside an
// annotated type: those make its model wrong. Other errors (code that uses
// the not yet generated store, say) do not stop generation.
func (b *builder) compileErrors(targets []annotated) {
	parseFailed := map[string]bool{}
	for _, e := range b.pkg.Errors {
		pos := parsePos(e.Pos)
		for _, a := range targets {
			start, end := b.pkg.Fset.Position(a.spec.Pos()), b.pkg.Fset.Position(a.spec.End())
			if pos.Filename == start.Filename && pos.Line >= start.Line && pos.Line <= end.Line {
				b.diags = append(b.diags, Diagnostic{Pos: pos, Msg: fmt.Sprintf("livedictgen: %s does not compile: %s%s", a.spec.Name.Name, e.Msg, b.tagsHint(e.Msg))})
			}
		}
		// The parser reports a cascade after the first error; the first
		// of each file is the one to fix.
		if e.Kind == packages.ParseError && !parseFailed[pos.Filename] {
			parseFailed[pos.Filename] = true
			b.diags = append(b.diags, Diagnostic{Pos: pos, Msg: "livedictgen: syntax error: " + e.Msg})
		}
	}
}

// tagsHint suggests -tags when a name is undefined and the package has
// files that build constraints left out: go generate does not pass build
// tags on, so the name may live in one of them.
func (b *builder) tagsHint(msg string) string {
	if !strings.HasPrefix(msg, "undefined:") || len(b.pkg.IgnoredFiles) == 0 {
		return ""
	}
	names := make([]string, len(b.pkg.IgnoredFiles))
	for i, f := range b.pkg.IgnoredFiles {
		names[i] = filepath.Base(f)
	}
	return fmt.Sprintf(" (build constraints leave out %s; if it is declared there, run livedictgen with -tags)", strings.Join(names, ", "))
}

// parsePos reads the "file:line:col" of a packages.Error.
func parsePos(s string) token.Position {
	var p token.Position
	parts := strings.Split(s, ":")
	if len(parts) >= 3 {
		fmt.Sscan(parts[len(parts)-2], &p.Line)
		fmt.Sscan(parts[len(parts)-1], &p.Column)
		p.Filename = strings.Join(parts[:len(parts)-2], ":")
	} else if len(parts) == 2 {
		fmt.Sscan(parts[1], &p.Line)
		p.Filename = parts[0]
	}
	return p
}

// store builds the store model of a, from its directive options.
func (b *builder) store(a annotated) *templates.Store {
	name := a.spec.Name.Name
	if a.spec.TypeParams != nil {
		b.errorf(a.spec.Name.Pos(), "%s is a generic type; a store needs a concrete one: annotate a non-generic struct type instead", name)
		return nil
	}
	obj, _ := b.pkg.TypesInfo.Defs[a.spec.Name].(*types.TypeName)
	if obj == nil {
		b.errorf(a.spec.Name.Pos(), "%s has no type information", name)
		return nil
	}
	if obj.IsAlias() {
		b.errorf(a.spec.Name.Pos(), "%s is an alias; annotate the struct type it names", name)
		return nil
	}
	if _, ok := obj.Type().Underlying().(*types.Struct); !ok {
		b.errorf(a.spec.Name.Pos(), "%s is a %s, not a struct; a store holds struct values", name, obj.Type().Underlying())
		return nil
	}
	st := &templates.Store{
		TypeName:  name,
		StoreName: name + "Store",
		Key:       &templates.Type{Kind: templates.String},
		Bucket:    snake(name),
	}
	// Options are key=value words; each error points at its own word.
	seen := map[string]token.Pos{}
	for _, w := range splitOptions(a.options) {
		pos := a.dirPos + token.Pos(len(Directive)+w.offset)
		if b.checkOptionRepeated(name, w.text, pos, seen) {
			continue
		}
		b.option(st, w.text, pos)
	}
	return st
}

// optionWord is one word of a directive's options, with its byte offset
// in the options text, so that an error can point at it.
type optionWord struct {
	text   string
	offset int
}

// splitOptions splits the text after the directive's name into words
// separated by spaces and tabs.
func splitOptions(opts string) []optionWord {
	var words []optionWord
	for i := 0; i < len(opts); {
		if opts[i] == ' ' || opts[i] == '\t' {
			i++
			continue
		}
		end := i
		for end < len(opts) && opts[end] != ' ' && opts[end] != '\t' {
			end++
		}
		words = append(words, optionWord{opts[i:end], i})
		i = end
	}
	return words
}

func (b *builder) option(st *templates.Store, word string, pos token.Pos) {
	key, val, ok := strings.Cut(word, "=")
	if !ok || val == "" {
		b.errorf(pos, "%s: option %q needs a value: key=TYPE, name=StoreName, ttl=DURATION, idle=DURATION, bucket=NAME or copy=false", st.TypeName, word)
		return
	}
	switch key {
	case "key":
		st.Key = b.keyType(st.TypeName, val, pos)
	case "name":
		if !token.IsIdentifier(val) || !token.IsExported(val) {
			b.errorf(pos, "%s: name=%s is not an exported Go identifier", st.TypeName, val)
			return
		}
		st.StoreName = val
	case "ttl", "idle":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			b.errorf(pos, "%s: %s=%s is not a positive duration; write it as time.ParseDuration does, e.g. %s=30m or %s=1h30m", st.TypeName, key, val, key, key)
			return
		}
		if key == "ttl" && st.Idle > 0 || key == "idle" && st.TTL > 0 {
			b.errorf(pos, "%s: ttl= and idle= both set the default expiry; give one (ttl= for a fixed TTL, idle= for values that expire after a time without reads)", st.TypeName)
			return
		}
		if key == "ttl" {
			st.TTL = d
		} else {
			st.Idle = d
		}
	case "bucket":
		if len(val) > 200 {
			b.errorf(pos, "%s: bucket=%s is longer than 200 bytes", st.TypeName, val)
			return
		}
		st.Bucket = val
	case "copy":
		switch val {
		case "true":
		case "false":
			st.NoCopies = true
		default:
			b.errorf(pos, "%s: copy=%s: write copy=false to share values instead of copying them (livedict.WithoutCopies), or leave the option out", st.TypeName, val)
		}
	default:
		b.errorf(pos, "%s: unknown option %q; the options are key=, name=, ttl=, idle=, bucket= and copy=", st.TypeName, key)
	}
}

// keyType resolves key=TYPE: a type named in this package, in the universe,
// or as pkg.Type in a package this package imports (by name or path),
// whose underlying type is string or an integer, a [N]byte array, or a
// comparable type with MarshalText and UnmarshalText.
func (b *builder) keyType(typeName, name string, pos token.Pos) *templates.Type {
	fallback := &templates.Type{Kind: templates.String}
	tn, msg := b.lookupType(name)
	if msg != "" {
		b.errorf(pos, "%s: key=%s: %s", typeName, name, msg)
		return fallback
	}
	t, msg := b.key(tn.Type())
	if msg != "" {
		b.errorf(pos, "%s: key=%s is %s; a key is a string or integer type (of any package), a [N]byte array, or a comparable type with MarshalText and UnmarshalText", typeName, name, msg)
		return fallback
	}
	return t
}

// lookupType finds the type a directive names.
func (b *builder) lookupType(name string) (*types.TypeName, string) {
	var obj types.Object
	if dot := strings.LastIndex(name, "."); dot < 0 {
		if obj = types.Universe.Lookup(name); obj == nil {
			obj = b.pkg.Types.Scope().Lookup(name)
		}
	} else {
		qual, short := name[:dot], name[dot+1:]
		var from *types.Package
		for _, p := range b.pkg.Types.Imports() {
			if p.Path() == qual || p.Name() == qual {
				from = p
				break
			}
		}
		if from == nil {
			return nil, fmt.Sprintf("this package imports no package %s; the package must import the key's package (a file of it that uses the type, or declares var _ %s)", qual, name)
		}
		if obj = from.Scope().Lookup(short); obj != nil && !obj.Exported() {
			obj = nil
		}
	}
	tn, ok := obj.(*types.TypeName)
	if !ok {
		return nil, "no such type (a type of this package, a predeclared one, or pkg.Type of an imported package)"
	}
	return tn, ""
}

// key is the model of a key type, or why t cannot be one.
func (b *builder) key(t types.Type) (*templates.Type, string) {
	if !types.Comparable(t) {
		return nil, "not comparable"
	}
	var ref *templates.Name
	named, _ := types.Unalias(t).(*types.Named)
	if named != nil {
		ref = b.nameOf(named)
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		if k, ok := basicKinds[u.Kind()]; ok && validKey(k) {
			return &templates.Type{Kind: k, Named: ref}, ""
		}
	case *types.Array:
		if e, ok := types.Unalias(u.Elem()).(*types.Basic); ok && e.Kind() == types.Uint8 {
			if named != nil && hasMarshaler(named, "MarshalText", "UnmarshalText") {
				return &templates.Type{Kind: templates.TextMarshaler, Named: ref}, "" // uuid.UUID: its canonical text
			}
			return &templates.Type{Kind: templates.Array, Len: u.Len(), Elem: &templates.Type{Kind: templates.Uint8}, Named: ref}, ""
		}
	}
	if named != nil && hasMarshaler(named, "MarshalText", "UnmarshalText") {
		return &templates.Type{Kind: templates.TextMarshaler, Named: ref}, ""
	}
	return nil, "a " + types.TypeString(t.Underlying(), b.qualifier)
}

func validKey(k templates.Kind) bool {
	switch k {
	case templates.String, templates.Int, templates.Int8, templates.Int16, templates.Int32, templates.Int64,
		templates.Uint, templates.Uint8, templates.Uint16, templates.Uint32, templates.Uint64, templates.Uintptr:
		return true
	}
	return false
}

// structOf builds (once) the model of the package's struct type name, and
// of every struct type it needs, recording them in first-need order.
func (b *builder) structOf(name string, pos token.Pos) {
	obj, _ := b.pkg.Types.Scope().Lookup(name).(*types.TypeName)
	if obj == nil {
		b.errorf(pos, "%s: no such type", name)
		return
	}
	named, _ := obj.Type().(*types.Named)
	if named == nil {
		b.errorf(pos, "%s is not a struct", name)
		return
	}
	b.structFor(named)
}

// structFor builds (once) the model of a struct type, of this package or
// another, and returns its name with the ID of its generated helpers. The
// fields of a struct of this package that cannot be stored are reported
// where they are declared; a struct of another package cannot be edited
// by the user, so why it cannot be stored is returned instead, to be
// reported at the user's field that holds it.
func (b *builder) structFor(named *types.Named) (*templates.Name, string) {
	ref := b.nameOf(named)
	if id, ok := b.ids.At(named).(string); ok {
		ref.ID = id
		return ref, b.failed[id]
	}
	ref.ID = b.newID(named)
	b.ids.Set(named, ref.ID)
	local := named.Obj().Pkg() == b.pkg.Types
	s := &templates.Struct{ID: ref.ID, Type: &templates.Name{Path: ref.Path, Name: ref.Name, Args: ref.Args}}
	b.structs[s.ID] = s // before the fields: recursive types end here
	b.order = append(b.order, s.ID)
	fail := func(format string, args ...any) (*templates.Name, string) {
		msg := fmt.Sprintf(format, args...)
		b.failed[s.ID] = msg
		return ref, msg
	}
	st := named.Underlying().(*types.Struct)
	typeName := types.TypeString(named, b.qualifier)
	if local {
		b.checkLocks(typeName, st)
	} else if holdsLock(named, map[types.Type]bool{}) {
		return fail("%s holds a lock, which the generated store would copy (go vet's copylocks forbids it)", typeName)
	}
	wires := map[string]token.Pos{}
	for i := range st.NumFields() {
		f := st.Field(i)
		if f.Name() == "_" {
			continue
		}
		tag, hasTag := reflect.StructTag(st.Tag(i)).Lookup("livedict")
		if tag == "-" {
			if local || f.Exported() {
				s.Skipped = append(s.Skipped, f.Name())
			}
			continue
		}
		if !local && !f.Exported() {
			return fail("%s has the unexported field %s, which code outside package %s cannot read or set, and no marshaler (encoding.BinaryMarshaler or TextMarshaler)",
				typeName, f.Name(), named.Obj().Pkg().Name())
		}
		wire := f.Name()
		if hasTag && tag != "" {
			wire = strings.Split(tag, ",")[0]
		}
		if prev, dup := wires[wire]; dup {
			if !local {
				return fail("%s.%s: wire name %q is used by another field of it too", typeName, f.Name(), wire)
			}
			b.errorf(f.Pos(), "%s.%s: wire name %q is already used by the field at %s; give one of them another name with a `livedict:\"name\"` tag",
				typeName, f.Name(), wire, b.pkg.Fset.Position(prev))
			continue
		}
		wires[wire] = f.Pos()
		t, msg := b.mapType(f.Type(), f.Pos)
		if msg != "" {
			if !local {
				return fail("%s.%s: %s", typeName, f.Name(), msg)
			}
			b.errorf(f.Pos(), "%s.%s: %s; skip the field with a `livedict:\"-\"` tag, or give it a supported type", typeName, f.Name(), msg)
			continue
		}
		s.Fields = append(s.Fields, &templates.Field{Name: f.Name(), Wire: wire, Type: t})
	}
	return ref, ""
}

// nameOf is the model of a defined type's name: unqualified in this
// package, with its type arguments.
func (b *builder) nameOf(named *types.Named) *templates.Name {
	obj := named.Obj()
	ref := &templates.Name{Name: obj.Name()}
	if obj.Pkg() != nil && obj.Pkg() != b.pkg.Types {
		ref.Path = obj.Pkg().Path()
		b.imports[ref.Path] = obj.Pkg().Name()
	}
	for i := range named.TypeArgs().Len() {
		arg, msg := b.mapType(named.TypeArgs().At(i), nil)
		if msg != "" {
			arg = &templates.Type{Kind: templates.String} // reported where the type is used
		}
		ref.Args = append(ref.Args, arg)
	}
	return ref
}

// newID names the generated helpers of a struct type: its name for a
// non-generic struct of this package, else its package name, name and
// type arguments (v1_ObjectMeta, sql_Null_string), made unique.
func (b *builder) newID(named *types.Named) string {
	id := named.Obj().Name()
	if named.Obj().Pkg() != b.pkg.Types || named.TypeArgs().Len() > 0 {
		qual := func(p *types.Package) string {
			if p == b.pkg.Types {
				return ""
			}
			return p.Name()
		}
		id = strings.Trim(nonIdent.ReplaceAllString(types.TypeString(named, qual), "_"), "_")
	}
	base := id
	for n := 2; b.structs[id] != nil; n++ {
		id = fmt.Sprintf("%s_%d", base, n)
	}
	return id
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9]+`)

// mapType returns the serializer's view of t, or why t is not supported.
// pos, when set, is where to report nested struct problems.
func (b *builder) mapType(t types.Type, pos func() token.Pos) (*templates.Type, string) {
	t = types.Unalias(t)
	if named, ok := t.(*types.Named); ok {
		if invalid(named.Underlying()) {
			return nil, b.whyInvalid(named, 0)
		}
		obj := named.Obj()
		path := ""
		if obj.Pkg() != nil {
			path = obj.Pkg().Path()
		}
		if path == "time" && obj.Name() == "Time" {
			b.imports["time"] = "time"
			return &templates.Type{Kind: templates.Time}, ""
		}
		if path == "time" && obj.Name() == "Duration" {
			b.imports["time"] = "time"
			return &templates.Type{Kind: templates.Duration}, ""
		}
		if hasMarshaler(named, "MarshalBinary", "UnmarshalBinary") {
			return &templates.Type{Kind: templates.BinaryMarshaler, Named: b.nameOf(named), Refs: holdsRefs(named.Underlying())}, ""
		}
		if hasMarshaler(named, "MarshalText", "UnmarshalText") {
			return &templates.Type{Kind: templates.TextMarshaler, Named: b.nameOf(named), Refs: holdsRefs(named.Underlying())}, ""
		}
		switch named.Underlying().(type) {
		case *types.Struct:
			ref, msg := b.structFor(named)
			if msg != "" {
				return nil, msg
			}
			return &templates.Type{Kind: templates.Nested, Named: ref}, ""
		case *types.Interface:
			return nil, fmt.Sprintf("%s is an interface; a store needs concrete types", types.TypeString(t, b.qualifier))
		}
		inner, msg := b.mapType(named.Underlying(), pos)
		if msg != "" {
			return nil, msg
		}
		cp := *inner
		cp.Named = b.nameOf(named)
		return &cp, ""
	}
	switch u := t.(type) {
	case *types.Basic:
		if k, ok := basicKinds[u.Kind()]; ok {
			return &templates.Type{Kind: k}, ""
		}
		if invalid(u) {
			return nil, b.whyInvalid(u, 0)
		}
		return nil, fmt.Sprintf("%s values are not supported", u)
	case *types.Pointer:
		elem, msg := b.mapType(u.Elem(), pos)
		if msg != "" {
			return nil, msg
		}
		return &templates.Type{Kind: templates.Pointer, Elem: elem}, ""
	case *types.Slice:
		if basic, ok := types.Unalias(u.Elem()).(*types.Basic); ok && basic.Kind() == types.Uint8 {
			return &templates.Type{Kind: templates.Bytes}, ""
		}
		elem, msg := b.mapType(u.Elem(), pos)
		if msg != "" {
			return nil, msg
		}
		return &templates.Type{Kind: templates.Slice, Elem: elem}, ""
	case *types.Array:
		elem, msg := b.mapType(u.Elem(), pos)
		if msg != "" {
			return nil, msg
		}
		return &templates.Type{Kind: templates.Array, Elem: elem, Len: u.Len()}, ""
	case *types.Map:
		key, msg := b.mapType(u.Key(), pos)
		if msg != "" {
			return nil, msg
		}
		elem, msg := b.mapType(u.Elem(), pos)
		if msg != "" {
			return nil, msg
		}
		return &templates.Type{Kind: templates.Map, Key: key, Elem: elem}, ""
	case *types.Struct:
		return nil, "anonymous struct types are not supported; declare a named struct type"
	case *types.Chan:
		return nil, fmt.Sprintf("channels (%s) cannot be stored", types.TypeString(t, b.qualifier))
	case *types.Signature:
		return nil, fmt.Sprintf("functions (%s) cannot be stored", types.TypeString(t, b.qualifier))
	case *types.Interface:
		return nil, fmt.Sprintf("interfaces (%s) cannot be stored: the serializer needs concrete types", types.TypeString(t, b.qualifier))
	}
	return nil, fmt.Sprintf("%s is not supported", types.TypeString(t, b.qualifier))
}

func invalid(t types.Type) bool {
	basic, ok := t.(*types.Basic)
	return ok && basic.Kind() == types.Invalid
}

// whyInvalid explains a type that does not type-check where compileErrors
// has not: a type declared elsewhere in the package, or in a dependency
// that does not compile, or behind an import that fails.
func (b *builder) whyInvalid(t types.Type, depth int) string {
	named, ok := t.(*types.Named)
	if !ok {
		// An invalid type whose error is outside the annotated types: the
		// likely cause is an import that failed.
		for _, e := range b.pkg.Errors {
			if path, ok := strings.CutPrefix(e.Msg, "could not import "); ok {
				path, _, _ = strings.Cut(path, " ")
				return fmt.Sprintf("its type does not compile: %s: the import of %s fails: %s", e.Pos, path, b.firstError(path))
			}
		}
		return "its type does not compile"
	}
	obj := named.Obj()
	name := types.TypeString(named, b.qualifier)
	if p := obj.Pkg(); p != nil && p != b.pkg.Types {
		return fmt.Sprintf("its type %s comes from package %s, which does not compile: %s", name, p.Path(), b.firstError(p.Path()))
	}
	msg := fmt.Sprintf("its type %s, declared at %s, does not compile", name, b.pkg.Fset.Position(obj.Pos()))
	spec := b.specOf(obj)
	if spec == nil {
		return msg
	}
	start, end := b.pkg.Fset.Position(spec.Pos()), b.pkg.Fset.Position(spec.End())
	for _, e := range b.pkg.Errors {
		if pos := parsePos(e.Pos); pos.Filename == start.Filename && pos.Line >= start.Line && pos.Line <= end.Line {
			return fmt.Sprintf("its type %s does not compile: %s: %s", name, e.Pos, e.Msg)
		}
	}
	// No error of its own: it is declared over a broken type. The depth
	// bounds a chain of such declarations.
	if tv, ok := b.pkg.TypesInfo.Types[spec.Type]; ok && tv.Type != named && depth < 8 {
		return b.whyInvalid(types.Unalias(tv.Type), depth+1)
	}
	return msg
}

// firstError is the first error to fix of the package at path: a
// positioned one if there is one, on one line.
func (b *builder) firstError(path string) string {
	var errs []packages.Error
	if b.errorsOf != nil {
		errs = b.errorsOf(path)
	}
	if len(errs) == 0 {
		return "build it to see why"
	}
	e := errs[0]
	for _, pe := range errs {
		if pe.Pos != "" {
			e = pe
			break
		}
	}
	msg := strings.Join(strings.Fields(e.Msg), " ")
	if e.Pos != "" {
		msg = e.Pos + ": " + msg
	}
	return msg
}

// specOf returns the declaration of a type of the package.
func (b *builder) specOf(obj types.Object) *ast.TypeSpec {
	for _, f := range b.pkg.Syntax {
		if obj.Pos() < f.FileStart || obj.Pos() > f.FileEnd {
			continue
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				for _, spec := range gd.Specs {
					if ts := spec.(*ast.TypeSpec); ts.Name.Pos() == obj.Pos() {
						return ts
					}
				}
			}
		}
	}
	return nil
}

func (b *builder) qualifier(p *types.Package) string {
	if p == b.pkg.Types {
		return ""
	}
	return p.Name()
}

var basicKinds = map[types.BasicKind]templates.Kind{
	types.Bool: templates.Bool, types.Int: templates.Int, types.Int8: templates.Int8, types.Int16: templates.Int16,
	types.Int32: templates.Int32, types.Int64: templates.Int64, types.Uint: templates.Uint, types.Uint8: templates.Uint8,
	types.Uint16: templates.Uint16, types.Uint32: templates.Uint32, types.Uint64: templates.Uint64,
	types.Uintptr: templates.Uintptr, types.Float32: templates.Float32, types.Float64: templates.Float64,
	types.String: templates.String,
}

// hasMarshaler reports whether values of named go through its marshal and
// unmarshal methods (marshal on T or *T, unmarshal on *T, as the
// interfaces of package encoding need). Methods promoted from an embedded
// field count only when, at every level of embedding down to the type the
// methods come from, that field is all the struct stores: otherwise the
// marshaler would write the embedded value alone and lose the fields the
// structs add (struct { time.Time; By string }); and never through an
// embedded pointer, which may be nil.
func hasMarshaler(named *types.Named, marshal, unmarshal string) bool {
	ms := types.NewMethodSet(types.NewPointer(named))
	m, u := ms.Lookup(nil, marshal), ms.Lookup(nil, unmarshal)
	if m == nil || u == nil {
		return false
	}
	if len(m.Index()) == 1 && len(u.Index()) == 1 {
		return true // its own methods
	}
	mp, up := m.Index(), u.Index()
	if len(mp) != len(up) || len(mp) == 1 {
		return false
	}
	var t types.Type = named
	for level, via := range mp[:len(mp)-1] {
		if up[level] != via {
			return false
		}
		st, ok := t.Underlying().(*types.Struct)
		if !ok {
			return false
		}
		for i := range st.NumFields() {
			f := st.Field(i)
			if i == via || f.Name() == "_" || reflect.StructTag(st.Tag(i)).Get("livedict") == "-" {
				continue
			}
			return false // a stored field besides the one the methods come from
		}
		t = st.Field(via).Type()
		if _, ptr := t.Underlying().(*types.Pointer); ptr {
			return false // a nil embedded pointer has no value to marshal
		}
	}
	return true
}

// holdsRefs reports whether a value of t shares memory when copied by
// assignment, so that its deep copy needs more than an assignment.
func holdsRefs(t types.Type) bool {
	switch u := t.Underlying().(type) {
	case *types.Pointer, *types.Slice, *types.Map, *types.Chan, *types.Signature, *types.Interface:
		return true
	case *types.Array:
		return holdsRefs(u.Elem())
	case *types.Struct:
		for i := range u.NumFields() {
			if holdsRefs(u.Field(i).Type()) {
				return true
			}
		}
	}
	return false
}

// snake turns a Go type name into a bucket name: HTTPSession -> http_session.
func snake(name string) string {
	rs := []rune(name)
	var out []rune
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				out = append(out, '_')
			}
		}
		out = append(out, unicode.ToLower(r))
	}
	return string(out)
}
