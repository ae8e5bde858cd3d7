package runtime

import (
	"testing"
	"unsafe"
)

func TestMakeSlice(t *testing.T) {
	d := decoderOf(nil)
	old := make([]string, 3, 8)
	copy(old, []string{"a", "b", "c"})
	s := MakeSlice(d, old, 2)
	if len(s) != 2 || unsafe.SliceData(s) != unsafe.SliceData(old) || old[0] != "" || old[2] != "" {
		t.Fatalf("MakeSlice did not reuse and clear the array: %q of %q", s, old[:3])
	}
	// The same array again, or a part of it: new memory.
	if s2 := MakeSlice(d, old[4:6], 2); unsafe.SliceData(s2) == unsafe.SliceData(old[4:6]) {
		t.Fatal("MakeSlice reused memory it had already reused")
	}
	// Too small, nil, none: new memory; an empty result is not nil.
	if s := MakeSlice(d, make([]int, 1), 2); len(s) != 2 {
		t.Fatalf("got %v", s)
	}
	if s := MakeSlice[[]int](d, nil, 0); s == nil {
		t.Fatal("MakeSlice(nil, 0) is nil")
	}
	if s := MakeSlice(d, make([]int, 0), 0); s == nil {
		t.Fatal("MakeSlice(empty, 0) is nil")
	}
}

func TestMakeMapAndNewStruct(t *testing.T) {
	d := decoderOf(nil)
	m := map[string]int{"a": 1}
	if got := MakeMap(d, m, 1); len(m) != 0 || *(*unsafe.Pointer)(unsafe.Pointer(&got)) != *(*unsafe.Pointer)(unsafe.Pointer(&m)) {
		t.Fatal("MakeMap did not reuse and clear the map")
	}
	if got := MakeMap(d, m, 1); *(*unsafe.Pointer)(unsafe.Pointer(&got)) == *(*unsafe.Pointer)(unsafe.Pointer(&m)) {
		t.Fatal("MakeMap reused a map twice")
	}
	p := &point{X: 1}
	if NewStruct(d, p) != p {
		t.Fatal("NewStruct did not reuse")
	}
	if q := NewStruct(d, p); q == p || q.X != 0 {
		t.Fatal("NewStruct reused a struct twice")
	}
	if NewStruct[*point](d, nil) == nil {
		t.Fatal("NewStruct(nil) is nil")
	}
	// Past maxClaims, everything is new.
	for range maxClaims {
		NewStruct(d, &point{})
	}
	if p := (&point{}); NewStruct(d, p) == p {
		t.Fatal("NewStruct reused past maxClaims")
	}
}

// TestDecodeIntoClaimsTheValue: the memory of the value decoded into is
// not reused for one of its parts.
func TestDecodeIntoClaimsTheValue(t *testing.T) {
	type pair struct {
		A point
		B *point
	}
	var v pair
	v.B = &v.A
	err := DecodeInto([]byte{WireVersion, 0}, &v, func(d *Decoder, v *pair) {
		if NewStruct(d, v.B) == v.B {
			t.Error("NewStruct reused memory inside the value")
		}
		f := d.BeginStruct()
		for d.NextField(&f) {
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadBytesInto(t *testing.T) {
	var e Encoder
	e.AppendBytes([]byte("abc"))
	e.AppendBytes([]byte{})
	e.AppendBytes(nil)
	e.AppendBytes([]byte("defgh"))
	d := decoderOf(e.buf)
	old := make([]byte, 1, 4)
	if got := d.ReadBytesInto(old); string(got) != "abc" || unsafe.SliceData(got) != unsafe.SliceData(old) {
		t.Fatalf("got %q, reused %v", got, unsafe.SliceData(got) == unsafe.SliceData(old))
	}
	if got := d.ReadBytesInto(make([]byte, 0, 2)); got == nil || len(got) != 0 {
		t.Fatalf("empty: %#v", got)
	}
	if got := d.ReadBytesInto(make([]byte, 3)); got != nil {
		t.Fatalf("nil: %#v", got)
	}
	small := make([]byte, 2)
	if got := d.ReadBytesInto(small); string(got) != "defgh" || unsafe.SliceData(got) == unsafe.SliceData(small) || d.Err() != nil {
		t.Fatalf("got %q, %v", got, d.Err())
	}
}
