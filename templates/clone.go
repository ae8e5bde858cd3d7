package templates

import (
	"github.com/dave/jennifer/jen"
)

// The deep copy: for each struct S of a file,
//
//	func livedictCloneS(v S) S
//
// v is already a copy; the function replaces each field that holds
// references (slices, maps, pointers, []byte, and structs or marshaler
// types holding them) by a copy of its own, keeping nil and empty apart.
// It drops the monotonic clock reading of every time.Time (t.Round(0)) and
// zeroes the fields tagged livedict:"-", so that the memory backend returns
// what SQLite and Redis decode. The other value types are copied with v. A
// pointer cycle makes it recurse without end: values must be trees, as for
// the encoder.

// cloneFuncName names the deep copy of a struct type.
func cloneFuncName(structName string) string { return "livedictClone" + structName }

// structClone returns the declaration of the deep copy of s.
func structClone(file *File, s *Struct) []jen.Code {
	r := refs{file: file}
	var body []jen.Code
	for _, name := range s.Skipped {
		body = append(body, jen.Id("v").Dot(name).Op("=").Add(nameType(s.Type)).Values().Dot(name))
	}
	for _, fd := range s.Fields {
		body = append(body, r.clone(fd.Type, at(jen.Id("v").Dot(fd.Name)), 0)...)
	}
	body = append(body, jen.Return(jen.Id("v")))
	name := cloneFuncName(s.ID)
	return []jen.Code{
		jen.Comment(name + " returns a deep copy of v.").Line().
			Func().Id(name).Params(jen.Id("v").Add(nameType(s.Type))).Add(nameType(s.Type)).Block(body...),
	}
}

// structHasRefs reports whether a copy of s by value is not what the deep
// copy returns: values of s hold references (a copy by value shares memory
// with the original), a time.Time (whose monotonic reading the copy drops)
// or skipped fields (which the copy zeroes). When it is false, the deep copy
// of s is a plain assignment.
func structHasRefs(file *File, s *Struct) bool {
	r := refs{file: file}
	return r.structHas(s.ID)
}

// structShares reports whether values of s hold memory a copy by value
// would share: with structHasRefs true and this false, the deep copy only
// normalizes a value (drops monotonic readings, zeroes skipped fields), and
// a value it returned needs no copy again.
func structShares(file *File, s *Struct) bool {
	r := refs{file: file, sharedOnly: true}
	return r.structHas(s.ID)
}

// refs answers whether types hold references, looking struct types up in
// the file.
type refs struct {
	file  *File
	known map[string]bool
	// sharedOnly counts only shared memory, not what the copy normalizes.
	sharedOnly bool
}

func (r *refs) has(t *Type) bool {
	switch t.Kind {
	case Pointer, Slice, Map, Bytes:
		return true
	case Time:
		return !r.sharedOnly // the monotonic reading is dropped
	case Array:
		return t.Len > 0 && r.has(t.Elem)
	case Nested:
		return r.structHas(t.Named.ID)
	case BinaryMarshaler, TextMarshaler:
		return t.Refs
	}
	return false
}

func (r *refs) structHas(name string) bool {
	if v, ok := r.known[name]; ok {
		return v
	}
	if r.known == nil {
		r.known = make(map[string]bool)
	}
	var s *Struct
	for _, c := range r.file.Structs {
		if c.ID == name {
			s = c
			break
		}
	}
	if s == nil {
		// Emitted by another file: its clone function exists; call it.
		r.known[name] = true
		return true
	}
	// A struct that contains itself does so through a pointer, slice or
	// map, so it holds references: assume so while looking.
	r.known[name] = true
	has := len(s.Skipped) > 0 && !r.sharedOnly
	for _, fd := range s.Fields {
		if r.has(fd.Type) {
			has = true
			break
		}
	}
	r.known[name] = has
	return has
}

// clone replaces the value at p, of type t, by a deep copy of it.
func (r *refs) clone(t *Type, p place, depth int) []jen.Code {
	if !r.has(t) {
		return nil
	}
	set := func(x jen.Code) []jen.Code { return []jen.Code{jen.Add(p.val).Op("=").Add(x)} }
	switch t.Kind {
	case Bytes:
		return set(jen.Qual("slices", "Clone").Call(p.val))
	case Slice:
		if !r.has(t.Elem) {
			return set(jen.Qual("slices", "Clone").Call(p.val))
		}
		s, i := local("s", depth), local("i", depth)
		return []jen.Code{jen.If(jen.Add(p.val).Op("!=").Nil()).Block(
			jen.Add(s).Op(":=").Qual("slices", "Clone").Call(p.val),
			jen.For(jen.Add(i).Op(":=").Range().Add(s)).Block(r.clone(t.Elem, at(s).index(i), depth+1)...),
			jen.Add(p.val).Op("=").Add(s),
		)}
	case Map:
		timeKey := t.Key.Kind == Time
		if !r.has(t.Elem) && !timeKey {
			return set(jen.Qual("maps", "Clone").Call(p.val))
		}
		m, k, x := local("m", depth), local("k", depth), local("x", depth)
		key := jen.Add(k)
		if timeKey {
			key = jen.Add(k).Dot("Round").Call(jen.Lit(0))
		}
		loop := append(r.clone(t.Elem, at(x), depth+1), jen.Add(m).Index(key).Op("=").Add(x))
		return []jen.Code{jen.If(jen.Add(p.val).Op("!=").Nil()).Block(
			jen.Add(m).Op(":=").Make(goType(t), jen.Len(p.val)),
			jen.For(jen.List(k, x).Op(":=").Range().Add(p.val)).Block(loop...),
			jen.Add(p.val).Op("=").Add(m),
		)}
	case Pointer:
		q := local("p", depth)
		body := []jen.Code{jen.Add(q).Op(":=").New(goType(t.Elem))}
		if t.Elem.Kind == Nested && r.has(t.Elem) {
			body = append(body, jen.Op("*").Add(q).Op("=").Id(cloneFuncName(t.Elem.Named.ID)).Call(jen.Op("*").Add(p.val)))
		} else {
			body = append(body, jen.Op("*").Add(q).Op("=").Op("*").Add(p.val))
			body = append(body, r.clone(t.Elem, deref(q), depth+1)...)
		}
		body = append(body, jen.Add(p.val).Op("=").Add(q))
		return []jen.Code{jen.If(jen.Add(p.val).Op("!=").Nil()).Block(body...)}
	case Array:
		i := local("i", depth)
		return []jen.Code{jen.For(jen.Add(i).Op(":=").Range().Add(p.val)).Block(
			r.clone(t.Elem, p.index(i), depth+1)...)}
	case Nested:
		return set(jen.Id(cloneFuncName(t.Named.ID)).Call(p.val))
	case Time:
		x := p.val
		if p.ptr != nil {
			x = jen.Parens(x)
		}
		return set(jen.Add(x).Dot("Round").Call(jen.Lit(0)))
	case BinaryMarshaler:
		return set(jen.Qual(wirePath, "CloneBinary").Call(p.val))
	case TextMarshaler:
		return set(jen.Qual(wirePath, "CloneText").Call(p.val))
	}
	return nil
}
