package templates

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// Schema evolution: a field reads, besides its own type, the older types
// whose every value its type holds. The stored field's signature picks the
// reader:
//
//	switch d.Signature() {
//	case 0x...: // int64, int, int32, int16, int8
//		v.Hits = d.ReadInt64()
//	case 0x...: // *int64, *int, *int32, *int16, *int8
//		if d.ReadBool() {
//			v.Hits = d.ReadInt64()
//		}
//	default:
//		d.Mismatch("int64")
//	}
//
// The safe changes:
//
//   - an integer to a wider one of the same signedness (int8, int16, int32,
//     int64; uint8, uint16, uint32, uint64). int and int64 count as the
//     same width, as do uint, uintptr and uint64: on a platform where int
//     or uint is 32 bits, a value that does not fit is ErrCorrupt, never
//     truncated;
//   - float32 to float64;
//   - both of these inside pointers, slices, arrays (of the same length)
//     and maps (keys and values), at any depth;
//   - at the field itself, T to *T (a pointer to the stored value) and *T
//     to T (a nil pointer reads as the zero value).
//
// Names of defined types are not part of a signature, so a named type over
// the same underlying type reads as it already. Everything else, narrowing
// in particular, is refused: Mismatch records ErrSchema naming both types.
//
// Signed integers are all zigzag varints on the wire and unsigned ones all
// uvarints, so a wider integer reads a narrower one's payload as it is;
// float32 and pointers need readers of their own.

// maxAccepted bounds the signatures one field accepts. The combinations
// multiply with each integer or float inside a type (a map[int64]int64
// reads 25 key and value pairs, twice over with the pointer); past the
// bound a field reads only the types that differ from its own in one place.
const maxAccepted = 64

// older is a stored type a field reads, and how many changes it is away
// from the field's type.
type older struct {
	t     *Type
	edits int
}

// widerOf lists the kinds a value of kind k widens from, k first.
func widerOf(k Kind) []Kind {
	switch k {
	case Int16:
		return []Kind{Int16, Int8}
	case Int32:
		return []Kind{Int32, Int16, Int8}
	case Int64:
		return []Kind{Int64, Int, Int32, Int16, Int8}
	case Int:
		return []Kind{Int, Int64, Int32, Int16, Int8}
	case Uint16:
		return []Kind{Uint16, Uint8}
	case Uint32:
		return []Kind{Uint32, Uint16, Uint8}
	case Uint64:
		return []Kind{Uint64, Uint, Uintptr, Uint32, Uint16, Uint8}
	case Uint:
		return []Kind{Uint, Uint64, Uintptr, Uint32, Uint16, Uint8}
	case Uintptr:
		return []Kind{Uintptr, Uint, Uint64, Uint32, Uint16, Uint8}
	case Float64:
		return []Kind{Float64, Float32}
	}
	return []Kind{k}
}

// widenings lists the types t reads by widening numbers only, t first.
func widenings(t *Type) []older {
	switch t.Kind {
	case Pointer, Slice, Array:
		var out []older
		for _, e := range widenings(t.Elem) {
			out = append(out, older{&Type{Kind: t.Kind, Elem: e.t, Len: t.Len}, e.edits})
		}
		out[0].t = t
		return out
	case Map:
		var out []older
		for _, k := range widenings(t.Key) {
			for _, e := range widenings(t.Elem) {
				out = append(out, older{&Type{Kind: Map, Key: k.t, Elem: e.t}, k.edits + e.edits})
			}
		}
		out[0].t = t
		return out
	}
	var out []older
	for i, k := range widerOf(t.Kind) {
		if i == 0 {
			out = append(out, older{t, 0})
		} else {
			out = append(out, older{&Type{Kind: k}, 1})
		}
	}
	return out
}

// storedGroup is the stored types one reader handles: those of one payload
// shape (see payloadShape), and pointers to them (at the field only).
type storedGroup struct {
	plain, pointers []*Type
}

