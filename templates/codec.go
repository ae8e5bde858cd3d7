package templates

import (
	"fmt"
	"hash/fnv"

	"github.com/dave/jennifer/jen"
)

// The binary serializer: for each struct S of a file, two functions that
// drive the runtime's Encoder and Decoder (runtime/wire.go describes the
// format):
//
//	func livedictAppendS(e *runtime.Encoder, v *S)
//	func livedictDecodeS(d *runtime.Decoder, v *S)
//
// A struct-valued field calls the functions of its own struct type, so
// recursive types (through pointers, slices or maps) need nothing special.

// wireSignature is the signature a field of type t is written with: the
// FNV-1a 32 hash of t.Signature().
func wireSignature(t *Type) uint32 {
	h := fnv.New32a()
	h.Write([]byte(t.Signature()))
	return h.Sum32()
}

// appendFuncName names the encoder of a struct type.
func appendFuncName(structName string) string { return "livedictAppend" + structName }

// decodeFuncName names the decoder of a struct type.
func decodeFuncName(structName string) string { return "livedictDecode" + structName }

// structCodec returns the declarations of the encoder and decoder of s.
func structCodec(file *File, s *Struct) []jen.Code {
	return []jen.Code{appendFunc(s), decodeFunc(s)}
}

func wire(name string) *jen.Statement { return jen.Qual(wirePath, name) }

// enc and dec call a method of the Encoder e and the Decoder d.
func enc(method string) *jen.Statement { return jen.Id("e").Dot(method) }

func dec(method string) *jen.Statement { return jen.Id("d").Dot(method) }

func sigLit(t *Type) jen.Code { return jen.Id(fmt.Sprintf("0x%08x", wireSignature(t))) }

// appendFunc emits
//
//	func livedictAppendS(e *runtime.Encoder, v *S) {
//		if !e.BeginStruct(2) {
//			return
//		}
//		f := e.BeginField("Name", 0x...) // string
//		e.AppendString(v.Name)
//		e.EndField(f)
//		...
//		e.EndStruct()
//	}
func appendFunc(s *Struct) jen.Code {
	body := []jen.Code{
		jen.If(jen.Op("!").Add(enc("BeginStruct")).Call(jen.Lit(len(s.Fields)))).Block(jen.Return()),
	}
	for i, fd := range s.Fields {
		assign := "="
		if i == 0 {
			assign = ":="
		}
		body = append(body, jen.Id("f").Op(assign).Add(enc("BeginField")).
			Call(jen.Lit(fd.Wire), sigLit(fd.Type)).Comment(fd.Type.Signature()))
		body = append(body, encodeValue(fd.Type, at(jen.Id("v").Dot(fd.Name)), 0)...)
		body = append(body, enc("EndField").Call(jen.Id("f")))
	}
	body = append(body, enc("EndStruct").Call())
	name := appendFuncName(s.ID)
	return jen.Comment(name+" appends the wire encoding of *v.").Line().
		Func().Id(name).Params(jen.Id("e").Op("*").Add(wire("Encoder")), jen.Id("v").Op("*").Add(nameType(s.Type))).
		Block(body...)
}

// decodeFunc emits
//
//	func livedictDecodeS(d *runtime.Decoder, v *S) {
//		// What *v held: reused where the record has these fields.
//		oldTags := v.Tags
//		*v = S{}
//		f := d.BeginStruct()
//		for d.NextField(&f) {
//			switch string(d.FieldName()) {
//			case "Name":
//				switch d.Signature() {
//				case 0x...: // string
//					v.Name = d.ReadString()
//				default:
//					d.Mismatch("string")
//				}
//			case "Tags":
//				...
//					s0 := runtime.MakeSlice(d, oldTags, n0)
//			default:
//				d.Skip()
//			}
//		}
//	}
//
// It sets all of *v: the fields the record lacks are zero. The slices,
// maps and pointed-to structs *v held are kept aside first, and their
// memory reused where the record has a value for them (runtime/reuse.go).
// The loop's iterator is declared before it: a variable of the loop's init
// statement whose address is taken is copied on every iteration.
func decodeFunc(s *Struct) jen.Code {
	var cases, olds []jen.Code
	for _, fd := range s.Fields {
		p := at(jen.Id("v").Dot(fd.Name))
		if reusable(fd.Type) {
			p.old = jen.Id("old" + fd.Name)
			if len(olds) == 0 {
				olds = append(olds, jen.Comment("What *v held: reused where the record has these fields."))
			}
			olds = append(olds, jen.Add(p.old).Op(":=").Add(p.val))
		}
		read := fieldDecode(fd.Type, p) // older types too: evolve.go
		cases = append(cases, jen.Case(jen.Lit(fd.Wire)).Block(read...))
	}
	cases = append(cases, jen.Default().Block(dec("Skip").Call()))
	body := append(olds,
		jen.Op("*").Id("v").Op("=").Add(nameType(s.Type)).Values(),
		jen.Id("f").Op(":=").Add(dec("BeginStruct")).Call(),
		jen.For(dec("NextField").Call(jen.Op("&").Id("f"))).Block(
			jen.Switch(jen.String().Call(dec("FieldName").Call())).Block(cases...),
		),
	)
	name := decodeFuncName(s.ID)
	return jen.Comment(name+" sets *v to the current struct of d.").Line().
		Func().Id(name).Params(jen.Id("d").Op("*").Add(wire("Decoder")), jen.Id("v").Op("*").Add(nameType(s.Type))).Block(body...)
}

