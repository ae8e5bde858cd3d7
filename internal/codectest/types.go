// Package codectest holds types covering every kind the serializer
// supports, and the code livedictgen generates for them
// (types_livedict.go, rewritten by go generate). Its
// tests round-trip random values, check deep copies and schema evolution,
// and fuzz the decoders.
package codectest

//go:generate go tool livedictgen

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Scalars has a field of every basic kind.
//
//livedict:store
type Scalars struct {
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	UP  uintptr
	F32 float32
	F64 float64
	S   string
	Raw []byte
	T   time.Time
	D   time.Duration
}

// Level is a defined type over int64.
type Level int64

// Label is a defined type over string.
type Label string

// Blob is a defined type over []byte.
type Blob []byte

// Names is a defined slice type.
type Names []string

// Attrs is a defined map type.
type Attrs map[Label]Level

// IntPtr is a defined pointer type.
type IntPtr *int

// Pair is a defined array type.
type Pair [2]string

// Key is a struct used as a map key.
type Key struct {
	A int
	B string
}

// Version implements encoding.BinaryMarshaler and BinaryUnmarshaler.
type Version struct {
	Major, Minor int
}

var errNegativeVersion = errors.New("negative version")

// MarshalBinary writes the two numbers as uvarints; negative numbers do not
// encode.
func (v Version) MarshalBinary() ([]byte, error) {
	if v.Major < 0 || v.Minor < 0 {
		return nil, errNegativeVersion
	}
	b := binary.AppendUvarint(nil, uint64(v.Major))
	return binary.AppendUvarint(b, uint64(v.Minor)), nil
}

// UnmarshalBinary reads what MarshalBinary wrote.
func (v *Version) UnmarshalBinary(b []byte) error {
	major, n := binary.Uvarint(b)
	if n <= 0 || major > 1<<31 {
		return errors.New("bad major version")
	}
	minor, m := binary.Uvarint(b[n:])
	if m <= 0 || minor > 1<<31 || n+m != len(b) {
		return errors.New("bad minor version")
	}
	v.Major, v.Minor = int(major), int(minor)
	return nil
}

// Color implements encoding.TextMarshaler and TextUnmarshaler as #rrggbb.
type Color struct {
	R, G, B uint8
}

// MarshalText writes #rrggbb.
func (c Color) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "#%02x%02x%02x", c.R, c.G, c.B), nil
}

// UnmarshalText reads #rrggbb.
func (c *Color) UnmarshalText(b []byte) error {
	if len(b) != 7 || b[0] != '#' {
		return fmt.Errorf("color %q is not #rrggbb", b)
	}
	var rgb [3]byte
	if _, err := hex.Decode(rgb[:], b[1:]); err != nil {
		return fmt.Errorf("color %q: %w", b, err)
	}
	c.R, c.G, c.B = rgb[0], rgb[1], rgb[2]
	return nil
}

// Path is a TextMarshaler over a reference type: its deep copy goes through
// MarshalText and UnmarshalText. nil is the empty text.
type Path []string

// MarshalText joins the elements with slashes.
func (p Path) MarshalText() ([]byte, error) { return []byte(strings.Join(p, "/")), nil }

// UnmarshalText splits at slashes.
func (p *Path) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = nil
		return nil
	}
	*p = strings.Split(string(b), "/")
	return nil
}

// Inner is a struct nested in others.
type Inner struct {
	Name  string
	Score float64
	When  time.Time
	Tags  []string
}

// Base is embedded by value.
type Base struct {
	ID      int64
	Created time.Time
}

// Extra is embedded by pointer.
type Extra struct {
	Note string
}

// Plain holds no references, but a time.Time: its deep copy only drops the
// monotonic reading.
//
//livedict:store
type Plain struct {
	X, Y  int32
	Color Color
	At    time.Time
	Ver   Version
}