// acceptedGroups lists the stored types a field of type t reads, in groups
// of one reader each, t's group first; u is the type the groups' types
// (without the pointer of the pointers) are read as: t, or for a pointer
// field, t.Elem.
func acceptedGroups(t *Type) (groups []*storedGroup, u *Type) {
	// Every stored type as a plain one read into u, or a pointer to one.
	type stored struct {
		o       older
		pointer bool
	}
	var all []stored
	if t.Kind == Pointer {
		u = t.Elem
		for _, o := range widenings(t) {
			all = append(all, stored{older{o.t.Elem, o.edits}, true})
		}
		for _, o := range widenings(u) {
			all = append(all, stored{older{o.t, o.edits + 1}, false})
		}
	} else {
		u = t
		for _, o := range widenings(t) {
			all = append(all, stored{o, false})
		}
		for _, o := range widenings(t) {
			all = append(all, stored{older{o.t, o.edits + 1}, true})
		}
	}
	if len(all) > maxAccepted {
		var near []stored
		for _, s := range all {
			if s.o.edits <= 1 {
				near = append(near, s)
			}
		}
		all = near
	}
	index := map[string]*storedGroup{}
	seen := map[string]bool{}
	for _, s := range all {
		sig := s.o.t.Signature()
		if s.pointer {
			sig = "*" + sig
		}
		if seen[sig] {
			continue
		}
		seen[sig] = true
		g := index[payloadShape(s.o.t)]
		if g == nil {
			g = &storedGroup{}
			index[payloadShape(s.o.t)] = g
			groups = append(groups, g)
		}
		if s.pointer {
			g.pointers = append(g.pointers, s.o.t)
		} else {
			g.plain = append(g.plain, s.o.t)
		}
	}
	return groups, u
}

// payloadShape is the signature with every signed integer written as
// "varint" and every unsigned one as "uvarint": stored types of the same
// payload shape are read by the same code.
func payloadShape(t *Type) string {
	switch {
	case isSigned(t.Kind):
		return "varint"
	case isUnsigned(t.Kind):
		return "uvarint"
	}
	switch t.Kind {
	case Pointer:
		return "*" + payloadShape(t.Elem)
	case Slice:
		return "[]" + payloadShape(t.Elem)
	case Array:
		return "[" + itoa(t.Len) + "]" + payloadShape(t.Elem)
	case Map:
		return "map[" + payloadShape(t.Key) + "]" + payloadShape(t.Elem)
	}
	return t.Signature()
}

// storedCase is the case of one list of stored types, prefix added to
// their signatures ("*" for the pointers of a group).
func storedCase(ts []*Type, pointer bool, body []jen.Code) jen.Code {
	sigs := make([]jen.Code, len(ts))
	names := make([]string, len(ts))
	for i, s := range ts {
		if pointer {
			s = &Type{Kind: Pointer, Elem: s}
		}
		sigs[i] = sigLit(s)
		names[i] = s.Signature()
	}
	if len(names) > 6 {
		names = append(names[:6], fmt.Sprintf("and %d more", len(ts)-6))
	}
	return jen.Case(sigs...).Block(append([]jen.Code{jen.Comment(strings.Join(names, ", "))}, body...)...)
}

// fieldDecode reads the field at p, of type t, from any stored type it
// accepts. A pointer to a stored value reads the presence byte and falls
// through to the reader of the value.
func fieldDecode(t *Type, p place) []jen.Code {
	groups, u := acceptedGroups(t)
	var cases []jen.Code
	for _, g := range groups {
		var rep *Type
		if len(g.plain) > 0 {
			rep = g.plain[0]
		} else {
			rep = g.pointers[0]
		}
		var read []jen.Code
		if t.Kind == Pointer {
			alloc := jen.New(goType(u))
			if p.old != nil { // a pointer to a struct
				alloc = wire("NewStruct").Call(jen.Id("d"), p.old)
			}
			read = append([]jen.Code{jen.Add(p.val).Op("=").Add(alloc)}, decodeFrom(rep, u, deref(p.val), 0)...)
		} else {
			read = decodeFrom(rep, u, p, 0)
		}
		if len(g.pointers) > 0 {
			body := []jen.Code{jen.If(jen.Op("!").Add(dec("ReadBool").Call())).Block(jen.Break())}
			if len(g.plain) > 0 {
				body = append(body, jen.Fallthrough())
			} else {
				body = append(body, read...)
			}
			cases = append(cases, storedCase(g.pointers, true, body))
		}
		if len(g.plain) > 0 {
			cases = append(cases, storedCase(g.plain, false, read))
		}
	}
	cases = append(cases, jen.Default().Block(dec("Mismatch").Call(jen.Lit(t.Signature()))))
	return []jen.Code{jen.Switch(dec("Signature").Call()).Block(cases...)}
}