// reusable reports whether a field of type t has memory a decode into a
// value that held one reuses: a slice (of bytes too), a map, a pointer to
// a struct.
func reusable(t *Type) bool {
	switch t.Kind {
	case Slice, Map, Bytes:
		return true
	case Pointer:
		return t.Elem.Kind == Nested
	}
	return false
}

// place is where a value lives in emitted code: an addressable expression.
// When ptr is set, the value is *ptr. When old is set, the place is a field
// whose value before the decode old holds, for its memory to be reused.
// Every place starts zero.
type place struct {
	val jen.Code
	ptr jen.Code
	old jen.Code
}

// at is the place of an addressable expression x.
func at(x jen.Code) place { return place{val: x} }

// deref is the place a pointer expression p points to.
func deref(p jen.Code) place { return place{val: jen.Op("*").Add(p), ptr: p} }

// addr is the address of the place.
func (p place) addr() jen.Code {
	if p.ptr != nil {
		return p.ptr
	}
	return jen.Op("&").Add(p.val)
}

// index is the place of element i of the slice, array or map at p.
func (p place) index(i jen.Code) place {
	if p.ptr != nil {
		return at(jen.Parens(p.val).Index(i))
	}
	return at(jen.Add(p.val).Index(i))
}

func local(prefix string, depth int) *jen.Statement {
	return jen.Id(fmt.Sprintf("%s%d", prefix, depth))
}

// toBasic converts x, of type t, to t's basic type when t is a defined
// type.
func toBasic(t *Type, x jen.Code) jen.Code {
	if t.Named == nil {
		return x
	}
	return jen.Add(basicType(t)).Call(x)
}

// fromBasic converts x, of t's basic type, to t when t is a defined type.
func fromBasic(t *Type, x jen.Code) jen.Code {
	if t.Named == nil {
		return x
	}
	return jen.Add(goType(t)).Call(x)
}

func isSigned(k Kind) bool { return k >= Int && k <= Int64 }

func isUnsigned(k Kind) bool { return k >= Uint && k <= Uintptr }