// Composite has a field of every composite kind.
//
//livedict:store
type Composite struct {
	Base
	*Extra

	P      *int
	PP     **string
	PS     *Inner
	Tags   []string
	Ints   []int // nil and empty are told apart
	Matrix [][]uint16
	Grid   [3][2]int16
	Hash   [16]byte
	Empty  [0]int
	Zeros  [][0]int
	M      map[string]int
	MS     map[string][]string // map of slices
	MV     map[int64]Inner     // map with struct values
	MP     map[Label]*Inner
	In     Inner
	Plain  Plain

	Level   Level
	Label   Label
	Blob    Blob
	Names   Names
	Attrs   Attrs
	Levels  []Level
	Version Version
	Color   Color
	Colors  []Color
	VerPtr  *Version
	Path    Path
	Paths   map[string]Path

	Durations []time.Duration
	Times     map[string]time.Time
	Floats    [2]float32

	NP      IntPtr
	Pair    Pair
	KM      map[Key]string
	AK      map[[2]int8]bool
	ZeroMap map[[0]int][0]int

	Renamed string   `livedict:"old_name"` // the wire name stays after a rename
	note    string   // unexported fields are serialized too
	Skipped chan int `livedict:"-"` // not serialized
}

// Node is a recursive type.
//
//livedict:store
type Node struct {
	Val  int
	Next *Node
	Kids []*Node
}

// Session is the realistic struct of the benchmark.
//
//livedict:store
type Session struct {
	UserID    string
	Roles     []string
	Profile   *Profile
	Meta      map[string]string
	CreatedAt time.Time
	Hits      int64
}

// Profile is nested in Session.
type Profile struct {
	Name  string
	Email string
	Age   int
}

// The schema evolution types: values of EvolveA are decoded as the others.

// EvolveA is the old schema.
//
//livedict:store
type EvolveA struct {
	Keep    string
	Gone    int
	Old     string `livedict:"title"`
	Changed int32
	In      *EvolveA
}

// EvolveB adds a field, drops Gone and renames Old (same wire name).
//
//livedict:store
type EvolveB struct {
	Keep  string
	Added []int
	Title string `livedict:"title"`
	In    *EvolveB
}

// EvolveC changes the type of Changed.
//
//livedict:store
type EvolveC struct {
	Keep    string
	Changed string
	In      *EvolveC
}

// WrapA and WrapC nest EvolveA and EvolveC, so that a schema error names a
// field path.
//
//livedict:store
type WrapA struct{ Inner EvolveA }

// WrapC is the new schema of WrapA.
//
//livedict:store
type WrapC struct{ Inner EvolveC }

// EvolveOld and EvolveNew are a schema before and after the changes
// livedict reads safely: each field of EvolveNew has the type of the same
// field of EvolveOld, widened, or with a pointer added or removed.
//
//livedict:store
type EvolveOld struct {
	I8to16      int8
	I16to32     int16
	I32to64     int32
	IntTo64     int
	I64toInt    int64
	U8to64      uint8
	UintTo64    uint
	U32toUint   uint32
	F32to64     float32
	ToPtr       int32
	FromPtr     *int64
	FromPtr32   *int32
	StructToPtr Profile
	PtrToStruct *Profile
	Named       int32
	Ints        []int32
	Floats      map[string]float32
	KeyWide     map[int32]string
	Arr         [2]float32
	PtrF        *float32
	Nested      map[string][]float32
}

// EvolveNew is the new schema of EvolveOld.
//
//livedict:store
type EvolveNew struct {
	I8to16      int16
	I16to32     int32
	I32to64     int64
	IntTo64     int64
	I64toInt    int
	U8to64      uint64
	UintTo64    uint64
	U32toUint   uint
	F32to64     float64
	ToPtr       *int64
	FromPtr     int64
	FromPtr32   int64
	StructToPtr *Profile
	PtrToStruct Profile
	Named       Level
	Ints        []int64
	Floats      map[string]float64
	KeyWide     map[int64]string
	Arr         [2]float64
	PtrF        *float64
	Nested      map[string][]float64
	Timeout     time.Duration
	Raw         []byte
	Triple      [3]float64
}