// samePayload reports whether values stored as s read with t's reader:
// the same shape, up to the width of integers.
func samePayload(s, t *Type) bool {
	switch {
	case isSigned(s.Kind) && isSigned(t.Kind), isUnsigned(s.Kind) && isUnsigned(t.Kind):
		return true
	case s.Kind != t.Kind:
		return false
	}
	switch t.Kind {
	case Pointer, Slice:
		return samePayload(s.Elem, t.Elem)
	case Array:
		return s.Len == t.Len && samePayload(s.Elem, t.Elem)
	case Map:
		return samePayload(s.Key, t.Key) && samePayload(s.Elem, t.Elem)
	}
	return true
}

// decodeFrom sets the value at p, of type t, from a value stored as s, one
// of the widenings of t.
func decodeFrom(s, t *Type, p place, depth int) []jen.Code {
	if samePayload(s, t) {
		return decodeValue(t, p, depth)
	}
	switch {
	case s.Kind == Pointer && t.Kind == Pointer:
		return []jen.Code{jen.If(dec("ReadBool").Call()).Block(append([]jen.Code{
			jen.Add(p.val).Op("=").New(goType(t.Elem))},
			decodeFrom(s.Elem, t.Elem, deref(p.val), depth)...)...,
		)}
	case s.Kind == Float32 && t.Kind == Float64:
		return []jen.Code{jen.Add(p.val).Op("=").Add(fromBasic(t, jen.Float64().Call(dec("ReadFloat32").Call())))}
	case t.Kind == Slice:
		n, v := local("n", depth), local("s", depth)
		body := []jen.Code{jen.Add(v).Op(":=").Add(makeSlice(t, p, n))}
		i := local("i", depth)
		body = append(body, jen.For(jen.Add(i).Op(":=").Range().Add(v)).Block(
			decodeFrom(s.Elem, t.Elem, at(v).index(i), depth+1)...))
		body = append(body, jen.Add(p.val).Op("=").Add(v))
		return []jen.Code{jen.If(
			jen.List(n, jen.Id("ok")).Op(":=").Add(dec("ReadCount")).Call(jen.Lit(countMin(minWireSize(s.Elem)))),
			jen.Id("ok"),
		).Block(body...)}
	case t.Kind == Array:
		i := local("i", depth)
		return []jen.Code{jen.For(jen.Add(i).Op(":=").Range().Add(p.val)).Block(
			decodeFrom(s.Elem, t.Elem, p.index(i), depth+1)...)}
	case t.Kind == Map:
		key, val := local("k", depth), local("x", depth)
		entry := append(decodeLocalFrom(s.Key, t.Key, key, depth+1), decodeLocalFrom(s.Elem, t.Elem, val, depth+1)...)
		return decodeMap(t, p, minWireSize(s.Key)+minWireSize(s.Elem), entry, depth)
	}
	panic(fmt.Sprintf("templates: no conversion from %s to %s", s.Signature(), t.Signature()))
}

// decodeLocalFrom declares the local name and reads a value stored as s
// into it, as type t.
func decodeLocalFrom(s, t *Type, name jen.Code, depth int) []jen.Code {
	if samePayload(s, t) {
		return decodeLocal(t, name, depth)
	}
	if s.Kind == Float32 && t.Kind == Float64 {
		return []jen.Code{jen.Add(name).Op(":=").Add(fromBasic(t, jen.Float64().Call(dec("ReadFloat32").Call())))}
	}
	return append([]jen.Code{jen.Var().Add(name).Add(goType(t))}, decodeFrom(s, t, at(name), depth)...)
}
