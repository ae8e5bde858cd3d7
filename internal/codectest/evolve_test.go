package codectest

import (
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/livedict/livedict/backend"
	ldruntime "github.com/livedict/livedict/runtime"
)

// TestSchemaWidening writes a value of every field of EvolveOld with the
// generated encoder of the old schema and reads it with the new one.
func TestSchemaWidening(t *testing.T) {
	i64, i32, f32 := int64(-1<<40), int32(-7), float32(1.5)
	old := EvolveOld{
		I8to16: -128, I16to32: math.MinInt16, I32to64: math.MinInt32, IntTo64: math.MaxInt64, I64toInt: math.MinInt64,
		U8to64: 255, UintTo64: math.MaxUint64, U32toUint: math.MaxUint32,
		F32to64: 0.1, ToPtr: -3, FromPtr: &i64, FromPtr32: &i32,
		StructToPtr: Profile{Name: "a", Age: 3}, PtrToStruct: &Profile{Name: "b"},
		Named: 42, Ints: []int32{1, -2, math.MaxInt32}, Floats: map[string]float32{"x": 0.25, "y": -3},
		KeyWide: map[int32]string{-1: "m", 7: "s"}, Arr: [2]float32{1, math.MaxFloat32}, PtrF: &f32,
		Nested: map[string][]float32{"a": {1, 2}, "nil": nil},
	}
	data, err := ldruntime.Encode(nil, &old, livedictAppendEvolveOld)
	if err != nil {
		t.Fatal(err)
	}
	var got EvolveNew
	if err := ldruntime.Decode(data, &got, livedictDecodeEvolveNew); err != nil {
		t.Fatalf("EvolveOld as EvolveNew: %v", err)
	}
	toPtr, f64 := int64(-3), float64(f32)
	want := EvolveNew{
		I8to16: -128, I16to32: math.MinInt16, I32to64: math.MinInt32, IntTo64: math.MaxInt64, I64toInt: math.MinInt64,
		U8to64: 255, UintTo64: math.MaxUint64, U32toUint: math.MaxUint32,
		F32to64: float64(float32(0.1)), ToPtr: &toPtr, FromPtr: i64, FromPtr32: int64(i32),
		StructToPtr: &Profile{Name: "a", Age: 3}, PtrToStruct: Profile{Name: "b"},
		Named: 42, Ints: []int64{1, -2, math.MaxInt32}, Floats: map[string]float64{"x": 0.25, "y": -3},
		KeyWide: map[int64]string{-1: "m", 7: "s"}, Arr: [2]float64{1, math.MaxFloat32}, PtrF: &f64,
		Nested: map[string][]float64{"a": {1, 2}, "nil": nil},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("EvolveOld as EvolveNew (-want +got):\n%s", d)
	}

	// Nil pointers: a nil *T read as T is T's zero value, and nil stays nil.
	data, err = ldruntime.Encode(nil, &EvolveOld{I32to64: 5}, livedictAppendEvolveOld)
	if err != nil {
		t.Fatal(err)
	}
	got = EvolveNew{}
	if err := ldruntime.Decode(data, &got, livedictDecodeEvolveNew); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(EvolveNew{I32to64: 5, ToPtr: new(int64), StructToPtr: &Profile{}}, got); d != "" {
		t.Fatalf("zero EvolveOld as EvolveNew (-want +got):\n%s", d)
	}
}