// encodeValue appends the encoding of the value at p, of type t. depth
// numbers the locals of nested loops.
func encodeValue(t *Type, p place, depth int) []jen.Code {
	switch k := t.Kind; {
	case k == Bool:
		return []jen.Code{enc("AppendBool").Call(toBasic(t, p.val))}
	case isSigned(k):
		x := p.val
		if k != Int64 || t.Named != nil {
			x = jen.Int64().Call(p.val)
		}
		return []jen.Code{enc("AppendVarint").Call(x)}
	case isUnsigned(k):
		x := p.val
		if k != Uint64 || t.Named != nil {
			x = jen.Uint64().Call(p.val)
		}
		return []jen.Code{enc("AppendUvarint").Call(x)}
	case k == Float32:
		return []jen.Code{enc("AppendFloat32").Call(toBasic(t, p.val))}
	case k == Float64:
		return []jen.Code{enc("AppendFloat64").Call(toBasic(t, p.val))}
	case k == String:
		return []jen.Code{enc("AppendString").Call(toBasic(t, p.val))}
	case k == Bytes:
		return []jen.Code{enc("AppendBytes").Call(toBasic(t, p.val))}
	case k == Time:
		return []jen.Code{enc("AppendTime").Call(toBasic(t, p.val))}
	case k == Duration:
		return []jen.Code{enc("AppendDuration").Call(toBasic(t, p.val))}
	case k == Pointer:
		return []jen.Code{jen.If(jen.Add(p.val).Op("==").Nil()).Block(
			enc("AppendBool").Call(jen.False()),
		).Else().Block(append([]jen.Code{
			enc("AppendBool").Call(jen.True())},
			encodeValue(t.Elem, deref(p.val), depth)...)...,
		)}
	case k == Slice:
		out := []jen.Code{enc("AppendCount").Call(jen.Len(p.val), jen.Add(p.val).Op("==").Nil())}
		if minWireSize(t.Elem) > 0 {
			i := local("i", depth)
			out = append(out, jen.For(jen.Add(i).Op(":=").Range().Add(p.val)).Block(
				encodeValue(t.Elem, p.index(i), depth+1)...))
		}
		return out
	case k == Array:
		if minWireSize(t) == 0 {
			return nil
		}
		i := local("i", depth)
		return []jen.Code{
			jen.For(jen.Add(i).Op(":=").Range().Add(p.val)).Block(
				encodeValue(t.Elem, p.index(i), depth+1)...),
		}
	case k == Map:
		out := []jen.Code{enc("AppendCount").Call(jen.Len(p.val), jen.Add(p.val).Op("==").Nil())}
		key, val := local("k", depth), local("m", depth)
		keyCode := encodeValue(t.Key, at(key), depth+1)
		valCode := encodeValue(t.Elem, at(val), depth+1)
		switch {
		case len(keyCode) == 0 && len(valCode) == 0: // zero-sized keys and values
			return out
		case len(keyCode) == 0:
			key = jen.Id("_")
		case len(valCode) == 0:
			return append(out, jen.For(jen.Add(key).Op(":=").Range().Add(p.val)).Block(keyCode...))
		}
		return append(out, jen.For(jen.List(key, val).Op(":=").Range().Add(p.val)).Block(append(keyCode, valCode...)...))
	case k == Nested:
		return []jen.Code{jen.Id(appendFuncName(t.Named.ID)).Call(jen.Id("e"), p.addr())}
	case k == BinaryMarshaler:
		return []jen.Code{enc("AppendBinary").Call(p.addr())}
	case k == TextMarshaler:
		return []jen.Code{enc("AppendText").Call(p.addr())}
	}
	panic(fmt.Sprintf("templates: no serializer for kind %d", t.Kind))
}

// decodeExpr is the expression that reads a value of a kind without
// elements, or nil.
func decodeExpr(t *Type) jen.Code {
	var m string
	switch t.Kind {
	case Bool:
		m = "Bool"
	case Int:
		m = "Int"
	case Int8:
		m = "Int8"
	case Int16:
		m = "Int16"
	case Int32:
		m = "Int32"
	case Int64:
		m = "Int64"
	case Uint:
		m = "Uint"
	case Uint8:
		m = "Uint8"
	case Uint16:
		m = "Uint16"
	case Uint32:
		m = "Uint32"
	case Uint64:
		m = "Uint64"
	case Uintptr:
		m = "Uintptr"
	case Float32:
		m = "Float32"
	case Float64:
		m = "Float64"
	case String:
		m = "String"
	case Bytes:
		m = "Bytes"
	case Time:
		m = "Time"
	case Duration:
		m = "Duration"
	default:
		return nil
	}
	return fromBasic(t, dec("Read"+m).Call())
}

