package templates

import (
	"fmt"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// wirePath is the import path of the package generated serializers call.
const wirePath = "github.com/livedict/livedict/runtime"

// goType returns the Go type expression of t: a defined type by its
// qualified name (jennifer leaves names of the generated file's own package
// unqualified), predeclared kinds by name, time.Time and time.Duration
// qualified, and composite types spelled out.
func goType(t *Type) jen.Code {
	if t.Named != nil {
		return nameType(t.Named)
	}
	switch t.Kind {
	case Bool:
		return jen.Bool()
	case Int:
		return jen.Int()
	case Int8:
		return jen.Int8()
	case Int16:
		return jen.Int16()
	case Int32:
		return jen.Int32()
	case Int64:
		return jen.Int64()
	case Uint:
		return jen.Uint()
	case Uint8:
		return jen.Uint8()
	case Uint16:
		return jen.Uint16()
	case Uint32:
		return jen.Uint32()
	case Uint64:
		return jen.Uint64()
	case Uintptr:
		return jen.Uintptr()
	case Float32:
		return jen.Float32()
	case Float64:
		return jen.Float64()
	case String:
		return jen.String()
	case Bytes:
		return jen.Index().Byte()
	case Time:
		return jen.Qual("time", "Time")
	case Duration:
		return jen.Qual("time", "Duration")
	case Pointer:
		return jen.Op("*").Add(goType(t.Elem))
	case Slice:
		return jen.Index().Add(goType(t.Elem))
	case Array:
		return jen.Index(jen.Id(strconv.FormatInt(t.Len, 10))).Add(goType(t.Elem))
	case Map:
		return jen.Map(goType(t.Key)).Add(goType(t.Elem))
	}
	// Nested, BinaryMarshaler and TextMarshaler always have a name.
	panic(fmt.Sprintf("templates: type of kind %d has no Go spelling (a %s needs Named)", t.Kind, t.Signature()))
}

// basicType is the unnamed type a defined type of t's kind converts to and
// from in generated code: int64 for a type over int64, []byte over []byte.
func basicType(t *Type) jen.Code {
	u := *t
	u.Named = nil
	return goType(&u)
}

// nameType is the Go type expression of a defined type, with its type
// arguments.
func nameType(n *Name) *jen.Statement {
	var s *jen.Statement
	if n.Path == "" {
		s = jen.Id(n.Name)
	} else {
		s = jen.Qual(n.Path, n.Name)
	}
	if len(n.Args) > 0 {
		args := make([]jen.Code, len(n.Args))
		for i, a := range n.Args {
			args[i] = goType(a)
		}
		s = s.Types(args...)
	}
	return s
}