// oneField is a record of one field named name, written with the
// signature of shape (the canonical text templates.Type.Signature gives)
// and the payload write appends.
func oneField(t *testing.T, name, shape string, write func(e *ldruntime.Encoder)) []byte {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(shape))
	data, err := ldruntime.Encode(nil, &struct{}{}, func(e *ldruntime.Encoder, _ *struct{}) {
		e.BeginStruct(1)
		f := e.BeginField(name, h.Sum32())
		write(e)
		e.EndField(f)
		e.EndStruct()
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSchemaChanges reads one field written as an older type, field by
// field: safe changes read the value, the others are ErrSchema naming the
// field and both types.
func TestSchemaChanges(t *testing.T) {
	varint := func(x int64) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) { e.AppendVarint(x) }
	}
	uvarint := func(x uint64) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) { e.AppendUvarint(x) }
	}
	f32 := func(x float32) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) { e.AppendFloat32(x) }
	}
	f64 := func(x float64) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) { e.AppendFloat64(x) }
	}
	ptr := func(w func(*ldruntime.Encoder)) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) {
			e.AppendBool(w != nil)
			if w != nil {
				w(e)
			}
		}
	}
	varints := func(xs ...int64) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) {
			e.AppendCount(len(xs), false)
			for _, x := range xs {
				e.AppendVarint(x)
			}
		}
	}
	floats := func(m map[string]float64, as32 bool) func(*ldruntime.Encoder) {
		return func(e *ldruntime.Encoder) {
			e.AppendCount(len(m), false)
			for k, x := range m {
				e.AppendString(k)
				if as32 {
					e.AppendFloat32(float32(x))
				} else {
					e.AppendFloat64(x)
				}
			}
		}
	}
	i64 := func(x int64) *int64 { return &x }
	fl64 := func(x float64) *float64 { return &x }
	for _, c := range []struct {
		field, shape string
		write        func(*ldruntime.Encoder)
		want         EvolveNew // for a safe change
		err          string    // for an unsafe one: the message after "field "
	}{
		// Integers widen within their signedness.
		{field: "I8to16", shape: "int8", write: varint(-128), want: EvolveNew{I8to16: -128}},
		{field: "I16to32", shape: "int8", write: varint(-5), want: EvolveNew{I16to32: -5}},
		{field: "I16to32", shape: "int16", write: varint(math.MaxInt16), want: EvolveNew{I16to32: math.MaxInt16}},
		{field: "I32to64", shape: "int32", write: varint(math.MinInt32), want: EvolveNew{I32to64: math.MinInt32}},
		{field: "I32to64", shape: "int", write: varint(math.MaxInt64), want: EvolveNew{I32to64: math.MaxInt64}},
		{field: "I64toInt", shape: "int64", write: varint(math.MinInt64), want: EvolveNew{I64toInt: math.MinInt64}},
		{field: "I64toInt", shape: "int16", write: varint(-300), want: EvolveNew{I64toInt: -300}},
		{field: "U8to64", shape: "uint8", write: uvarint(200), want: EvolveNew{U8to64: 200}},
		{field: "U8to64", shape: "uint", write: uvarint(math.MaxUint64), want: EvolveNew{U8to64: math.MaxUint64}},
		{field: "U8to64", shape: "uintptr", write: uvarint(9), want: EvolveNew{U8to64: 9}},
		{field: "U32toUint", shape: "uint64", write: uvarint(math.MaxUint64), want: EvolveNew{U32toUint: math.MaxUint64}},
		{field: "U32toUint", shape: "uint16", write: uvarint(65535), want: EvolveNew{U32toUint: 65535}},
		// Named types: signatures leave the name out.
		{field: "Named", shape: "int64", write: varint(-9), want: EvolveNew{Named: -9}},
		{field: "Named", shape: "int8", write: varint(9), want: EvolveNew{Named: 9}},
		// float32 to float64.
		{field: "F32to64", shape: "float32", write: f32(-0.5), want: EvolveNew{F32to64: -0.5}},
		{field: "F32to64", shape: "float64", write: f64(math.Pi), want: EvolveNew{F32to64: math.Pi}},
		// T and *T, widened or not.
		{field: "ToPtr", shape: "int64", write: varint(4), want: EvolveNew{ToPtr: i64(4)}},
		{field: "ToPtr", shape: "int16", write: varint(-4), want: EvolveNew{ToPtr: i64(-4)}},
		{field: "ToPtr", shape: "*int32", write: ptr(varint(6)), want: EvolveNew{ToPtr: i64(6)}},
		{field: "ToPtr", shape: "*int32", write: ptr(nil), want: EvolveNew{}},
		{field: "FromPtr", shape: "*int64", write: ptr(varint(-8)), want: EvolveNew{FromPtr: -8}},
		{field: "FromPtr", shape: "*int64", write: ptr(nil), want: EvolveNew{}},
		{field: "FromPtr32", shape: "*int32", write: ptr(varint(8)), want: EvolveNew{FromPtr32: 8}},
		{field: "FromPtr32", shape: "*int8", write: ptr(nil), want: EvolveNew{}},
		{field: "PtrF", shape: "float32", write: f32(2.5), want: EvolveNew{PtrF: fl64(2.5)}},
		{field: "PtrF", shape: "*float32", write: ptr(f32(-1)), want: EvolveNew{PtrF: fl64(-1)}},
		{field: "PtrF", shape: "float64", write: f64(0.1), want: EvolveNew{PtrF: fl64(0.1)}},
		{field: "F32to64", shape: "*float32", write: ptr(f32(3)), want: EvolveNew{F32to64: 3}},
		// Inside slices, maps and arrays.
		{field: "Ints", shape: "[]int32", write: varints(1, math.MinInt32), want: EvolveNew{Ints: []int64{1, math.MinInt32}}},
		{field: "Ints", shape: "[]int8", write: varints(), want: EvolveNew{Ints: []int64{}}},
		{field: "Ints", shape: "*[]int16", write: ptr(varints(-1)), want: EvolveNew{Ints: []int64{-1}}},
		{field: "Floats", shape: "map[string]float32", write: floats(map[string]float64{"a": 0.75}, true), want: EvolveNew{Floats: map[string]float64{"a": 0.75}}},
		{field: "KeyWide", shape: "map[int8]string", write: func(e *ldruntime.Encoder) {
			e.AppendCount(1, false)
			e.AppendVarint(-1)
			e.AppendString("x")
		}, want: EvolveNew{KeyWide: map[int64]string{-1: "x"}}},
		{field: "Arr", shape: "[2]float32", write: func(e *ldruntime.Encoder) {
			e.AppendFloat32(1)
			e.AppendFloat32(-2)
		}, want: EvolveNew{Arr: [2]float64{1, -2}}},
		{field: "Nested", shape: "map[string][]float32", write: func(e *ldruntime.Encoder) {
			e.AppendCount(1, false)
			e.AppendString("k")
			e.AppendCount(1, false)
			e.AppendFloat32(0.5)
		}, want: EvolveNew{Nested: map[string][]float64{"k": {0.5}}}},
		{field: "StructToPtr", shape: "struct", write: func(e *ldruntime.Encoder) {
			livedictAppendProfile(e, &Profile{Name: "p"})
		}, want: EvolveNew{StructToPtr: &Profile{Name: "p"}}},
		{field: "PtrToStruct", shape: "*struct", write: func(e *ldruntime.Encoder) {
			e.AppendBool(true)
			livedictAppendProfile(e, &Profile{Age: 1})
		}, want: EvolveNew{PtrToStruct: Profile{Age: 1}}},

		// Narrowing: a value might not fit.
		{field: "I16to32", shape: "int64", write: varint(1),
			err: `"I16to32": stored as int64, this build reads int32 (narrowing is not safe)`},
		{field: "I8to16", shape: "int", write: varint(1),
			err: `"I8to16": stored as int, this build reads int16 (narrowing is not safe)`},
		{field: "U32toUint", shape: "int32", write: varint(1),
			err: `"U32toUint": stored as int32, this build reads uint (signed and unsigned integers do not convert)`},
		{field: "I32to64", shape: "uint8", write: uvarint(1),
			err: `"I32to64": stored as uint8, this build reads int64 (signed and unsigned integers do not convert)`},
		{field: "F32to64", shape: "int32", write: varint(1),
			err: `"F32to64": stored as int32, this build reads float64 (integers and floats do not convert)`},
		{field: "Ints", shape: "[]float64", write: varints(),
			err: `"Ints": stored as []float64, this build reads []int64 (integers and floats do not convert)`},
		{field: "FromPtr32", shape: "*uint64", write: ptr(nil),
			err: `"FromPtr32": stored as *uint64, this build reads int64 (signed and unsigned integers do not convert)`},
		{field: "Floats", shape: "map[int64]float64", write: floats(nil, false),
			err: `"Floats": stored as map[int64]float64, this build reads map[string]float64`},
		{field: "Floats", shape: "map[string]*float64", write: floats(nil, false),
			err: `"Floats": stored as map[string]*float64, this build reads map[string]float64`},
		{field: "Nested", shape: "map[string][]int64", write: floats(nil, false),
			err: `"Nested": stored as map[string][]int64, this build reads map[string][]float64 (integers and floats do not convert)`},
		{field: "Arr", shape: "[2]int32", write: func(*ldruntime.Encoder) {},
			err: `"Arr": stored as [2]int32, this build reads [2]float64 (integers and floats do not convert)`},
		// Other changes.
		{field: "Timeout", shape: "int64", write: varint(1),
			err: `"Timeout": stored as int64, this build reads time.Duration`},
		{field: "Raw", shape: "string", write: varint(0),
			err: `"Raw": stored as string, this build reads []byte`},
		{field: "Triple", shape: "[2]float64", write: func(*ldruntime.Encoder) {},
			err: `"Triple": stored as another type (signature `},
		{field: "StructToPtr", shape: "**struct", write: ptr(nil),
			err: `"StructToPtr": stored as **struct, this build reads *struct`},
		{field: "Named", shape: "*[]int64", write: ptr(nil),
			err: `"Named": stored as *[]int64, this build reads int64`},
	} {
		name := c.field + "/" + c.shape
		data := oneField(t, c.field, c.shape, c.write)
		var got EvolveNew
		err := ldruntime.Decode(data, &got, livedictDecodeEvolveNew)
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("%s (-want +got):\n%s", name, d)
			}
			continue
		}
		if !errors.Is(err, backend.ErrSchema) || errors.Is(err, backend.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrSchema alone", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, ": field "+c.err) {
			t.Errorf("%s: %q, want it to contain %q", name, msg, c.err)
		}
	}
}