// decodeValue sets the value at p, of type t, from d.
func decodeValue(t *Type, p place, depth int) []jen.Code {
	if t.Kind == Bytes && p.old != nil {
		return []jen.Code{jen.Add(p.val).Op("=").Add(fromBasic(t, dec("ReadBytesInto").Call(toBasic(t, p.old))))}
	}
	if x := decodeExpr(t); x != nil {
		return []jen.Code{jen.Add(p.val).Op("=").Add(x)}
	}
	switch t.Kind {
	case Pointer:
		return []jen.Code{jen.If(dec("ReadBool").Call()).Block(append([]jen.Code{
			jen.Add(p.val).Op("=").New(goType(t.Elem))},
			decodeValue(t.Elem, deref(p.val), depth)...)...,
		)}
	case Slice:
		n, s := local("n", depth), local("s", depth)
		body := []jen.Code{jen.Add(s).Op(":=").Add(makeSlice(t, p, n))}
		if minWireSize(t.Elem) > 0 {
			i := local("i", depth)
			body = append(body, jen.For(jen.Add(i).Op(":=").Range().Add(s)).Block(
				decodeValue(t.Elem, at(s).index(i), depth+1)...))
		}
		body = append(body, jen.Add(p.val).Op("=").Add(s))
		return []jen.Code{jen.If(
			jen.List(n, jen.Id("ok")).Op(":=").Add(dec("ReadCount")).Call(jen.Lit(countMin(minWireSize(t.Elem)))),
			jen.Id("ok"),
		).Block(body...)}
	case Array:
		if minWireSize(t) == 0 {
			return nil
		}
		i := local("i", depth)
		return []jen.Code{jen.For(jen.Add(i).Op(":=").Range().Add(p.val)).Block(
			decodeValue(t.Elem, p.index(i), depth+1)...)}
	case Map:
		key, val := local("k", depth), local("x", depth)
		entry := append(decodeLocal(t.Key, key, depth+1), decodeLocal(t.Elem, val, depth+1)...)
		return decodeMap(t, p, minWireSize(t.Key)+minWireSize(t.Elem), entry, depth)
	case Nested:
		return []jen.Code{jen.Id(decodeFuncName(t.Named.ID)).Call(jen.Id("d"), p.addr())}
	case BinaryMarshaler:
		return []jen.Code{dec("ReadBinary").Call(p.addr())}
	case TextMarshaler:
		return []jen.Code{dec("ReadText").Call(p.addr())}
	}
	panic(fmt.Sprintf("templates: no deserializer for kind %d", t.Kind))
}

// makeSlice is the expression of a new slice of type t with n elements,
// for the place p: in the memory of the slice p held when it can.
func makeSlice(t *Type, p place, n jen.Code) jen.Code {
	if p.old != nil {
		return wire("MakeSlice").Call(jen.Id("d"), p.old, n)
	}
	return jen.Make(goType(t), n)
}

// decodeMap reads a map of type t into the place p: entry declares the
// locals kN and xN and reads a key and a value into them, minEntry is the
// fewest bytes the two take. A key that comes twice is an error: the map
// did not grow.
func decodeMap(t *Type, p place, minEntry int64, entry []jen.Code, depth int) []jen.Code {
	n, m, i := local("n", depth), local("m", depth), local("i", depth)
	key, val := local("k", depth), local("x", depth)
	hint := n
	if minEntry == 0 { // no bound on n: no size hint
		hint = jen.Lit(0)
	}
	var mk jen.Code
	switch {
	case p.old != nil:
		mk = wire("MakeMap").Call(jen.Id("d"), p.old, hint)
	case minEntry == 0:
		mk = jen.Make(goType(t))
	default:
		mk = jen.Make(goType(t), n)
	}
	loop := append(entry,
		jen.Add(m).Index(key).Op("=").Add(val),
		jen.If(jen.Len(m).Op("==").Add(i)).Block(
			dec("DuplicateKey").Call(),
			jen.Break(),
		),
	)
	return []jen.Code{jen.If(
		jen.List(n, jen.Id("ok")).Op(":=").Add(dec("ReadCount")).Call(jen.Lit(countMin(minEntry))),
		jen.Id("ok"),
	).Block(
		jen.Add(m).Op(":=").Add(mk),
		jen.For(jen.Add(i).Op(":=").Range().Add(n)).Block(loop...),
		jen.Add(p.val).Op("=").Add(m),
	)}
}

// decodeLocal declares the local name and reads a value of type t into it.
func decodeLocal(t *Type, name jen.Code, depth int) []jen.Code {
	if x := decodeExpr(t); x != nil {
		return []jen.Code{jen.Add(name).Op(":=").Add(x)}
	}
	return append([]jen.Code{jen.Var().Add(name).Add(goType(t))}, decodeValue(t, at(name), depth)...)
}

// minWireSize is the fewest bytes a value of type t takes on the wire; 0
// only for arrays of no elements (or of such arrays).
func minWireSize(t *Type) int64 {
	switch t.Kind {
	case Float32:
		return 4
	case Float64:
		return 8
	case Array:
		m := minWireSize(t.Elem)
		if m == 0 || t.Len == 0 {
			return 0
		}
		if t.Len > 1<<30/m {
			return 1 << 30
		}
		return t.Len * m
	}
	return 1
}

// countMin caps a minimum size for Decoder.Count: a smaller bound is still
// a true lower bound.
func countMin(n int64) int {
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}
