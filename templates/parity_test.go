package templates

import (
	"go/ast"
	"go/types"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestMethodParity checks that the engine's store, the method list the
// emitter writes wrappers from (storeMethods) and the wrappers generated in
// generated_example agree: the same names, identical signatures, the same
// doc. The wrappers of CounterStore stand for every generated store; the
// drift check keeps them current with the emitter.
func TestMethodParity(t *testing.T) {
	const (
		enginePath  = "github.com/livedict/livedict/internal/engine"
		examplePath = "github.com/livedict/livedict/generated_example"
	)
	pkgs, err := packages.Load(&packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo,
		Dir:  "..",
	}, enginePath, examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("packages do not load")
	}
	byPath := map[string]*packages.Package{}
	for _, p := range pkgs {
		byPath[p.PkgPath] = p
	}
	engine, example := byPath[enginePath], byPath[examplePath]

	table := storeMethods(&Store{TypeName: "Counter", StoreName: "CounterStore", Key: &Type{Kind: Int64}})
	var names, asyncNames []string
	for _, m := range table {
		names = append(names, m.name)
		if m.future != nil {
			asyncNames = append(asyncNames, m.name)
		}
	}
	docs := map[string]string{"ForKey": forKeyDoc, "Async": asyncDoc}
	for _, m := range table {
		docs[m.name] = m.doc
	}
	asyncDocs := map[string]string{}
	for _, n := range asyncNames {
		asyncDocs[n] = asyncMethodDoc(n)
	}

	wrapper := example.Types.Scope().Lookup("CounterStore").Type().(*types.Named)
	asyncWrapper := example.Types.Scope().Lookup("CounterStoreAsync").Type().(*types.Named)
	// The engine's types as the generated file sees them, instantiated
	// with its key and value types.
	core := fieldType(t, wrapper, "s")
	asyncCore := fieldType(t, asyncWrapper, "a")

	check := func(t *testing.T, recv, coreRecv *types.Named, coreName string, names []string, docs map[string]string, wrapperOnly ...string) {
		wantCore := append(slices.Clone(names), wrapperOnly...)
		wantCore = slices.DeleteFunc(wantCore, func(n string) bool { return n == "ForKey" })
		if got := methodNames(coreRecv); !equalSets(got, wantCore) {
			t.Errorf("engine %s methods %v, the emitter's list %v", coreName, got, wantCore)
		}
		if got, want := methodNames(recv), append(slices.Clone(names), wrapperOnly...); !equalSets(got, want) {
			t.Errorf("generated %s methods %v, the emitter's list %v", recv.Obj().Name(), got, want)
		}
		wrapperDocs := methodDocs(example, recv.Obj().Name())
		coreDocs := methodDocs(engine, coreName)
		for _, name := range names {
			if !slices.Contains(wrapperOnly, name) {
				ws, cs := signature(recv, name), signature(coreRecv, name)
				if ws == nil || cs == nil {
					continue // reported above
				}
				if !types.Identical(ws.Params(), cs.Params()) || !types.Identical(ws.Results(), cs.Results()) || ws.Variadic() != cs.Variadic() {
					t.Errorf("%s: generated %v, engine %v", name, ws, cs)
				}
			}
			want := name + " " + docs[name]
			if got := wrapperDocs[name]; got != flat(want) {
				t.Errorf("doc of the generated %s.%s:\n got %q\nwant %q", recv.Obj().Name(), name, got, flat(want))
			}
			if slices.Contains(wrapperOnly, name) && name == "ForKey" {
				continue
			}
			if got := coreDocs[name]; got != flat(want) {
				t.Errorf("doc of the engine's %s.%s:\n got %q\nwant %q", coreName, name, got, flat(want))
			}
		}
	}
	t.Run("Store", func(t *testing.T) {
		check(t, wrapper, core, "Store", append(slices.Clone(names), "Async", "ForKey"), docs, "Async", "ForKey")
	})
	t.Run("AsyncStore", func(t *testing.T) {
		check(t, asyncWrapper, asyncCore, "AsyncStore", asyncNames, asyncDocs)
	})
}

// fieldType is the named type behind the pointer field of a wrapper.
func fieldType(t *testing.T, n *types.Named, field string) *types.Named {
	t.Helper()
	st := n.Underlying().(*types.Struct)
	for i := range st.NumFields() {
		if f := st.Field(i); f.Name() == field {
			return types.Unalias(f.Type().(*types.Pointer).Elem()).(*types.Named)
		}
	}
	t.Fatalf("%s has no field %s", n.Obj().Name(), field)
	return nil
}

func methodNames(n *types.Named) []string {
	ms := types.NewMethodSet(types.NewPointer(n))
	var names []string
	for i := range ms.Len() {
		if ms.At(i).Obj().Exported() {
			names = append(names, ms.At(i).Obj().Name())
		}
	}
	return names
}

func signature(n *types.Named, name string) *types.Signature {
	obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(n), false, nil, name)
	if fn, ok := obj.(*types.Func); ok {
		return fn.Type().(*types.Signature)
	}
	return nil
}

// methodDocs maps the methods declared on type recv in pkg to their doc
// comments, flattened to one line.
func methodDocs(pkg *packages.Package, recv string) map[string]string {
	docs := map[string]string{}
	for _, f := range pkg.Syntax {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Doc == nil {
				continue
			}
			typ := fd.Recv.List[0].Type
			if s, ok := typ.(*ast.StarExpr); ok {
				typ = s.X
			}
			if ix, ok := typ.(*ast.IndexListExpr); ok {
				typ = ix.X
			}
			if id, ok := typ.(*ast.Ident); ok && id.Name == recv {
				docs[fd.Name.Name] = flat(fd.Doc.Text())
			}
		}
	}
	return docs
}

func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