// FuzzDecodeEvolve reads arbitrary bytes, seeded with records of the old
// schema, with the decoder of the new one, which takes older types: a value
// that encodes again to itself, or ErrCorrupt or ErrSchema, never a panic;
// into a used value, what it reads into a new one.
func FuzzDecodeEvolve(f *testing.F) {
	i64, f32 := int64(3), float32(2)
	for _, v := range []EvolveOld{
		{},
		{I8to16: 1, FromPtr: &i64, PtrF: &f32, PtrToStruct: &Profile{Name: "x"}, Ints: []int32{1, 2}},
		{Floats: map[string]float32{"a": 1}, KeyWide: map[int32]string{1: "b"}, Nested: map[string][]float32{"c": {3}}},
	} {
		data, err := ldruntime.Encode(nil, &v, livedictAppendEvolveOld)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	toPtr, raw := int64(9), make([]byte, 3, 64)
	used := EvolveNew{
		ToPtr: &toPtr, StructToPtr: &Profile{Name: "used", Age: 1}, Ints: make([]int64, 5, 40),
		Floats: map[string]float64{"stale": 1}, KeyWide: map[int64]string{9: "stale"},
		Nested: map[string][]float64{"stale": {1}}, Raw: raw,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v EvolveNew
		err := ldruntime.DecodeInto(data, &v, livedictDecodeEvolveNew)
		into := livedictCloneEvolveNew(used)
		intoErr := ldruntime.DecodeInto(data, &into, livedictDecodeEvolveNew)
		if (err == nil) != (intoErr == nil) || err != nil && err.Error() != intoErr.Error() {
			t.Fatalf("DecodeInto a new value: %v; into a used one: %v", err, intoErr)
		}
		if d := cmp.Diff(v, into, cmpOpts...); d != "" {
			t.Fatalf("decoded into a used value (-new +used):\n%s", d)
		}
		if err != nil {
			if !errors.Is(err, backend.ErrCorrupt) && !errors.Is(err, backend.ErrSchema) {
				t.Fatalf("Decode error %v wraps neither ErrCorrupt nor ErrSchema", err)
			}
			return
		}
		again, err := ldruntime.Encode(nil, &v, livedictAppendEvolveNew)
		if err != nil {
			t.Fatal(err)
		}
		var w EvolveNew
		if err := ldruntime.Decode(again, &w, livedictDecodeEvolveNew); err != nil {
			t.Fatalf("re-encoded EvolveNew does not decode: %v", err)
		}
		if d := cmp.Diff(v, w, cmpOpts...); d != "" {
			t.Fatalf("round trip of a decoded EvolveNew (-want +got):\n%s", d)
		}
	})
}
