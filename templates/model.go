// Package templates turns a small model of annotated types into the Go file
// livedictgen writes: store types, typed hooks, deep copies and the binary
// serializer. The model is built by internal/gen from go/packages; this
// package knows nothing of go/types, so its emitters can be tested on
// hand-made models.
//
// Only the generator uses this package: it carries no compatibility
// promise, and its API is the model and Render alone (no jennifer type).
package templates

import "time"

// File is one generated file: the stores of one source file, and the codecs
// of the struct types they need that no earlier file already emits.
type File struct {
	PkgName string
	PkgPath string
	// Imports maps the import path of every package the file refers to, to
	// its package name as go/packages reports it.
	Imports map[string]string
	Stores  []*Store
	Structs []*Struct // in a deterministic order
}

// Store is one annotated type.
type Store struct {
	TypeName  string // the annotated struct type
	StoreName string // the generated store type
	Key       *Type  // string, an integer kind, or a named type over one
	Bucket    string
	TTL       time.Duration // 0: none
	// Idle is idle=: values are sliding (livedict.Idle) by default. At
	// most one of TTL and Idle is set.
	Idle time.Duration
	// NoCopies is copy=false: stores keep and hand out values as given.
	NoCopies bool
}

// Struct is a struct type that gets a codec and a deep copy in the
// generated file: a struct of the package, or of another package (its
// exported fields), or an instantiated generic struct.
type Struct struct {
	// ID names the generated helpers (livedictAppend<ID>, ...): the type's
	// name for a non-generic struct of the package, else a name made from
	// its package and type arguments, unique in the package.
	ID     string
	Type   *Name // the Go type
	Fields []*Field
	// Skipped are the Go selectors of the fields tagged livedict:"-": not
	// serialized, so the deep copy zeroes them, as a byte backend reads
	// them back zero.
	Skipped []string
}

// Field is a serialized field.
type Field struct {
	Name string // the Go selector: the field name, or for an embedded field its type name
	Wire string // the stable wire name: the tag's name, else the Go name
	Type *Type
}

// Kind is what the serializer does with a type.
type Kind int

// Kinds.
const (
	Bool Kind = iota + 1
	Int
	Int8
	Int16
	Int32
	Int64
	Uint
	Uint8
	Uint16
	Uint32
	Uint64
	Uintptr
	Float32
	Float64
	String
	Bytes    // []byte (or a named type over it)
	Time     // time.Time
	Duration // time.Duration
	Pointer
	Slice
	Array
	Map
	Nested          // a struct type, with a generated codec (see Struct; Named.ID names it)
	BinaryMarshaler // encoding.BinaryMarshaler + BinaryUnmarshaler (on the pointer)
	TextMarshaler   // encoding.TextMarshaler + TextUnmarshaler (on the pointer)
)

// Type is the serializer's view of a Go type.
type Type struct {
	Kind Kind
	// Named is the Go type's name when it is a defined type (other than
	// time.Time and time.Duration): values convert between it and the
	// basic type Kind implies. For Nested, BinaryMarshaler and
	// TextMarshaler it is always set.
	Named *Name
	Elem  *Type // Pointer, Slice, Array, Map (the value)
	Key   *Type // Map
	Len   int64 // Array
	// Refs is set, for BinaryMarshaler and TextMarshaler, when values of
	// the type hold references (its underlying type has a pointer, slice or
	// map): a copy by value would share memory, so the generated deep copy
	// goes through a marshal round trip instead.
	Refs bool
}

// Name is a defined type: its package path ("" for the generated file's
// own package and for predeclared types), name and type arguments.
type Name struct {
	Path string
	Name string
	Args []*Type // the type arguments of an instantiated generic type
	ID   string  // for a Nested struct: its Struct.ID
}

// Signature is the canonical text of t's wire shape. A stored field whose
// signature differs from the field's current one was written by an
// incompatible schema (ErrSchema); names of defined types are left out, so
// renaming a type does not break stored data.
func (t *Type) Signature() string {
	switch t.Kind {
	case Pointer:
		return "*" + t.Elem.Signature()
	case Slice:
		return "[]" + t.Elem.Signature()
	case Array:
		return "[" + itoa(t.Len) + "]" + t.Elem.Signature()
	case Map:
		return "map[" + t.Key.Signature() + "]" + t.Elem.Signature()
	case Nested:
		return "struct"
	}
	return kindNames[t.Kind]
}

var kindNames = map[Kind]string{
	Bool: "bool", Int: "int", Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
	Uint: "uint", Uint8: "uint8", Uint16: "uint16", Uint32: "uint32", Uint64: "uint64", Uintptr: "uintptr",
	Float32: "float32", Float64: "float64", String: "string", Bytes: "bytes", Time: "time", Duration: "duration",
	BinaryMarshaler: "binary", TextMarshaler: "text",
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
