package gen

import (
	"go/token"
	"go/types"
	"strings"
)

// The generated store copies values: Set and Get take and return them,
// hooks receive them, and the deep copy of every struct of the package it
// serializes takes and returns one. go vet's copylocks check flags each
// copy of a value that holds a lock, so such a value is an error here, not
// generated code that fails vet.
//
// A lock, as copylocks decides, is a struct type whose pointer has Lock and
// Unlock methods while the type itself does not (sync.Mutex, and the
// noCopy field of sync.WaitGroup, sync.Once, sync.Cond and the sync/atomic
// types), or a struct holding one by value: directly, in an array or in an
// embedded field. A pointer to a lock is not a lock: copying it copies no
// lock.

// locker is the method set that makes a type a lock.
var locker = func() *types.Interface {
	sig := types.NewSignatureType(nil, nil, nil, nil, nil, false)
	iface := types.NewInterfaceType([]*types.Func{
		types.NewFunc(token.NoPos, nil, "Lock", sig),
		types.NewFunc(token.NoPos, nil, "Unlock", sig),
	}, nil)
	return iface.Complete()
}()

// isLock reports whether t itself is a lock: *t has Lock and Unlock, t not.
func isLock(t types.Type) bool {
	if _, ok := t.Underlying().(*types.Struct); !ok {
		return false
	}
	return types.Implements(types.NewPointer(t), locker) && !types.Implements(t, locker)
}

// holdsLock reports whether copying a value of t copies a lock.
func holdsLock(t types.Type, seen map[types.Type]bool) bool {
	t = elemOfArrays(t)
	st, ok := t.Underlying().(*types.Struct)
	if !ok || seen[t] {
		return false
	}
	if isLock(t) {
		return true
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range st.NumFields() {
		if holdsLock(st.Field(i).Type(), seen) {
			return true
		}
	}
	return false
}

func elemOfArrays(t types.Type) types.Type {
	for {
		a, ok := t.Underlying().(*types.Array)
		if !ok {
			return t
		}
		t = a.Elem()
	}
}

// checkLocks reports each lock the struct type name holds by value, at the
// field of this package that holds it, with the path to it from name. A
// field reported once (from an enclosing type) is not reported again when
// its own struct is checked.
func (b *builder) checkLocks(name string, st *types.Struct) {
	if !b.locksIn(name, st, map[types.Type]bool{}) {
		if obj := b.pkg.Types.Scope().Lookup(name); obj != nil && isLock(obj.Type()) {
			b.lockError(obj.Pos(), name, obj.Type())
		}
	}
}

// locksIn walks the fields of st, a struct declared in this package,
// reporting the locks they hold; it reports whether it found any.
func (b *builder) locksIn(path string, st *types.Struct, seen map[types.Type]bool) bool {
	found := false
	for i := range st.NumFields() {
		f := st.Field(i)
		fpath := path + "." + f.Name()
		t := f.Type()
		for {
			a, ok := t.Underlying().(*types.Array)
			if !ok {
				break
			}
			t, fpath = a.Elem(), fpath+"[i]"
		}
		inner, ok := t.Underlying().(*types.Struct)
		if !ok || seen[t] {
			continue
		}
		if inner.NumFields() > 0 && inner.Field(0).Pkg() == b.pkg.Types {
			// The package's own struct: name the field inside that holds
			// the lock, where the fix goes.
			seen[t] = true
			sub := b.locksIn(fpath, inner, seen)
			delete(seen, t)
			if !sub && isLock(t) {
				b.lockError(f.Pos(), fpath, t)
				sub = true
			}
			found = found || sub
			continue
		}
		// A struct of another package (sync.Mutex, atomic.Int64, ...), or
		// an empty one: the type is the lock, however deep its own is.
		if holdsLock(t, map[types.Type]bool{}) {
			b.lockError(f.Pos(), fpath, t)
			found = true
		}
	}
	return found
}

func (b *builder) lockError(pos token.Pos, path string, lock types.Type) {
	p := b.pkg.Fset.Position(pos)
	for _, d := range b.diags {
		if d.Pos == p && strings.Contains(d.Msg, "copylocks") {
			return // reported from an enclosing type
		}
	}
	const why = "the generated store copies the values it stores, and go vet (copylocks) forbids copying a lock"
	lt := types.TypeString(lock, b.qualifier)
	if path == lt {
		// The stored type itself, by its methods.
		b.errorf(pos, "%s has Lock and Unlock methods on its pointer, so go vet (copylocks) takes it for a lock and forbids copying it, "+
			"and the generated store copies the values it stores; move the methods to a type that holds %s by pointer, or store the state in a separate type without them", path, path)
		return
	}
	what := article(lt) + " " + lt
	if named, ok := lock.(*types.Named); ok && named.Obj().Pkg() == b.pkg.Types {
		what += " (its pointer has Lock and Unlock methods)"
	}
	b.errorf(pos, "%s holds %s: %s; keep the lock out of the stored value: hold it by pointer (*%s), or store the state in a separate type without the lock",
		path, what, why, lt)
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an"
	}
	return "a"
}
